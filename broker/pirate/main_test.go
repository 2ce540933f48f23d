package pirate_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// TestMain checks that no goroutine outlives the tests, and removes the
// worker binary the process tests build once for the whole run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// wait bounds every wait in the tests: long enough for a loaded CI machine
// (and for a silent peer's burial, steadyBeat's 10 s), short enough that a
// hang fails the test instead of the run.
const wait = 60 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// Heartbeats in the tests. A peer is buried after liveness intervals of
// silence, and a test process under -race on a busy machine can stall for a
// second or more: with 50 ms x 3 a 150 ms stall buried live workers and
// brokers. So a peer that must stay alive gets 10 s of silence (steadyBeat),
// ten times such a stall; a peer whose connection is gone is still found at
// once, by the event: a load balancer sends its heartbeats every 50 ms with
// mandatory routing, and the first one to a vanished worker fails. Tests
// that wait for a silent (not disconnected) peer to be buried wait out
// those 10 s, and run in parallel with each other.
//
// quickBeat buries a silent peer in 150 ms. It is only for tests in which
// burying a live peer by mistake changes nothing they check (a worker that
// must find a restarted broker silent, a slot that must give up a master
// that is not there yet).
var (
	steadyBeat    = pirate.WithHeartbeat(beatInterval, steadyLiveness)
	quickBeat     = pirate.WithHeartbeat(beatInterval, 3)
	fastReconnect = pirate.WithReconnect(50*time.Millisecond, 400*time.Millisecond)
)

const (
	beatInterval   = 50 * time.Millisecond
	steadyLiveness = 200
	// steadyExpiry is how long steadyBeat lets a peer stay silent.
	steadyExpiry = beatInterval * steadyLiveness
	// resendAfter is the timeout of a client that a test makes resend: a
	// reply due at once comes well within it, even with the test stalled.
	resendAfter = 3 * time.Second
)

var seq atomic.Uint64

func inproc() string { return fmt.Sprintf("inproc://pirate-test-%d", seq.Add(1)) }

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func newLB(t testing.TB, front, back string, opts ...pirate.Option) *pirate.LoadBalancer {
	t.Helper()
	b := must[*pirate.LoadBalancer](t)(pirate.NewLoadBalancer(front, back, opts...))
	t.Cleanup(func() { b.Close() })
	return b
}

func newWorker(t testing.TB, ep string, h pirate.Handler, opts ...pirate.Option) *pirate.Worker {
	t.Helper()
	w := must[*pirate.Worker](t)(pirate.NewWorker(ep, h, opts...))
	t.Cleanup(func() { w.Close() })
	return w
}

func newClient(t testing.TB, ep string, opts ...pirate.Option) *pirate.Client {
	t.Helper()
	c := must[*pirate.Client](t)(pirate.NewClient(ep, opts...))
	t.Cleanup(func() { c.Close() })
	return c
}

func newSocket(t testing.TB, typ socket.Type, opts ...socket.Option) *socket.Socket {
	t.Helper()
	s := must[*socket.Socket](t)(socket.New(typ, append([]socket.Option{socket.WithLinger(0)}, opts...)...))
	t.Cleanup(func() { s.Close() })
	return s
}

// oneShot is a client that neither times out nor resends within the test,
// so that a lost request fails the test instead of being retried.
func oneShot(t testing.TB, ep string) *pirate.Client {
	return newClient(t, ep, pirate.WithTimeout(wait), pirate.WithRetries(0))
}

// waitLB waits until cond holds for b's stats, failing the test otherwise.
func waitLB(t testing.TB, ctx context.Context, b *pirate.LoadBalancer, what string, cond func(pirate.Stats) bool) {
	t.Helper()
	if err := b.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v; stats %+v", what, err, b.Stats())
	}
}

// echo is a handler that replies with the request prefixed by tag.
func echo(tag string) pirate.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return append([][]byte{[]byte(tag)}, req...), nil
	}
}

// rawWorker is a PPP worker by hand: a DEALER that sends READY and reports
// the requests it gets, without heartbeats.
type rawWorker struct {
	t    testing.TB
	sock *socket.Socket
}

func newRawWorker(t testing.TB, ctx context.Context, ep string) *rawWorker {
	t.Helper()
	s := newSocket(t, socket.Dealer)
	if err := s.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, socket.Msg{{1}}); err != nil {
		t.Fatal(err)
	}
	return &rawWorker{t, s}
}

// request returns the next request, skipping heartbeats.
func (w *rawWorker) request(ctx context.Context) socket.Msg {
	w.t.Helper()
	for {
		m, err := w.sock.Recv(ctx)
		if err != nil {
			w.t.Fatalf("raw worker: %v", err)
		}
		if len(m) == 1 && m[0][0] == 2 {
			continue
		}
		return m
	}
}

func (w *rawWorker) send(ctx context.Context, m socket.Msg) {
	w.t.Helper()
	if err := w.sock.Send(ctx, m); err != nil {
		w.t.Fatal(err)
	}
}
