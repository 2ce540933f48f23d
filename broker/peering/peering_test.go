package peering_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/peering"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// newBroker starts a broker on free tcp ports, closed at the end of the
// test.
func newBroker(t testing.TB, name string, opts ...peering.Option) *peering.Broker {
	t.Helper()
	const any = "tcp://127.0.0.1:*"
	b := must[*peering.Broker](t)(peering.NewBroker(name, any, any, any, any, append([]peering.Option{steadyBeat}, opts...)...))
	t.Cleanup(func() { b.Close() })
	return b
}

// peer makes a and b peers of each other.
func peer(t testing.TB, a, b *peering.Broker) {
	t.Helper()
	if err := a.Peer(b.Cloud(), b.State()); err != nil {
		t.Fatal(err)
	}
	if err := b.Peer(a.Cloud(), a.State()); err != nil {
		t.Fatal(err)
	}
}

func waitBroker(t testing.TB, ctx context.Context, b *peering.Broker, what string, cond func(peering.Stats) bool) {
	t.Helper()
	if err := b.Wait(ctx, cond); err != nil {
		t.Fatalf("%s: waiting for %s: %v; stats %+v", b.Name(), what, err, b.Stats())
	}
}

// counting is a handler that replies with tag and the request, and counts
// the requests it gets.
func counting(tag string, n *atomic.Int64) pirate.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		n.Add(1)
		return append([][]byte{[]byte(tag)}, req...), nil
	}
}

// oneShot is a client that neither times out nor resends within the test,
// so that a lost request fails the test instead of being retried.
func oneShot(t testing.TB, ep string) *pirate.Client {
	t.Helper()
	c := must[*pirate.Client](t)(pirate.NewClient(ep, pirate.WithTimeout(wait), pirate.WithRetries(0)))
	t.Cleanup(func() { c.Close() })
	return c
}

// The local workers' heartbeats and reconnects: steadyBeat's and
// fastReconnect's.
var (
	workerBeat      = pirate.WithHeartbeat(beatInterval, steadyLiveness)
	workerReconnect = pirate.WithReconnect(50*time.Millisecond, 400*time.Millisecond)
)

// newWorker starts a local worker, closed at the end of the test.
func newWorker(t testing.TB, ep string, h pirate.Handler) *pirate.Worker {
	t.Helper()
	w := must[*pirate.Worker](t)(pirate.NewWorker(ep, h, workerBeat, workerReconnect))
	t.Cleanup(func() { w.Close() })
	return w
}

