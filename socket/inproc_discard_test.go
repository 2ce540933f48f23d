package socket_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// discardLog collects what a socket's WithDiscarded hook is handed.
type discardLog struct {
	mu  sync.Mutex
	got []string
}

func (d *discardLog) option() socket.Option {
	return socket.WithDiscarded(func(m socket.Msg) {
		d.mu.Lock()
		d.got = append(d.got, string(m[0]))
		d.mu.Unlock()
	})
}

func (d *discardLog) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.got
	d.got = nil
	return g
}

// An inproc Send puts the message straight into the receiver's queue, so
// the socket that closes with messages still in it is the last place they
// were: they are discarded, and counted (and handed to WithDiscarded) by
// the socket that sent them, which knows of every one, as for a peer that
// went away with messages queued for it. What a peer that left sent before
// it left is still received, as on tcp, and not counted.
func TestInprocClosedReceiverDiscards(t *testing.T) {
	for _, tc := range []struct {
		name string
		// pushBinds: the PUSH binds and the PULL connects.
		pushBinds, beforeBind bool
		// pushLeaves: the PUSH closes first; the PULL takes one message
		// of the three, then closes.
		pushLeaves bool
	}{
		{name: "binder closes"},
		{name: "binder closes, queued before the bind", beforeBind: true},
		{name: "connector closes", pushBinds: true},
		{name: "sender left first", pushLeaves: true},
		{name: "bound sender left first", pushBinds: true, pushLeaves: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log discardLog
			ep := inprocName(t)
			push := openSock(t, socket.Push, log.option(), socket.WithLinger(0))
			pull := openSock(t, socket.Pull)
			switch {
			case tc.pushBinds:
				push.bind(ep)
				pull.connect(ep)
			case tc.beforeBind:
				push.connect(ep)
			default:
				pull.bind(ep)
				push.connect(ep)
			}
			for i := range 3 {
				push.send(fmt.Sprint(i))
			}
			if tc.beforeBind {
				pull.bind(ep)
			}
			want := []string{"0", "1", "2"}
			if tc.pushLeaves {
				must(t, push.Close())
				if g := log.take(); len(g) != 0 {
					t.Fatalf("the PUSH discarded %q as it closed: they are in the PULL's queue", g)
				}
				if m := pull.recv(); !equal(m, "0") {
					t.Fatalf("the PULL received %q, want 0: sent before the PUSH left", m)
				}
				want = want[1:]
			}
			must(t, pull.Close())
			if g := log.take(); !slices.Equal(g, want) {
				t.Errorf("discarded %q, want %q", g, want)
			}
			if st := push.Stats(); st.Sent != 3 || st.Discarded != uint64(len(want)) {
				t.Errorf("PUSH Sent %d, Discarded %d, want 3 and %d", st.Sent, st.Discarded, len(want))
			}
		})
	}
}

// An Unbind ends the links to the name, but the binder still receives
// what came through them: nothing is discarded.
func TestInprocUnbindKeepsReceived(t *testing.T) {
	ep := inprocName(t)
	pull := openSock(t, socket.Pull)
	pull.bind(ep)
	push := openSock(t, socket.Push, socket.WithLinger(0))
	push.connect(ep)
	for i := range 3 {
		push.send(fmt.Sprint(i))
	}
	must(t, pull.Unbind(ep))
	for i := range 3 {
		if m := pull.recv(); !equal(m, fmt.Sprint(i)) {
			t.Fatalf("received %q, want %d", m, i)
		}
	}
	if st := push.Stats(); st.Discarded != 0 {
		t.Errorf("PUSH Discarded %d, want 0", st.Discarded)
	}
}

// Every message an inproc PUSH sends is received or counted as
// discarded, while its PULLs close under it: none is lost unreported.
func TestInprocSentReceivedOrDiscarded(t *testing.T) {
	var log discardLog
	ep := inprocName(t)
	push := openSock(t, socket.Push, log.option(), socket.WithLinger(0), socket.WithSendHWM(16))
	push.connect(ep)
	stopSending := flood(push)
	received := 0
	for round := range 50 {
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(8))
		pull.bind(ep)
		for range round % 5 {
			pull.recv()
			received++
		}
		must(t, pull.Close())
	}
	if err := stopSending(); err != nil {
		t.Fatal(err)
	}
	must(t, push.Close()) // what waits for the next Bind is discarded
	st := push.Stats()
	if st.Sent != uint64(received)+st.Discarded {
		t.Errorf("Sent %d, received %d, Discarded %d: %d messages unaccounted for", st.Sent, received, st.Discarded, int64(st.Sent)-int64(received)-int64(st.Discarded))
	}
	if n := len(log.take()); uint64(n) != st.Discarded {
		t.Errorf("%d messages handed to WithDiscarded, Discarded %d", n, st.Discarded)
	}
}

// flood sends numbered messages through push from a goroutine of its own,
// until the function it returns stops it; that returns the first error of
// a Send other than the stop.
func flood(push *tsock) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sendErr error
	wg.Go(func() {
		for i := 0; ; i++ {
			if err := push.Send(ctx, socket.NewMsgString(fmt.Sprint(i))); err != nil {
				if !errors.Is(err, context.Canceled) {
					sendErr = err
				}
				return
			}
		}
	})
	return func() error {
		cancel()
		wg.Wait()
		return sendErr
	}
}
