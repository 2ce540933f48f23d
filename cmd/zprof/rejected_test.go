package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// lockedBuffer is a strings.Builder for one writer and one reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// connectPush is a PUSH connected to ep, closed at the test's end.
func connectPush(t *testing.T, ep string) *socket.Socket {
	t.Helper()
	push, err := socket.New(socket.Push, socket.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { push.Close() })
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return push
}

// A batch over MaxBatchBytes never reaches the collector's Recv: its PULL
// ends the sender's connection on the frame header. The collector still
// counts it as rejected and says so on stderr, as it does for a batch
// that does not decode, and goes on taking in batches.
func TestCollectReportsOversizeBatch(t *testing.T) {
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	z := startCollect(ctx, t)

	push := connectPush(t, z.ep)
	huge := make([]byte, telemetry.MaxBatchBytes+1)
	if err := push.Send(ctx, socket.Msg{[]byte(telemetry.Version), huge}); err != nil {
		t.Fatal(err)
	}
	z.awaitStderr(ctx, t, "batch rejected (1 so far)")
	if s := z.stderr.String(); !strings.Contains(s, "larger than the maximum message size") {
		t.Errorf("stderr %q does not say why", s)
	}
	cancel()
	rest := z.end(t)
	if len(rest) == 0 || !strings.HasSuffix(rest[len(rest)-1], ", 1 rejected") {
		t.Errorf("last lines %q, want 1 rejected", rest)
	}
}

// A program beyond the most the collector takes in at once is refused, and
// the collector says so on stderr; the programs already in go on.
func TestCollectReportsRefusedProgram(t *testing.T) {
	defer func(n int) { maxPrograms = n }(maxPrograms)
	maxPrograms = 1
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	z := startCollect(ctx, t)
	first := connectPush(t, z.ep)
	// A batch that does not decode, rejected: the first program is in.
	if err := first.Send(ctx, socket.Msg{[]byte("not a batch")}); err != nil {
		t.Fatal(err)
	}
	z.awaitStderr(ctx, t, "batch rejected (1 so far)")
	connectPush(t, z.ep)
	z.awaitStderr(ctx, t, "refused (1 so far): 1 programs connected already")
	if err := first.Send(ctx, socket.Msg{[]byte("not a batch either")}); err != nil {
		t.Fatal(err)
	}
	z.awaitStderr(ctx, t, "batch rejected (2 so far)")
	cancel()
	z.end(t)
}

// collectRun is a zprof collect running in the test's process, on a
// loopback port and a database of its own, until the ctx it was started
// with ends.
type collectRun struct {
	ep     string // where it collects
	stderr *lockedBuffer
	lines  *bufio.Scanner // its stdout, after the line naming ep
	code   chan int
}

func startCollect(ctx context.Context, t *testing.T) *collectRun {
	t.Helper()
	out, outW := io.Pipe()
	z := &collectRun{stderr: &lockedBuffer{}, lines: bufio.NewScanner(out), code: make(chan int, 1)}
	db := filepath.Join(t.TempDir(), "z.db")
	go func() {
		z.code <- run(ctx, []string{"collect", "-bind", "tcp://127.0.0.1:0", "-db", db}, outW, z.stderr)
		outW.Close()
	}()
	if !z.lines.Scan() {
		t.Fatal("zprof collect said nothing")
	}
	m := regexp.MustCompile(`collecting on (\S+),`).FindStringSubmatch(z.lines.Text())
	if m == nil {
		t.Fatalf("zprof collect said %q", z.lines.Text())
	}
	z.ep = m[1]
	return z
}

// awaitStderr waits until the collector has said want on stderr, within
// ctx.
func (z *collectRun) awaitStderr(ctx context.Context, t *testing.T, want string) {
	t.Helper()
	for !strings.Contains(z.stderr.String(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("no %q on stderr: %q", want, z.stderr.String())
		case <-time.After(10 * time.Millisecond): // stderr has no event to await
		}
	}
}

// end returns the lines the collector printed after its first, once its
// ctx has ended, and checks it exited well.
func (z *collectRun) end(t *testing.T) []string {
	t.Helper()
	var rest []string
	for z.lines.Scan() {
		rest = append(rest, z.lines.Text())
	}
	if c := <-z.code; c != exitOK {
		t.Errorf("exit %d", c)
	}
	return rest
}

// Batches are rejected by two goroutines at once: serve, for a batch that
// does not decode, and the events' reader, for one over MaxBatchBytes.
// Each report on stderr names the count its own rejection made, so each
// count that is reported (the first 8, then the powers of two) is
// reported once, none skipped, none twice. Here a goroutine in the
// events' reader's place rejects as soon as it sees serve's count move,
// racing serve for the count serve reports. A count read after the
// rejection (Stats) lost that race within the 400 rounds in 7 runs of 8
// here: the rounds are many for the test to catch it.
func TestCollectReportsEachCountOnce(t *testing.T) {
	ctx := testContext(t)
	const rounds, each = 400, 16 // each round: 32 rejected, 1..8, 16 and 32 reported
	want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 16, 32}
	re := regexp.MustCompile(`batch rejected \((\d+) so far\)`)
	for round := range rounds {
		stderr := rejectRound(ctx, t, fmt.Sprintf("inproc://%s-%d", t.Name(), round), each)
		var got []uint64
		for _, m := range re.FindAllStringSubmatch(stderr, -1) {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			got = append(got, n)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: counts reported %v, want %v each once", round, got, want)
		}
	}
}

// rejectRound has a collector's serve reject each batches that do not
// decode, sent over ep, while a goroutine rejects one for each of them
// (Reject and report, as the events' reader does) as soon as serve's
// count moves; it returns stderr.
func rejectRound(ctx context.Context, t *testing.T, ep string, each uint64) string {
	t.Helper()
	pull, err := socket.New(socket.Pull, socket.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pull.Close()
	if _, err := pull.Bind(ep); err != nil {
		t.Fatal(err)
	}
	push, err := socket.New(socket.Push, socket.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close() // each round's: not kept until the test ends
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}

	var stderr lockedBuffer
	z := &collector{c: collect.NewCollector(nil), pull: pull, stderr: &stderr}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- z.serve(sctx) }()
	events := make(chan struct{})
	go func() {
		defer close(events)
		for n, spins := uint64(0), 0; n < each && sctx.Err() == nil; {
			if _, r, _ := z.c.Stats(); r-n <= n { // serve's count is not ahead of ours
				if spins++; spins%64 == 0 {
					runtime.Gosched()
				}
				continue
			}
			z.report(z.c.Reject(), errors.New("from a peer: too large"))
			n++
		}
	}()
	defer func() { stop(); <-events; <-served }() // also on a failure

	for range each {
		if err := push.Send(ctx, socket.Msg{[]byte("not a version")}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		_, r, _ := z.c.Stats()
		if r == 2*each {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d rejected, want %d", r, 2*each)
		case <-time.After(time.Millisecond): // the count has no event to await
		}
	}
	<-events
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	served <- nil // for the deferred wait
	return stderr.String()
}
