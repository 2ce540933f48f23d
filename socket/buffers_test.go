package socket

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// A connection that goes quiet gives back the large buffers it borrowed:
// peers that send a message of a few KB and then say nothing cannot make
// the socket hold 64 KiB each.
func TestQuietConnectionsHoldNoLargeBuffer(t *testing.T) {
	pull, err := New(Pull)
	if err != nil {
		t.Fatal(err)
	}
	defer pull.Close()
	ep, err := pull.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	push, err := New(Push)
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := bigBufsOut.Load() // connections of other tests may still be ending
	for _, size := range []int{1 << 10, 3 << 10, 40 << 10, 1 << 20} {
		if err := push.Send(ctx, Msg{make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
		if _, err := pull.Recv(ctx); err != nil {
			t.Fatal(err)
		}
		// Both sides are idle now: the reader waits for more, the writer
		// sleeps. Neither holds a large buffer (polled: the reader gives its
		// back just before it waits).
		for bigBufsOut.Load() > base {
			if ctx.Err() != nil {
				t.Fatalf("after a message of %d bytes, %d large buffers still held by idle connections", size, bigBufsOut.Load()-base)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// writeRecorder is a net.Conn whose writes are kept.
type writeRecorder struct {
	net.Conn // nil: only Write is called
	out      bytes.Buffer
}

func (w *writeRecorder) Write(p []byte) (int, error) { return w.out.Write(p) }

// The profile exporter's socket writes a frame that does not fit the small
// array at once, without borrowing a large buffer (a batch each second would
// keep one live for nothing); other sockets borrow, so that a stream goes
// out in large writes.
func TestLoneWritesBorrowNoLargeBuffer(t *testing.T) {
	body := bytes.Repeat([]byte{'x'}, 10<<10)
	want := append([]byte{flagMore, 2, 'i', 'd', flagLong, 0, 0, 0, 0, 0, 0, 0x28, 0}, body...)
	for _, tc := range []struct {
		name          string
		lone, borrows bool
	}{{"lone", true, false}, {"stream", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var out writeRecorder
			var b writeBuf
			b.init(&out)
			b.lone = tc.lone
			b.frame(flagMore, []byte("id"))
			b.frame(0, body)
			if borrowed := b.big != nil; borrowed != tc.borrows {
				t.Fatalf("borrowed a large buffer: %v, want %v", borrowed, tc.borrows)
			}
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			if b.big != nil {
				t.Fatal("a large buffer held after flush")
			}
			if !bytes.Equal(out.out.Bytes(), want) {
				t.Fatalf("wrote %d bytes, not the two frames (%d bytes)", out.out.Len(), len(want))
			}
		})
	}
}
