package distributor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/broker/distributor"
	"github.com/zmqflow/zmqflow/internal/taskset"
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
// silence, and a test process under -race on a busy machine can stall for a
// second or more: with 50 ms x 3 a 150 ms stall buried live workers. So a
// peer that must stay alive gets 10 s of silence (steadyBeat), ten times
// such a stall; a worker whose connection is gone is still found at once,
// by the event: the distributor sends its heartbeats every 50 ms with
// mandatory routing, and the first one to a vanished worker fails. Tests
// that wait for a silent (not disconnected) peer to be buried wait out
// those 10 s, and run in parallel with each other.
//
// quickBeat buries a silent peer in 150 ms. It is only for tests in which
// burying a live peer by mistake changes nothing they check (a worker that
// must find a restarted distributor silent).
var (
	steadyBeat    = distributor.WithHeartbeat(beatInterval, steadyLiveness)
	quickBeat     = distributor.WithHeartbeat(beatInterval, 3)
	fastReconnect = distributor.WithReconnect(50*time.Millisecond, 400*time.Millisecond)
)

const (
	beatInterval   = 50 * time.Millisecond
	steadyLiveness = 200
	// steadyExpiry is how long steadyBeat lets a peer stay silent.
	steadyExpiry = beatInterval * steadyLiveness
)

var seq atomic.Uint64

func inproc() string { return fmt.Sprintf("inproc://distributor-test-%d", seq.Add(1)) }

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

// The task sets of benchmarks.md section 3 live in internal/taskset; these
// are the names the tests use for them.

func taskSet(name string) []time.Duration                { return taskset.Durations(name, 1) }
func greedy(ds []time.Duration, w int) time.Duration     { return taskset.Greedy(ds, w) }
func roundRobin(ds []time.Duration, w int) time.Duration { return taskset.RoundRobin(ds, w) }
func sum(ds []time.Duration) time.Duration               { return taskset.Sum(ds) }
