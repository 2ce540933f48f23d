package socket

import (
	"context"
	"errors"
	"testing"
	"time"
)

// holdInprocPut holds the next inproc send into a pipe of rcv between
// finding the pipe there and putting into its queue: reached is closed
// when a sender is held, and closing release lets it go on.
func holdInprocPut(t *testing.T, rcv *Socket) (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	held := false
	hook := func(r *pipe) {
		if r.s != rcv || held { // one sender, the test's, runs here
			return
		}
		held = true
		close(reached)
		<-release
	}
	inprocBeforePut.Store(&hook)
	t.Cleanup(func() { inprocBeforePut.Store(nil) })
	return reached, release
}

// A send that found the PULL's end of an inproc link just before the PULL
// ended the link (Unbind, Disconnect) does not put its message there once
// the link is ended: the PULL took what it held and expects no more, and
// nothing would take it but a Close, to discard it. The PUSH finds no
// room there and sends the message as if the peer had gone before: to the
// next PULL to bind the name, or to the next to connect.
func TestInprocDetachRefusesHeldPut(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pushBinds bool // the PULL connects, and ends the link with Disconnect
	}{
		{name: "unbind"},
		{name: "disconnect", pushBinds: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ep := "inproc://" + t.Name()
			push := mustNew(t, Push, WithLinger(0))
			pull := mustNew(t, Pull)
			link := func(pull *Socket) {
				var err error
				if tc.pushBinds {
					err = pull.Connect(ep)
				} else {
					_, err = pull.Bind(ep)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if tc.pushBinds {
				if _, err := push.Bind(ep); err != nil {
					t.Fatal(err)
				}
				link(pull)
			} else {
				link(pull)
				if err := push.Connect(ep); err != nil {
					t.Fatal(err)
				}
			}
			reached, release := holdInprocPut(t, pull)
			sent := make(chan error, 1)
			go func() { sent <- push.Send(ctx, NewMsgString("late")) }()
			select {
			case <-reached:
			case <-ctx.Done():
				t.Fatal("the send never reached the PULL's pipe")
			}
			var err error
			if tc.pushBinds {
				err = pull.Disconnect(ep)
			} else {
				err = pull.Unbind(ep)
			}
			if err != nil {
				t.Fatal(err)
			}
			close(release)
			if !tc.pushBinds {
				// The PUSH queues for the next Bind of the name.
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
			}
			if q := pull.Stats().Queued; q != 0 {
				t.Fatalf("the PULL holds %d messages sent into the link after it ended", q)
			}
			if _, err := pull.TryRecv(); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("TryRecv after the link ended: %v, want ErrWouldBlock", err)
			}
			if err := pull.Close(); err != nil {
				t.Fatal(err)
			}
			next := mustNew(t, Pull)
			link(next)
			if tc.pushBinds {
				// The PUSH had no other PULL: its send waited for this one.
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
			}
			m, err := next.Recv(ctx)
			if err != nil || len(m) != 1 || string(m[0]) != "late" {
				t.Fatalf("the next PULL received %q, %v; want %q", m, err, "late")
			}
			if st := push.Stats(); st.Sent != 1 || st.Discarded != 0 {
				t.Errorf("PUSH Sent %d, Discarded %d; want 1 and 0", st.Sent, st.Discarded)
			}
		})
	}
}
