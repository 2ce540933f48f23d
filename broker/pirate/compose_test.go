package pirate_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/internal/proctest"
)

// TestCompose runs a map stage feeding a reduce stage, each behind its own
// load balancer, every broker and worker a process of its own over tcp on
// loopback; the test process is the client and sink. composenode's doc
// says what each node does.
func TestCompose(t *testing.T) {
	bin := composenodeBinary(t)
	// A -race node would sleep 1 s on its way out; the nodes inherit this.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	t.Run("MapReduce", func(t *testing.T) { testComposeMapReduce(t, bin, -1) })
	t.Run("MapWorkerKilled", func(t *testing.T) { testComposeMapReduce(t, bin, 5) })
}

// composenodeBinary builds internal/composenode into the test's temp dir.
func composenodeBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "composenode")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"build", "-o", bin}
	if raceEnabled {
		// The nodes run Stage and LoadBalancer: check them for races too
		// (a race fails the node's exit status, see stopNode).
		args = append(args, "-race")
	}
	args = append(args, "github.com/zmqflow/zmqflow/broker/pirate/internal/composenode")
	out, err := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build composenode: %v\n%s", err, out)
	}
	return bin
}

// startNode starts a composenode process and waits for its STARTED.
func startNode(t *testing.T, ctx context.Context, bin string, args ...string) *proctest.Proc {
	t.Helper()
	p := proctest.Start(t, ctx, bin, args...)
	if l := p.Line(t, ctx); l != "STARTED" {
		t.Fatalf("composenode %v said %q", args, l)
	}
	return p
}

// startBrokerNode starts a load balancer process that reports when the
// given number of workers have registered, and returns its endpoints.
func startBrokerNode(t *testing.T, ctx context.Context, bin string, workers int) (p *proctest.Proc, front, back string) {
	t.Helper()
	p = startNode(t, ctx, bin, "broker", strconv.Itoa(workers))
	l := p.Line(t, ctx)
	if _, err := fmt.Sscanf(l, "ENDPOINTS %s %s", &front, &back); err != nil {
		t.Fatalf("broker process said %q: %v", l, err)
	}
	return p, front, back
}

func waitLine(t *testing.T, ctx context.Context, p *proctest.Proc, want string) {
	t.Helper()
	if l := p.Line(t, ctx); l != want {
		t.Fatalf("process said %q, want %q", l, want)
	}
}

// stopNode stops a process with SIGINT and checks that it exits cleanly,
// after whatever it prints on its way out.
func stopNode(t *testing.T, ctx context.Context, p *proctest.Proc) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, ctx, p)
}

func waitExit(t *testing.T, ctx context.Context, p *proctest.Proc) {
	t.Helper()
	for {
		select {
		case l, ok := <-p.Lines():
			if ok {
				t.Errorf("process %v said %q on its way out", p.Cmd.Args[1:], l)
				continue
			}
		case <-ctx.Done():
			t.Fatalf("process %v did not exit: %v", p.Cmd.Args[1:], ctx.Err())
		}
		break
	}
	if err := p.Cmd.Wait(); err != nil {
		t.Errorf("process %v: %v", p.Cmd.Args[1:], err)
	}
}

// nodeStats stops a broker process with SIGINT and returns the stats it
// prints on its way out.
func nodeStats(t *testing.T, ctx context.Context, p *proctest.Proc) pirate.Stats {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	l := p.Line(t, ctx)
	var s pirate.Stats
	if _, err := fmt.Sscanf(l, "STATS requests=%d replies=%d requeued=%d dead=%d abandoned=%d duplicates=%d",
		&s.Requests, &s.Replies, &s.Requeued, &s.Dead, &s.Abandoned, &s.Duplicates); err != nil {
		t.Fatalf("broker process said %q: %v", l, err)
	}
	waitExit(t, ctx, p)
	return s
}

