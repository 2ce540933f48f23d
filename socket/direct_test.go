package socket_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// Replies written through by the sender (small, after a message from the
// peer) and replies queued for the writer (large ones, or while it is busy)
// reach the peer in the order sent, whole, even when the peer reads slowly
// and the kernel's buffers fill.
func TestWriteThroughKeepsOrder(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		const pings, per = 1000, 4
		a := openSock(t, socket.Dealer)
		ep := a.bind(tr.endpoint(t))
		b := openSock(t, socket.Dealer, socket.WithRecvHWM(4))
		b.connect(ep)
		ctx := testCtx(t, waitLimit)

		go func() { // a answers each ping with a burst of mixed sizes
			for n := 0; n < pings; n++ {
				if _, err := a.Recv(ctx); err != nil {
					return
				}
				for k := range per {
					if a.Send(ctx, socket.Msg{reply(n*per + k)}) != nil {
						return
					}
				}
			}
		}()
		sendErr := make(chan error, 1)
		go func() {
			for range pings {
				if err := b.Send(ctx, socket.NewMsgString("ping")); err != nil {
					sendErr <- err
					return
				}
			}
			sendErr <- nil
		}()
		for want := range pings * per {
			m, err := b.Recv(ctx)
			if err != nil {
				t.Fatalf("after %d replies: %v", want, err)
			}
			if len(m) != 1 || !bytes.Equal(m[0], reply(want)) {
				t.Fatalf("reply %d: got %d bytes starting %x", want, len(m[0]), m[0][:min(8, len(m[0]))])
			}
		}
		if err := <-sendErr; err != nil {
			t.Fatal(err)
		}
	})
}

// reply i is its number, then filler: sizes from a few bytes to beyond what
// is written through.
func reply(i int) []byte {
	sizes := [...]int{8, 300, 2000, 40}
	r := make([]byte, sizes[i%len(sizes)]+i%7)
	binary.BigEndian.PutUint64(r, uint64(i))
	for j := 8; j < len(r); j++ {
		r[j] = byte(i + j)
	}
	return r
}