// requestAll sends n requests from c at once, each body naming who and its
// number, and checks that each reply is its own request's, tagged tag.
func requestAll(t *testing.T, ctx context.Context, c *pirate.Client, who, tag string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("%s-%d", who, i)
			rep, err := c.Request(ctx, []byte(body))
			if err != nil {
				errs <- fmt.Errorf("%s: %w", body, err)
				return
			}
			if len(rep) != 2 || string(rep[0]) != tag || string(rep[1]) != body {
				errs <- fmt.Errorf("%s: reply %q, want [%s %s]", body, rep, tag, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNoLocalWorkers(t *testing.T) {
	ctx := testCtx(t)
	a, b := newBroker(t, "A"), newBroker(t, "B")
	peer(t, a, b)
	var served atomic.Int64
	newWorker(t, b.Backend(), counting("B", &served))
	newWorker(t, b.Backend(), counting("B", &served))
	waitBroker(t, ctx, a, "B's two idle workers", func(s peering.Stats) bool { return s.Peers == 1 && s.CloudIdle == 2 })

	const n = 40
	c := oneShot(t, a.Frontend())
	requestAll(t, ctx, c, "a", "B", n)

	waitBroker(t, ctx, a, "the replies counted", func(s peering.Stats) bool { return s.Replies == n })
	waitBroker(t, ctx, b, "the peer replies counted", func(s peering.Stats) bool { return s.PeerReplies == n })
	if got := served.Load(); got != n {
		t.Errorf("B's workers served %d requests, want %d", got, n)
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Requests != n || sa.Replies != n || sa.Forwarded != n || sa.Cloud != 0 || sa.Pending != 0 {
		t.Errorf("A: %+v", sa)
	}
	if sb.PeerRequests != n || sb.PeerReplies != n || sb.Requests != 0 || sb.Forwarded != 0 {
		t.Errorf("B: %+v", sb)
	}
	if sa.LateReplies+sb.LateReplies+sa.Duplicates+sb.Duplicates != 0 {
		t.Errorf("late replies or duplicates: A %+v, B %+v", sa, sb)
	}
	if err := a.Close(); err != nil {
		t.Errorf("close A: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second close A: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("close B: %v", err)
	}
}

func TestOverflow(t *testing.T) {
	ctx := testCtx(t)
	a, b := newBroker(t, "A"), newBroker(t, "B")
	peer(t, a, b)

	// A's one worker holds its first request until released.
	started, release := make(chan struct{}, 1), make(chan struct{})
	var servedA, servedB atomic.Int64
	newWorker(t, a.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
		servedA.Add(1)
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return append([][]byte{[]byte("A")}, req...), nil
	})
	newWorker(t, b.Backend(), counting("B", &servedB))
	newWorker(t, b.Backend(), counting("B", &servedB))
	waitBroker(t, ctx, a, "A's idle worker and B's two", func(s peering.Stats) bool {
		return s.Workers == 1 && s.LocalIdle == 1 && s.Peers == 1 && s.CloudIdle == 2
	})

	slow := oneShot(t, a.Frontend())
	slowDone := make(chan error, 1)
	go func() {
		rep, err := slow.Request(ctx, []byte("slow"))
		if err == nil && (len(rep) != 2 || string(rep[0]) != "A" || string(rep[1]) != "slow") {
			err = fmt.Errorf("reply %q, want [A slow]", rep)
		}
		slowDone <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatalf("A's worker got no request; A %+v", a.Stats())
	}

	// While A's worker is busy, everything overflows to B, and each client
	// gets its own replies.
	const n = 20
	c1, c2 := oneShot(t, a.Frontend()), oneShot(t, a.Frontend())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); requestAll(t, ctx, c1, "c1", "B", n) }()
	go func() { defer wg.Done(); requestAll(t, ctx, c2, "c2", "B", n) }()
	wg.Wait()

	close(release)
	if err := <-slowDone; err != nil {
		t.Fatalf("slow request: %v", err)
	}
	if a, b := servedA.Load(), servedB.Load(); a != 1 || b != 2*n {
		t.Errorf("served by A %d, by B %d; want 1 and %d", a, b, 2*n)
	}
	waitBroker(t, ctx, a, "the replies counted", func(s peering.Stats) bool { return s.Replies == 2*n+1 })
	sa := a.Stats()
	if sa.Requests != 2*n+1 || sa.Replies != 2*n+1 || sa.Forwarded != 2*n || sa.LateReplies != 0 || sa.Duplicates != 0 {
		t.Errorf("A: %+v", sa)
	}
}

// TestPreferLocal checks that with idle local workers nothing goes to
// the peer.
func TestPreferLocal(t *testing.T) {
	ctx := testCtx(t)
	a, b := newBroker(t, "A"), newBroker(t, "B")
	peer(t, a, b)
	var servedA, servedB atomic.Int64
	for range 4 {
		newWorker(t, a.Backend(), counting("A", &servedA))
	}
	newWorker(t, b.Backend(), counting("B", &servedB))
	waitBroker(t, ctx, a, "idle workers here and there", func(s peering.Stats) bool {
		return s.LocalIdle == 4 && s.CloudIdle == 1
	})
	c := oneShot(t, a.Frontend())
	for i := range 20 {
		rep, err := c.Request(ctx, []byte(fmt.Sprint(i)))
		if err != nil || string(rep[0]) != "A" {
			t.Fatalf("request %d: %q, %v; A %+v", i, rep, err, a.Stats())
		}
	}
	if s := a.Stats(); s.Forwarded != 0 || servedB.Load() != 0 {
		t.Errorf("forwarded %d with idle local workers; A %+v", s.Forwarded, s)
	}
}

// TestPeerRequestsStayLocal checks that a request from a peer goes to
// local workers only, never on to another peer: B has no worker and its
// peer C an idle one, so a request from a peer (here a DEALER with the
// identity X at B's cloud endpoint) waits at B until B has a worker.
func TestPeerRequestsStayLocal(t *testing.T) {
	ctx := testCtx(t)
	b, c := newBroker(t, "B"), newBroker(t, "C")
	peer(t, b, c)
	var servedB, servedC atomic.Int64
	newWorker(t, c.Backend(), counting("C", &servedC))
	waitBroker(t, ctx, b, "C's worker", func(s peering.Stats) bool { return s.CloudIdle == 1 })

	x := newSocket(t, socket.Dealer, socket.WithIdentity([]byte("X")))
	if err := x.Connect(b.Cloud()); err != nil {
		t.Fatal(err)
	}
	if err := x.Send(ctx, socket.NewMsgString("client", "", "req")); err != nil {
		t.Fatal(err)
	}
	waitBroker(t, ctx, b, "the peer's request", func(s peering.Stats) bool { return s.PeerRequests == 1 && s.Pending == 1 })
	if s := b.Stats(); s.Forwarded != 0 {
		t.Fatalf("B passed a peer's request on: %+v", s)
	}
	newWorker(t, b.Backend(), counting("B", &servedB))
	rep, err := x.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rep.Strings(), "|"); got != "client||B|req" {
		t.Errorf("reply %q, want client||B|req", got)
	}
	if servedC.Load() != 0 || servedB.Load() != 1 {
		t.Errorf("served by B %d, by C %d", servedB.Load(), servedC.Load())
	}
	// The loop publishes its counters after it has sent the reply on.
	waitBroker(t, ctx, b, "the peer reply counted", func(s peering.Stats) bool { return s.PeerReplies == 1 })
	if s := b.Stats(); s.Forwarded != 0 {
		t.Errorf("B: %+v", s)
	}
}

// TestPeerGone checks that requests held by a peer that goes away are
// served elsewhere. A peer is gone when its announcements stop for the
// heartbeat's liveness: the test waits that out.
func TestPeerGone(t *testing.T) {
	t.Parallel() // it waits out steadyExpiry
	ctx := testCtx(t)
	a, b := newBroker(t, "A"), newBroker(t, "B")
	peer(t, a, b)
	started := make(chan struct{}, 1)
	newWorker(t, b.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
		started <- struct{}{}
		<-ctx.Done() // never answers: B goes first
		return nil, ctx.Err()
	})
	waitBroker(t, ctx, a, "B's worker", func(s peering.Stats) bool { return s.CloudIdle == 1 })

	cl := oneShot(t, a.Frontend())
	done := make(chan error, 1)
	go func() {
		rep, err := cl.Request(ctx, []byte("x"))
		if err == nil && (len(rep) != 2 || string(rep[0]) != "A") {
			err = fmt.Errorf("reply %q, want from A", rep)
		}
		done <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("B's worker got no request")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitBroker(t, ctx, a, "B gone and the request back", func(s peering.Stats) bool {
		return s.Peers == 0 && s.Requeued == 1 && s.Pending == 1
	})
	var served atomic.Int64
	newWorker(t, a.Backend(), counting("A", &served))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestBadName(t *testing.T) {
	for _, name := range []string{"", "\x00x", strings.Repeat("x", 256)} {
		b, err := peering.NewBroker(name, inproc(), inproc(), inproc(), inproc())
		if err == nil {
			b.Close()
		}
		if !errors.Is(err, peering.ErrBadOption) {
			t.Errorf("name %q: %v, want ErrBadOption", name, err)
		}
	}
	// A start that cannot bind fails, and closes what it opened (goleak).
	ep := "tcp://127.0.0.1:*"
	b := newBroker(t, "ok")
	if _, err := peering.NewBroker("dup", b.Frontend(), ep, ep, ep); err == nil {
		t.Error("second bind of a frontend accepted")
	}
}

// A Broker's local workers are behind a pirate.LoadBalancer, so the
// guide's ppworker (package pirate's testdata) serves it too.
func TestInteropPythonWorker(t *testing.T) {
	ctx := testCtx(t)
	f := newBroker(t, "A")
	w := pyzmq.Start(t, "../pirate/testdata/ppworker.py", append([]string{f.Backend()}, pyArgs()...)...)
	w.LineWith(t, ctx, "STARTED")
	waitBroker(t, ctx, f, "the python worker", func(s peering.Stats) bool { return s.Workers == 1 })
	c := oneShot(t, f.Frontend())
	for i := range 5 {
		want := fmt.Sprint("req-", i)
		if r, err := c.Request(ctx, []byte(want)); err != nil || len(r) != 1 || string(r[0]) != want {
			t.Fatalf("Request %d = %q, %v", i, r, err)
		}
	}
	waitBroker(t, ctx, f, "the replies counted", func(s peering.Stats) bool { return s.Replies == 5 })
	if s := f.Stats(); s.Requests != 5 || s.LateReplies != 0 || s.Malformed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestPeerAfterClose: Peer on a closed broker says ErrClosed, as the
// package's other calls after Close do, not the socket's own error.
func TestPeerAfterClose(t *testing.T) {
	a := newBroker(t, "A")
	b := newBroker(t, "B")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	err := a.Peer(b.Cloud(), b.State())
	if !errors.Is(err, peering.ErrClosed) {
		t.Fatalf("Peer after Close: %v, want ErrClosed", err)
	}
}
