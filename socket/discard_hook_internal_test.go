package socket

import (
	"context"
	"sync"
	"testing"
	"time"
)

// hookLocks records, from inside a WithDiscarded hook, which of the
// socket's locks were held as it ran.
type hookLocks struct {
	mu      sync.Mutex
	calls   int
	held    []string
	watched *Socket
}

func (h *hookLocks) hook(Msg) {
	s := h.watched
	var held []string
	if !s.mu.TryLock() {
		held = append(held, "mu")
	} else {
		s.mu.Unlock()
	}
	if !s.subs.mu.TryLock() {
		held = append(held, "subs.mu")
	} else {
		s.subs.mu.Unlock()
	}
	if !inprocs.mu.TryLock() {
		held = append(held, "inproc registry")
	} else {
		inprocs.mu.Unlock()
	}
	_ = s.Stats() // calls back into the socket
	h.mu.Lock()
	h.calls++
	h.held = append(h.held, held...)
	h.mu.Unlock()
}

func (h *hookLocks) result() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, h.held
}

// A SUB's subscription that reaches an inproc XPUB as the SUB leaves it and
// the XPUB closes is discarded there, and handed to the SUB's WithDiscarded
// hook by the goroutine that subscribed: after Subscribe has released the
// SUB's locks, as WithDiscarded promises, so that a hook that calls back
// into the socket neither waits for ever nor sees it half-updated.
func TestDiscardHookAfterLocksSubscribe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep := "inproc://" + t.Name()
	xpub := mustNew(t, XPub, WithLinger(0))
	if _, err := xpub.Bind(ep); err != nil {
		t.Fatal(err)
	}
	var h hookLocks
	sub := mustNew(t, Sub, WithDiscarded(h.hook))
	h.watched = sub
	if err := sub.Connect(ep); err != nil {
		t.Fatal(err)
	}
	closed := false
	hook := func(r *pipe) {
		if r.s != xpub || closed {
			return
		}
		closed = true
		// Between the XPUB applying the subscription and queueing it for
		// Recv: the SUB leaves, the application takes the cancel that
		// its leaving queued, and the XPUB closes. Its Close empties the
		// queues it knows of, none, and the put that follows is
		// discarded on the spot.
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := sub.Disconnect(ep); err != nil {
				t.Error(err)
			}
			if m, err := xpub.Recv(ctx); err != nil || string(m[0]) != "\x00a" {
				t.Errorf("XPUB Recv: %q, %v; want the cancel of a", m, err)
			}
			// As the application's next Recv does, finding the
			// queue empty: the pipe leaves the turn list.
			if _, m, ok := xpub.fq.take(); ok {
				t.Errorf("XPUB has %q to receive, want nothing", m)
			}
			xpub.Close()
		}()
		select {
		case <-done:
		case <-ctx.Done():
			t.Error("the XPUB did not close")
		}
	}
	inprocAppliedSub.Store(&hook)
	t.Cleanup(func() { inprocAppliedSub.Store(nil) })

	subscribed := make(chan error, 1)
	go func() { subscribed <- sub.Subscribe([]byte("a")) }()
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe did not return")
	}
	if !closed {
		t.Fatal("the subscription never reached the XPUB")
	}
	calls, held := h.result()
	if st := sub.Stats(); st.Discarded != 1 || calls != 1 {
		t.Fatalf("Discarded %d, hook called %d times; want 1 and 1", st.Discarded, calls)
	}
	if len(held) > 0 {
		t.Fatalf("the WithDiscarded hook ran with the SUB's %v held", held)
	}
}

// A Disconnect that ends an inproc link with messages still queued for a
// Bind discards them, and the hook runs once the registry of inproc names
// is released: a hook that connects or closes a socket would otherwise
// wait for it for ever.
func TestDiscardHookAfterLocksDisconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep := "inproc://" + t.Name()
	var h hookLocks
	push := mustNew(t, Push, WithDiscarded(h.hook), WithLinger(0))
	h.watched = push
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"1", "2"} {
		if err := push.Send(ctx, NewMsgString(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := push.Disconnect(ep); err != nil {
		t.Fatal(err)
	}
	calls, held := h.result()
	if st := push.Stats(); st.Discarded != 2 || calls != 2 {
		t.Fatalf("Discarded %d, hook called %d times; want 2 and 2", st.Discarded, calls)
	}
	if len(held) > 0 {
		t.Fatalf("the WithDiscarded hook ran with %v held", held)
	}
}
