package pirate_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/internal/proctest"
)

var (
	buildOnce sync.Once
	workerBin string
	buildErr  error
	buildDir  string
)

// lbworkerBinary builds internal/lbworker once per test run.
func lbworkerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "lbworker")
		if buildErr != nil {
			return
		}
		workerBin = filepath.Join(buildDir, "lbworker")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", workerBin,
			"github.com/zmqflow/zmqflow/broker/pirate/internal/lbworker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build lbworker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return workerBin
}

// A worker process killed mid-request: its request completes on another
// worker, and every request gets exactly one reply. The broker finds the
// killed worker by its connection's end (its next heartbeat to it fails),
// not by its silence: steadyBeat buries no live worker of a stalled test.
func TestWorkerProcessKilledMidRequest(t *testing.T) {
	bin := lbworkerBinary(t)
	ctx := testCtx(t)
	b := newLB(t, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", steadyBeat)
	p := proctest.Start(t, ctx, bin, b.Backend())
	if l := p.Line(t, ctx); l != "STARTED" {
		t.Fatalf("worker process said %q", l)
	}
	waitLB(t, ctx, b, "the process worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	for range 2 {
		newWorker(t, b.Backend(), echo("go"), steadyBeat, fastReconnect)
	}
	waitLB(t, ctx, b, "3 workers", func(s pirate.Stats) bool { return s.Workers == 3 })

	// No resends: a lost request shows as a failure.
	c := oneShot(t, b.Frontend())
	const n = 20
	replies := make([][][]byte, n+1)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	do := func(i int, body string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = c.Request(ctx, []byte(body))
		}()
	}
	// The process registered first, so it is least recently used: the
	// first request goes to it.
	do(0, "hang-0")
	if l := p.Line(t, ctx); l != "BUSY hang-0" {
		t.Fatalf("worker process said %q", l)
	}
	for i := 1; i <= n; i++ {
		do(i, fmt.Sprint("job-", i))
	}
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := 0; i <= n; i++ {
		want := fmt.Sprint("job-", i)
		if i == 0 {
			want = "hang-0"
		}
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if len(replies[i]) != 2 || string(replies[i][0]) != "go" || string(replies[i][1]) != want {
			t.Fatalf("request %d: reply %q, want [go %s]", i, replies[i], want)
		}
	}
	// The load balancer publishes its stats after it sends a reply on: a
	// Client may have the last reply first.
	waitLB(t, ctx, b, "the dead process and every reply", func(s pirate.Stats) bool { return s.Workers == 2 && s.Replies == n+1 })
	bs, cs := b.Stats(), c.Stats()
	if bs.Requeued != 1 || bs.Dead != 1 || bs.Replies != n+1 || bs.LateReplies != 0 {
		t.Fatalf("broker stats %+v", bs)
	}
	if cs.Replies != n+1 || cs.LateReplies != 0 || cs.Resends != 0 {
		t.Fatalf("client stats %+v", cs)
	}
}
