package socket_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// Once ShutdownConfirmed returns nil, everything sent is in the peer's
// receive queue, none of it still on the wire: a peer that is closed right
// after loses nothing to the connection's buffers, and its Stats count it
// all as Queued, though its sender has gone.
func TestShutdownConfirmedLeavesNothingOnTheWire(t *testing.T) {
	const n = 20000
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(n))
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithSendHWM(n))
		push.connect(ep)
		body := make([]byte, 100)
		for range n {
			must(t, push.Send(testCtx(t, waitLimit), socket.NewMsg(body)))
		}
		must(t, push.ShutdownConfirmed(testCtx(t, waitLimit)))
		if q := pull.Stats().Queued; q != n {
			t.Fatalf("after ShutdownConfirmed the receiver holds %d messages, want %d", q, n)
		}
		for i := range n {
			if _, err := pull.TryRecv(); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
	})
}

// A peer that does not read what is sent to it (its queue is full) cannot
// confirm: ShutdownConfirmed waits for it until ctx ends, then says so.
func TestShutdownConfirmedPeerStalled(t *testing.T) {
	for _, tr := range transports[:2] { // inproc has nothing on the wire
		t.Run(tr.name, func(t *testing.T) {
			pull := openSock(t, socket.Pull, socket.WithRecvHWM(1))
			ep := pull.bind(tr.endpoint(t))
			push := openSock(t, socket.Push, socket.WithSendHWM(1))
			push.connect(ep)
			push.send("hello")
			pull.recv() // connected
			big := socket.NewMsg(make([]byte, 1<<20))
			// More than the peer can take without reading (one in its
			// queue, one in its reader's hands), whatever the timing;
			// then until the socket, the wire and the peer's queue are
			// full.
			for range 3 {
				must(t, push.Send(testCtx(t, waitLimit), big))
			}
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				err := push.Send(ctx, big)
				cancel()
				if err != nil {
					break
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := push.ShutdownConfirmed(ctx)
			if !errors.Is(err, socket.ErrUnconfirmed) && !errors.Is(err, socket.ErrDiscarded) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("ShutdownConfirmed with a stalled peer = %v, want ErrUnconfirmed or ErrDiscarded wrapping ctx's error", err)
			}
		})
	}
}

// libzmq ends its side of a connection once it has read the end of ours,
// so a libzmq peer confirms too.
func TestInteropShutdownConfirmed(t *testing.T) {
	interopLeakCheck(t)
	eachInteropWiring(t, func(t *testing.T, w interopWiring) {
		ctx := interopCtx(t)
		push, err := socket.New(socket.Push)
		if err != nil {
			t.Fatal(err)
		}
		p := linkPeer(t, w, push, "PULL")
		const n = 100
		for i := range n {
			mustSend(t, ctx, push, socket.NewMsgString(strconv.Itoa(i)))
		}
		if err := push.ShutdownConfirmed(ctx); err != nil {
			t.Fatalf("ShutdownConfirmed to a libzmq PULL: %v", err)
		}
		for i := range n {
			wantFrames(t, "libzmq PULL", pyRecv(t, ctx, p), socket.NewMsgString(strconv.Itoa(i)))
		}
	})
}
