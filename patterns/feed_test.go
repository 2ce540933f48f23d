package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// tagged is what an actor with two socket feeds receives: which socket, and
// the frames.
type tagged struct {
	from string
	body string
}

func tag(from string) func(socket.Msg) tagged {
	return func(m socket.Msg) tagged { return tagged{from, string(m[0])} }
}

func pullPush(t *testing.T, ctx context.Context, hwm int) (pull, push *socket.Socket) {
	t.Helper()
	ep := endpoint(t, "inproc")
	pull = must[*socket.Socket](t)(socket.New(socket.Pull, socket.WithRecvHWM(hwm), socket.WithLinger(0)))
	t.Cleanup(func() { pull.Close() })
	if _, err := pull.Bind(ep); err != nil {
		t.Fatal(err)
	}
	push = must[*socket.Socket](t)(socket.New(socket.Push, socket.WithSendHWM(hwm), socket.WithLinger(0)))
	t.Cleanup(func() { push.Close() })
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return pull, push
}

// Two sockets feed one actor, each message tagged with its socket, each
// socket's in order; a closed gate holds its socket back until it opens.
func TestFeedTwoSocketsAndGate(t *testing.T) {
	ctx := testCtx(t)
	const hwm = 5
	pa, sa := pullPush(t, ctx, hwm)
	pb, sb := pullPush(t, ctx, hwm)
	gate := patterns.NewGate()
	gate.Close()
	probe := actortest.NewProbe[tagged](t)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[tagged](func(ctx context.Context, m tagged) error {
		return probe.Ref().Tell(ctx, m)
	}), actor.WithFeed(patterns.Feed(pa, tag("a"), gate)), actor.WithFeed(patterns.Feed(pb, tag("b"), nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	// b is read; a, held back, fills until its sender must wait.
	for i := range hwm {
		if err := sb.Send(ctx, socket.Msg{[]byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	sent := 0
	for ; ; sent++ {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := sa.Send(short, socket.Msg{[]byte(fmt.Sprint(sent))})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if sent > 100*hwm {
			t.Fatalf("%d sent to a socket whose gate is closed: its feed reads it", sent)
		}
	}
	for i := range hwm {
		if got := probe.Expect(t, wait); got != (tagged{"b", fmt.Sprint(i)}) {
			t.Fatalf("got %+v, want b's %d (a's gate is closed)", got, i)
		}
	}
	gate.Open()
	for i := range sent {
		if got := probe.Expect(t, wait); got != (tagged{"a", fmt.Sprint(i)}) {
			t.Fatalf("got %+v, want a's %d", got, i)
		}
	}
}

// A feed whose socket closes under it fails the actor with the socket's
// error.
func TestFeedSocketClosed(t *testing.T) {
	ctx := testCtx(t)
	pa, _ := pullPush(t, ctx, 5)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[tagged](func(context.Context, tagged) error { return nil }),
		actor.WithFeed(patterns.Feed(pa, tag("a"), nil)))
	if err != nil {
		t.Fatal(err)
	}
	pa.Close()
	<-a.Done()
	if !errors.Is(a.Err(), socket.ErrClosed) {
		t.Fatalf("Err = %v, want socket.ErrClosed", a.Err())
	}
}
