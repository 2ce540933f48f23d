package broker_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/internal/pyzmq"

	"github.com/zmqflow/zmqflow/broker"
	"github.com/zmqflow/zmqflow/socket"
)

// TestMain checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
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
	steadyBeat    = broker.WithHeartbeat(beatInterval, steadyLiveness)
	quickBeat     = broker.WithHeartbeat(beatInterval, 3)
	fastReconnect = broker.WithReconnect(50*time.Millisecond, 400*time.Millisecond)
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

func inproc() string { return fmt.Sprintf("inproc://broker-test-%d", seq.Add(1)) }

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
func echo(tag string) broker.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return append([][]byte{[]byte(tag)}, req...), nil
	}
}

// The interop tests run libzmq peers (pyzmq) around ours. Heartbeats of
// the interop tests, on both sides: every 100 ms, and a peer is buried
// after 10 s of silence (see steadyBeat: a Python or Go peer of a busy
// machine may stall for a second or more).
const (
	pyInterval = 100 * time.Millisecond
	pyLiveness = 100
)

var pyBeat = broker.WithHeartbeat(pyInterval, pyLiveness)

func pyArgs() []string {
	return []string{fmt.Sprint(pyInterval.Milliseconds()), fmt.Sprint(pyLiveness)}
}

// lineWith reads a peer's lines until one starts with prefix.
func lineWith(t *testing.T, ctx context.Context, p *pyzmq.Peer, prefix string) string {
	t.Helper()
	for {
		l, err := p.Line(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
}
