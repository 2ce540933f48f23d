package majordomo_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/socket"
)

// TestMain checks that no goroutine outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
// silence, and a test process under -race on a busy machine can stall for
// a second or more: with 50 ms x 3 a 150 ms stall buried live workers and
// brokers. So a peer that must stay alive gets 10 s of silence
// (steadyBeat), ten times such a stall; a worker whose broker goes away is
// told so at once, by the broker's DISCONNECT. Tests that wait for a
// silent (not disconnected) peer to be buried wait out those 10 s, and run
// in parallel with each other.
var (
	steadyBeat    = majordomo.WithHeartbeat(beatInterval, steadyLiveness)
	fastReconnect = majordomo.WithReconnect(50*time.Millisecond, 400*time.Millisecond)
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

// Heartbeats of the interop tests, on both sides: every 100 ms, and a peer
// is buried after 10 s of silence (see steadyBeat: a Python or Go peer of
// a busy machine may stall for a second or more).
const (
	pyInterval = 100 * time.Millisecond
	pyLiveness = 100
)

var pyBeat = majordomo.WithHeartbeat(pyInterval, pyLiveness)

func pyArgs() []string {
	return []string{fmt.Sprint(pyInterval.Milliseconds()), fmt.Sprint(pyLiveness)}
}

var seq atomic.Uint64

func inproc() string { return fmt.Sprintf("inproc://majordomo-test-%d", seq.Add(1)) }

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func newSocket(t testing.TB, typ socket.Type, opts ...socket.Option) *socket.Socket {
	t.Helper()
	s := must[*socket.Socket](t)(socket.New(typ, append([]socket.Option{socket.WithLinger(0)}, opts...)...))
	t.Cleanup(func() { s.Close() })
	return s
}

// echo is a handler that replies with the request prefixed by tag.
func echo(tag string) majordomo.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return append([][]byte{[]byte(tag)}, req...), nil
	}
}

func newBroker(t testing.TB, ep string, opts ...majordomo.Option) *majordomo.Broker {
	t.Helper()
	b := must[*majordomo.Broker](t)(majordomo.NewBroker(ep, opts...))
	t.Cleanup(func() { b.Close() })
	return b
}

func newWorker(t testing.TB, ep, service string, h majordomo.Handler, opts ...majordomo.Option) *majordomo.Worker {
	t.Helper()
	w := must[*majordomo.Worker](t)(majordomo.NewWorker(ep, service, h, opts...))
	t.Cleanup(func() { w.Close() })
	return w
}

func newClient(t testing.TB, ep string, opts ...majordomo.Option) *majordomo.Client {
	t.Helper()
	c := must[*majordomo.Client](t)(majordomo.NewClient(ep, opts...))
	t.Cleanup(func() { c.Close() })
	return c
}

// oneShot is an MDP client that neither times out nor resends within
// the test: a test that counts requests and replies wants no resend.
func oneShot(t testing.TB, ep string) *majordomo.Client {
	return newClient(t, ep, majordomo.WithTimeout(wait), majordomo.WithRetries(0))
}

func waitStats(t testing.TB, ctx context.Context, b *majordomo.Broker, what string, cond func(majordomo.Stats) bool) {
	t.Helper()
	if err := b.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v; stats %+v", what, err, b.Stats())
	}
}

// rawWorker is an MDP worker by hand: a DEALER that sends what the test says
// and reports what it gets, without heartbeats.
type rawWorker struct {
	t    testing.TB
	sock *socket.Socket
}

func newRawWorker(t testing.TB, ep string) *rawWorker {
	t.Helper()
	s := newSocket(t, socket.Dealer)
	if err := s.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return &rawWorker{t, s}
}

// command sends a worker command: "", MDPW01, cmd, frames.
func (w *rawWorker) command(ctx context.Context, cmd byte, frames ...string) {
	w.t.Helper()
	m := socket.Msg{nil, []byte(majordomo.WorkerHeader), {cmd}}
	for _, f := range frames {
		m = append(m, []byte(f))
	}
	if err := w.sock.Send(ctx, m); err != nil {
		w.t.Fatal(err)
	}
}

// next returns the next command from the broker but HEARTBEAT: the command
// byte and the frames after it.
func (w *rawWorker) next(ctx context.Context) (byte, socket.Msg) {
	w.t.Helper()
	for {
		m, err := w.sock.Recv(ctx)
		if err != nil {
			w.t.Fatalf("raw worker: %v", err)
		}
		if len(m) < 3 || len(m[0]) != 0 || string(m[1]) != majordomo.WorkerHeader || len(m[2]) != 1 {
			w.t.Fatalf("raw worker got a non-MDP message %q", m)
		}
		if m[2][0] == 0x04 {
			continue
		}
		return m[2][0], m[3:]
	}
}
