package socket

import (
	"context"
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