// testComposeMapReduce sends n items ID KEY X through map (square) and
// reduce (per-key totals) and checks each reply and the totals exactly.
// With hangAfter >= 0 the first map worker hangs on the item after
// hangAfter items and is killed: the map broker gives that item to the
// other map worker, and still every item is answered once and counted once.
func testComposeMapReduce(t *testing.T, bin string, hangAfter int) {
	ctx := testCtx(t)
	mapB, mapFront, mapBack := startBrokerNode(t, ctx, bin, 2)
	redB, redFront, redBack := startBrokerNode(t, ctx, bin, 1)
	reducer := startNode(t, ctx, bin, "reduce", redBack)
	args := []string{"map", mapBack, redFront}
	if hangAfter >= 0 {
		args = append(args, strconv.Itoa(hangAfter))
	}
	doomed := startNode(t, ctx, bin, args...)
	survivor := startNode(t, ctx, bin, "map", mapBack, redFront)
	waitLine(t, ctx, mapB, "WORKERS 2")
	waitLine(t, ctx, redB, "WORKERS 1")

	// The client waits as long as the test: a lost item shows as a
	// failure, not as a resend.
	sink := newClient(t, mapFront, pirate.WithTimeout(wait), pirate.WithRetries(0))
	const n, keys = 200, 4
	replies := make([][][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = sink.Request(ctx,
				[]byte(fmt.Sprint("item-", i)), []byte(fmt.Sprint("k", i%keys)), []byte(strconv.Itoa(i)))
		}()
	}
	if hangAfter >= 0 {
		if l := doomed.Line(t, ctx); !strings.HasPrefix(l, "BUSY item-") {
			t.Fatalf("map worker said %q", l)
		}
		if err := doomed.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()

	var want [keys]int64
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("item %d: %v", i, errs[i])
		}
		r := replies[i]
		if len(r) != 4 || string(r[0]) != fmt.Sprint("item-", i) || string(r[1]) != fmt.Sprint("k", i%keys) ||
			string(r[2]) != strconv.Itoa(i*i) {
			t.Fatalf("item %d: reply %q, want [item-%d k%d %d TOTAL]", i, r, i, i%keys, i*i)
		}
		want[i%keys] += int64(i * i)
	}
	// The composed result: the reducer's totals, asked of the reduce
	// broker directly.
	red := newClient(t, redFront, pirate.WithTimeout(wait), pirate.WithRetries(0))
	for k := range keys {
		r, err := red.Request(ctx, []byte("total"), []byte(fmt.Sprint("k", k)))
		if err != nil {
			t.Fatal(err)
		}
		if len(r) != 2 || string(r[0]) != strconv.FormatInt(want[k], 10) || string(r[1]) != strconv.Itoa(n/keys) {
			t.Fatalf("key k%d: total and count %q, want [%d %d]", k, r, want[k], n/keys)
		}
	}

	if cs := sink.Stats(); cs.Replies != n || cs.LateReplies != 0 || cs.Resends != 0 {
		t.Fatalf("sink stats %+v", cs)
	}
	var requeued, dead uint64
	if hangAfter >= 0 {
		requeued, dead = 1, 1
	}
	if s := nodeStats(t, ctx, mapB); s.Requests != n || s.Replies != n || s.Requeued != requeued ||
		s.Dead != dead || s.Abandoned != 0 || s.Duplicates != 0 {
		t.Fatalf("map broker stats %+v, want %d requests and replies, %d requeued, %d dead", s, n, requeued, dead)
	}
	// The killed map worker hung before it sent its item downstream, so
	// the reduce stage saw each item once, plus the totals.
	if s := nodeStats(t, ctx, redB); s.Requests != n+keys || s.Replies != n+keys || s.Requeued != 0 || s.Dead != 0 {
		t.Fatalf("reduce broker stats %+v, want %d requests and replies", s, n+keys)
	}
	// PPP has no goodbye: workers stopped before their broker would count
	// as dead, so they go after it.
	stopNode(t, ctx, survivor)
	if hangAfter < 0 {
		stopNode(t, ctx, doomed)
	}
	stopNode(t, ctx, reducer)
}
