package proxy_test

import (
	"errors"
	"testing"

	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/broker/proxy"
	"github.com/zmqflow/zmqflow/socket"
)

// A Queue's two directions are actors that report each message they pass
// to the observer, and stop cleanly at Close.
func TestQueueObserved(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	q := must[*proxy.Queue](t)(proxy.NewQueue(inproc(), inproc(), proxy.WithObserver(rec)))
	rep := newSocket(t, socket.Rep)
	rep.Connect(q.Backend())
	req := newSocket(t, socket.Req)
	req.Connect(q.Frontend())
	if err := req.Send(ctx, socket.NewMsgString("ping")); err != nil {
		t.Fatal(err)
	}
	m := must[socket.Msg](t)(rep.Recv(ctx))
	if err := rep.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	must[socket.Msg](t)(req.Recv(ctx))
	rec.Await(t, actortest.Handled, "queue frontend->backend", wait)
	rec.Await(t, actortest.Handled, "queue backend->frontend", wait)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if q.Err() != nil {
		t.Fatalf("Err after Close = %v", q.Err())
	}
	rec.Await(t, actortest.Stopped, "queue frontend->backend", wait)
}

// Bad options are refused before any socket is made.
func TestBadOptions(t *testing.T) {
	for name, o := range map[string]proxy.Option{
		"zero":            {},
		"capture to PULL": proxy.WithCapture(socket.Pull, inproc()),
		"nil observer":    proxy.WithObserver(nil),
		"nil logger":      proxy.WithLogger(nil),
	} {
		if _, err := proxy.NewQueue(inproc(), inproc(), o); !errors.Is(err, proxy.ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
	if _, err := proxy.NewForwarder("bogus://x", inproc()); err == nil {
		t.Error("a bad endpoint was accepted")
	}
}
