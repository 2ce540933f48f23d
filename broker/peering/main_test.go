package peering_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/broker/peering"
	"github.com/zmqflow/zmqflow/socket"
)

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
// silence, and a test process under -race on a busy machine can stall for a
// second or more: with 50 ms x 3 a 150 ms stall buried live workers and
// brokers. So a peer that must stay alive gets 10 s of silence (steadyBeat),
// ten times such a stall; a worker whose connection is gone is still found
// at once, by the event. Tests that wait for a silent peer to be gone wait
// out those 10 s, and run in parallel with each other.
var steadyBeat = peering.WithHeartbeat(beatInterval, steadyLiveness)

const (
	beatInterval   = 50 * time.Millisecond
	steadyLiveness = 200
)

var seq atomic.Uint64

func inproc() string { return fmt.Sprintf("inproc://peering-test-%d", seq.Add(1)) }

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

// The interop tests run libzmq peers (pyzmq): heartbeats every 100 ms on
// both sides, and a peer buried after 10 s of silence (see steadyBeat).
const (
	pyInterval = 100 * time.Millisecond
	pyLiveness = 100
)

func pyArgs() []string {
	return []string{fmt.Sprint(pyInterval.Milliseconds()), fmt.Sprint(pyLiveness)}
}
