package patterns_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// Messages that reach a PULL or SUB mailbox while it closes (here: sent
// by its observer as the close reports the first of what the socket held,
// after the close has counted it) are accounted for: handled, a dead
// letter of the actor, or discarded (and counted) by the sender's socket,
// none left in the socket to go with it. Over inproc, where a message sent
// is in the receiver's queue at once, the counts add up exactly.
func TestMessagesArrivingAtCloseAreAccounted(t *testing.T) {
	for _, kind := range []string{"pull", "sub"} {
		t.Run(kind, func(t *testing.T) { arrivingAtClose(t, kind) })
	}
}

func arrivingAtClose(t *testing.T, kind string) {
	const held, late = 20, 30
	ctx := testCtx(t)
	ep := endpoint(t, "inproc")
	var in *patterns.Inbox[int]
	var out *patterns.Outbox[int]
	noLinger := patterns.WithSocketOptions(socket.WithLinger(0))
	switch kind {
	case "pull":
		in = must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind(ep)))
		out = must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(ep), noLinger))
	case "sub":
		in = must[*patterns.Inbox[int]](t)(patterns.Sub(patterns.Binary[int]{}, patterns.Bind(ep)))
		out = must[*patterns.Outbox[int]](t)(patterns.Pub(patterns.Binary[int]{}, func(int) string { return "" }, patterns.Connect(ep), noLinger))
	}
	t.Cleanup(func() { out.Close() })

	var told atomic.Int64
	tell := func(i int) {
		if err := out.Tell(ctx, i); err != nil {
			t.Errorf("Tell: %v", err)
			return
		}
		told.Add(1)
	}
	dead := &deadCount{}
	var lateOnce sync.Once
	observer := deadLetters(func(l actor.DeadLetter) {
		dead.observer()(l)
		if _, frames := l.Message.(socket.Msg); frames && errors.Is(l.Reason, actor.ErrStopped) { // the close's, not the mailbox's
			lateOnce.Do(func() {
				for i := range late {
					tell(held + 1 + i)
				}
			})
		}
	})
	g := newGated[int](nil)
	a := spawnGated(t, g, actor.WithFeed(in), actor.WithObserver(observer))
	if kind == "sub" {
		eventually(t, "the PUB to see the subscription", func() bool { return out.Socket().Stats().Subscribers == 1 })
	}
	for i := range held + 1 {
		tell(i)
		if i == 0 {
			<-g.holding // the others wait in the socket
		}
	}
	eventually(t, "the socket to hold the messages", func() bool { return in.Socket().Stats().Queued == held })

	closeHeld(t, a, g)
	out.Close()
	n, h, d := told.Load(), g.handled.Load(), int64(len(dead.get()))
	var discarded int64
	if kind == "sub" {
		// A PUB's Tell sends to the subscribers there are, if any: what
		// reached the SUB is what its Sent counts, none discarded.
		n = int64(out.Socket().Stats().Sent)
	} else {
		discarded = int64(out.Socket().Stats().Discarded)
	}
	if h+d+discarded != n {
		t.Errorf("sent %d: handled %d + dead letters %d + discarded by the sender %d = %d (%d left in the closed socket)",
			n, h, d, discarded, h+d+discarded, in.Socket().Stats().Queued)
	}
}
