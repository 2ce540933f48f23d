package socket

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A ROUTER send that found a peer whose identity a new peer then took
// over (WithRouterHandover) goes to the new peer, as libzmq's would, which
// looks the route up as it sends. If the new peer has left too, the drop's
// reason, or with WithRouterMandatory the error, is ErrHandedOver, not a
// high-water mark the old peer never reached.
func TestRouterSendToHandedOverPeer(t *testing.T) {
	for _, tr := range []string{"inproc", "tcp"} {
		for _, mandatory := range []bool{false, true} {
			t.Run(fmt.Sprint(tr, " mandatory=", mandatory), func(t *testing.T) {
				routerSendToHandedOver(t, tr, mandatory)
			})
		}
	}
}

func routerSendToHandedOver(t *testing.T, tr string, mandatory bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := []Option{WithRouterHandover()}
	if mandatory {
		opts = append(opts, WithRouterMandatory())
	}
	router := mustNew(t, Router, opts...)
	mon := router.Monitor()
	ep := "tcp://127.0.0.1:*"
	if tr == "inproc" {
		ep = "inproc://" + t.Name()
	}
	ep, err := router.Bind(ep)
	if err != nil {
		t.Fatal(err)
	}
	recvFrom := func(body string) {
		t.Helper()
		for {
			m, err := router.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(m[len(m)-1]) == body {
				return
			}
		}
	}
	old := mustNew(t, Dealer, WithIdentity([]byte("X")), WithReconnectInterval(time.Hour))
	if err := old.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := old.Send(ctx, NewMsgString("old")); err != nil {
		t.Fatal(err)
	}
	recvFrom("old")
	router.mu.RLock()
	oldPipe := router.routes["X"]
	router.mu.RUnlock()
	newer := mustNew(t, Dealer, WithIdentity([]byte("X")))
	if err := newer.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := newer.Send(ctx, NewMsgString("new")); err != nil {
		t.Fatal(err)
	}
	recvFrom("new")
	next := func(kind EventKind) Event {
		t.Helper()
		for {
			select {
			case e := <-mon:
				if e.Kind == kind {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %v event", kind)
			}
		}
	}
	if tr != "inproc" {
		next(EventDisconnected) // the old peer's connection, handed over
	}
	// As a Send that looked its route up before the handover.
	if err := router.sendRouted(ctx, oldPipe, NewMsgString("X", "late")); err != nil {
		t.Fatalf("send to the handed-over identity: %v", err)
	}
	if d := router.Stats().Dropped; d != 0 {
		t.Fatalf("%d dropped, want none", d)
	}
	m, err := newer.Recv(ctx)
	if err != nil || string(m[0]) != "late" {
		t.Fatalf("new peer received %q, %v; want late", m, err)
	}

	// The new peer leaves too: nobody holds the identity.
	newer.Close()
	if tr != "inproc" {
		next(EventDisconnected)
	}
	err = router.sendRouted(ctx, oldPipe, NewMsgString("X", "later"))
	if mandatory {
		if !errors.Is(err, ErrHostUnreachable) || !errors.Is(err, ErrHandedOver) {
			t.Fatalf("send to the handed-over peer: %v, want ErrHostUnreachable and ErrHandedOver", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if e := next(EventDropped); !errors.Is(e.Err, ErrHandedOver) {
		t.Fatalf("drop reported as %v, want ErrHandedOver", e.Err)
	}
}

func mustNew(t *testing.T, typ Type, opts ...Option) *Socket {
	t.Helper()
	s, err := New(typ, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
