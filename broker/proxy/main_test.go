package proxy_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait in the tests: long enough for a loaded CI machine,
// short enough that a hang fails the test instead of the run.
const wait = 60 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

var seq atomic.Uint64

func inproc() string { return fmt.Sprintf("inproc://proxy-test-%d", seq.Add(1)) }

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
