package patterns_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// An actor polls what its PULL mailbox's socket holds in one batch (over
// inproc, queued before the actor starts): a message in it that does not
// decode is a dead letter and the others keep their order; when the actor
// is closed while it handles one of them, those of the batch it did not
// handle are dead letters, none handled twice or lost unreported. Timed
// (an observer) and untimed actors take a polled batch by different paths:
// both.
func TestInboxBatchCloseDeadLettersTheRest(t *testing.T) {
	t.Run("timed", func(t *testing.T) { inboxBatchClose(t, true) })
	t.Run("untimed", func(t *testing.T) { inboxBatchClose(t, false) })
}

func inboxBatchClose(t *testing.T, timed bool) {
	ctx := testCtx(t)
	ep := endpoint(t, "inproc")
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind(ep)))
	raw, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	must[struct{}](t)(struct{}{}, raw.Connect(ep))
	send := func(b []byte) { must[struct{}](t)(struct{}{}, raw.Send(ctx, socket.NewMsg(b))) }
	for i := range 10 {
		if i == 5 {
			send([]byte("not eight bytes"))
		}
		send(binary.LittleEndian.AppendUint64(nil, uint64(i)))
	}

	rec := actortest.NewRecorder()
	opts := []actor.Option{actor.WithFeed(in), actor.WithName("batch")}
	if timed {
		opts = append(opts, actor.WithObserver(rec))
	}
	handled := make(chan int, 10)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		handled <- m
		if m == 3 {
			<-ctx.Done() // until Close
		}
		return nil
	}), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for want := range 4 {
		select {
		case m := <-handled:
			if m != want {
				t.Fatalf("handled %d, want %d", m, want)
			}
		case <-ctx.Done():
			t.Fatalf("message %d not handled", want)
		}
	}
	if timed {
		d := rec.Await(t, actortest.DeadLetter, "batch", wait)
		if !errors.Is(d.Err, patterns.ErrDecode) {
			t.Errorf("first dead letter %v, want ErrDecode", d)
		}
	}
	a.Close()
	close(handled)
	for m := range handled {
		t.Errorf("handled %d after the actor was closed", m)
	}
	if st := a.Stats(); st.DeadLetters != 7 || st.Handled != 4 {
		t.Fatalf("after Close: %d dead letters, %d handled; want 7 (the bad one, 4..9), 4", st.DeadLetters, st.Handled)
	}
}

// An inbox's methods are safe for concurrent use, Poll too (an actor polls
// from its goroutine only, but nothing else forbids it): two goroutines
// polling one inbox share its messages, each once.
func TestInboxConcurrentPolls(t *testing.T) {
	ctx := testCtx(t)
	ep := endpoint(t, "inproc")
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind(ep)))
	defer in.Close()
	raw, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	must[struct{}](t)(struct{}{}, raw.Connect(ep))
	const n = 2000
	go func() {
		for i := range n {
			if raw.Send(ctx, socket.NewMsg(binary.LittleEndian.AppendUint64(nil, uint64(i)))) != nil {
				return
			}
		}
	}()
	var mu sync.Mutex
	seen := make(map[int]int)
	finished := make(chan struct{})
	var g errgroup.Group
	for range 2 {
		g.Go(func() error {
			var got []int
			var err error
			for {
				got, err = in.Poll(actor.Inlet[int]{}, got[:0], 16)
				if err != nil {
					return err
				}
				mu.Lock()
				for _, m := range got {
					seen[m]++
				}
				if len(seen) == n {
					select {
					case <-finished:
					default:
						close(finished)
					}
				}
				mu.Unlock()
				if len(got) == 0 {
					select {
					case <-in.Ready():
					case <-finished:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("message %d polled %d times", i, seen[i])
		}
	}
}
