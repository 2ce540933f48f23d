package socket_test

// The harness of the semantics and fault tests: TestMain with the goroutine
// leak check, the transport table, and helpers that bound every wait.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/socket"
)

// TestMain fails the run if any goroutine outlives the tests: every socket
// must have ended all its goroutines when Close returned.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds any single wait in these tests. It is generous: under
// -race on two cores a handshake can take a while, and a test that passes
// waits far less.
const waitLimit = 10 * time.Second

// transport is one row of the transport table: how to make a fresh
// endpoint to bind.
type transport struct {
	name     string
	endpoint func(t *testing.T) string
}

var testInprocSeq atomic.Uint64

var transports = []transport{
	{"tcp", func(t *testing.T) string { return "tcp://127.0.0.1:*" }},
	{"ipc", func(t *testing.T) string { return "ipc://" + ipcPath(t) }},
	{"inproc", func(t *testing.T) string { return inprocName(t) }},
}

// inprocName is an inproc endpoint no other test uses.
func inprocName(t *testing.T) string {
	return fmt.Sprintf("inproc://%s#%d", t.Name(), testInprocSeq.Add(1))
}

var testIPCSeq atomic.Uint64

// ipcPath is a fresh socket path in the test's temporary directory, or in a
// shorter one when that would pass the 108-byte limit of a unix socket path.
func ipcPath(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("s%d", testIPCSeq.Add(1))
	p := filepath.Join(t.TempDir(), name)
	if len(p) < 100 {
		return p
	}
	d, err := os.MkdirTemp("", "zf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, name)
}

// eachTransport runs f as a subtest per transport.
func eachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

// tsock is a socket under test with its monitor channel, opened before any
// Bind or Connect so that no event is missed.
type tsock struct {
	*socket.Socket
	t   *testing.T
	mon <-chan socket.Event
}

// openSock makes a socket that the test closes at its end.
func openSock(t *testing.T, typ socket.Type, opts ...socket.Option) *tsock {
	t.Helper()
	s, err := socket.New(typ, opts...)
	if err != nil {
		t.Fatalf("New(%v): %v", typ, err)
	}
	t.Cleanup(func() { s.Close() })
	return &tsock{Socket: s, t: t, mon: s.Monitor()}
}

// bind binds ep and returns the endpoint to connect to.
func (s *tsock) bind(ep string) string {
	s.t.Helper()
	got, err := s.Bind(ep)
	if err != nil {
		s.t.Fatalf("%v Bind(%q): %v", s.Type(), ep, err)
	}
	return got
}

func (s *tsock) connect(ep string) {
	s.t.Helper()
	if err := s.Connect(ep); err != nil {
		s.t.Fatalf("%v Connect(%q): %v", s.Type(), ep, err)
	}
}

// send sends a message of string frames, failing the test on error.
func (s *tsock) send(frames ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.Send(ctx, socket.NewMsgString(frames...)); err != nil {
		s.t.Fatalf("%v Send(%q): %v", s.Type(), frames, err)
	}
}

// recv receives one message as strings, failing the test if none comes.
func (s *tsock) recv() []string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	m, err := s.Recv(ctx)
	if err != nil {
		s.t.Fatalf("%v Recv: %v", s.Type(), err)
	}
	return m.Strings()
}

// tryRecv receives one message within d; ok is false if none came.
func (s *tsock) tryRecv(d time.Duration) ([]string, bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := s.Recv(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, false
	}
	if err != nil {
		s.t.Fatalf("%v Recv: %v", s.Type(), err)
	}
	return m.Strings(), true
}

// await reads the monitor until an event of kind comes, and returns it.
func (s *tsock) await(kind socket.EventKind) socket.Event {
	s.t.Helper()
	return awaitEvent(s.t, s.mon, kind)
}

// awaitEvent reads mon until an event of kind comes. The events passed over
// are listed if it fails.
func awaitEvent(t *testing.T, mon <-chan socket.Event, kind socket.EventKind) socket.Event {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case e, ok := <-mon:
			if !ok {
				t.Fatalf("monitor closed waiting for %v; saw %s", kind, strings.Join(seen, ", "))
			}
			if e.Kind == kind {
				return e
			}
			seen = append(seen, e.String())
		case <-timer.C:
			t.Fatalf("no %v event in %v; saw %s", kind, waitLimit, strings.Join(seen, ", "))
		}
	}
}

// nextEvent returns the next monitor event, whatever it is.
func (s *tsock) nextEvent() socket.Event {
	s.t.Helper()
	select {
	case e := <-s.mon:
		return e
	case <-time.After(waitLimit):
		s.t.Fatalf("no monitor event in %v", waitLimit)
	}
	return socket.Event{}
}

// awaitOn reads the monitor until an event of kind for endpoint ep comes.
func (s *tsock) awaitOn(kind socket.EventKind, ep string) socket.Event {
	s.t.Helper()
	for {
		e := s.await(kind)
		if e.Endpoint == ep {
			return e
		}
	}
}

// awaitN waits for n events of kind.
func (s *tsock) awaitN(kind socket.EventKind, n int) {
	s.t.Helper()
	for range n {
		s.await(kind)
	}
}

// testCtx is a context that ends with the test or after d.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// freeTCPEndpoint is a loopback endpoint on a port nothing listens on now,
// for tests that connect before anything binds.
func freeTCPEndpoint(t *testing.T) string {
	t.Helper()
	s, err := socket.New(socket.Pull)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return ep
}

// subSync publishes "sync" messages until sub receives one, so that sub's
// subscriptions (which must cover "sync") have reached pub. Later reads
// skip leftover "sync" messages with recvSkipSync.
func subSync(t *testing.T, pub, sub *tsock) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		pub.send("sync")
		if m, ok := sub.tryRecv(20 * time.Millisecond); ok {
			if m[0] != "sync" {
				t.Fatalf("got %q while waiting for sync", m)
			}
			return
		}
	}
	t.Fatalf("subscription never reached the publisher in %v", waitLimit)
}

// recvSkipSync receives the next message that is not a "sync" leftover.
func (s *tsock) recvSkipSync() []string {
	s.t.Helper()
	for {
		m := s.recv()
		if m[0] != "sync" {
			return m
		}
	}
}

// isErr fails the test unless errors.Is(err, want).
func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}
