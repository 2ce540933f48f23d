package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// A PULL mailbox fair-queues from every PUSH peer: nothing lost, nothing
// duplicated, each sender's messages in its order.
func TestPullFairQueues(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			seen := make(chan string, 1000)
			in := must[*patterns.Inbox[string]](t)(patterns.Pull(patterns.String{}, patterns.Bind(endpoint(t, tr))))
			spawn(t, actor.BehaviorFunc[string](func(ctx context.Context, m string) error {
				seen <- m
				return nil
			}), actor.WithFeed(in))
			const senders, each = 3, 200
			for s := range senders {
				out := must[*patterns.Outbox[string]](t)(patterns.Push(patterns.String{}, patterns.Connect(in.Endpoint())))
				t.Cleanup(func() { out.Close() })
				go func() {
					for i := range each {
						if err := out.Tell(ctx, fmt.Sprintf("%d %d", s, i)); err != nil {
							t.Errorf("Tell: %v", err)
							return
						}
					}
				}()
			}
			next := make([]int, senders)
			for range senders * each {
				var s, i int
				select {
				case m := <-seen:
					fmt.Sscanf(m, "%d %d", &s, &i)
				case <-ctx.Done():
					t.Fatalf("only %v arrived", next)
				}
				if i != next[s] {
					t.Fatalf("sender %d: got %d, want %d", s, i, next[s])
				}
				next[s]++
			}
		})
	}
}

// A SUB mailbox gets the topics it subscribes to, decoded after the topic
// frame; a PUB reference sends each value under the topic it names.
func TestPubSubTopics(t *testing.T) {
	ctx := testCtx(t)
	type quote struct {
		Sym   string
		Price float64
	}
	pub := must[*patterns.Outbox[quote]](t)(patterns.Pub(patterns.JSON[quote]{},
		func(q quote) string { return q.Sym }, patterns.Bind("tcp://127.0.0.1:*")))
	t.Cleanup(func() { pub.Close() })
	sub := must[*patterns.Inbox[quote]](t)(patterns.Sub(patterns.JSON[quote]{},
		patterns.Connect(pub.Endpoint()), patterns.Subscribe("ACME")))
	got := make(chan quote, 100)
	spawn(t, actor.BehaviorFunc[quote](func(ctx context.Context, q quote) error { got <- q; return nil }), actor.WithFeed(sub))
	// PUB sends to subscribers it knows: repeat until the subscription is in.
	for done := false; !done; {
		must[struct{}](t)(struct{}{}, pub.Tell(ctx, quote{"ACME", 1}))
		select {
		case <-got:
			done = true
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("subscription never took")
		}
	}
	for i := range 50 {
		must[struct{}](t)(struct{}{}, pub.Tell(ctx, quote{"OTHER", float64(100 + i)}))
		must[struct{}](t)(struct{}{}, pub.Tell(ctx, quote{"ACME", float64(100 + i)}))
	}
	for i := 0; i < 50; {
		select {
		case q := <-got:
			if q.Sym != "ACME" {
				t.Fatalf("got %+v: not subscribed", q)
			}
			if q.Price == 1 {
				continue // a late copy of the probe
			}
			if q.Price != float64(100+i) {
				t.Fatalf("got %+v, want ACME at %d", q, 100+i)
			}
			i++
		case <-ctx.Done():
			t.Fatalf("ACME quote %d never arrived", i)
		}
	}
}

// A subscriber at its high-water mark misses messages: each miss is a dead
// letter for the PUB reference's observer, never silent.
func TestPubMissesAreDeadLetters(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	pub := must[*patterns.Outbox[[]byte]](t)(patterns.Pub(patterns.Bytes{}, func([]byte) string { return "" },
		patterns.Bind("inproc://pub-misses"), patterns.WithName("prices"), patterns.WithObserver(rec),
		patterns.WithSocketOptions(socket.WithSendHWM(5))))
	t.Cleanup(func() { pub.Close() })
	sub, err := socket.New(socket.Sub, socket.WithRecvHWM(5)) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sub.Subscribe(nil)
	if err := sub.Connect("inproc://pub-misses"); err != nil {
		t.Fatal(err)
	}
	for pub.Socket().Stats().Subscribers == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no subscriber")
		case <-time.After(time.Millisecond):
		}
	}
	for range 100 {
		if err := pub.Tell(ctx, []byte("tick")); err != nil {
			t.Fatal(err)
		}
	}
	d := rec.Await(t, actortest.DeadLetter, "prices", wait)
	if !errors.Is(d.Err, patterns.ErrMissed) {
		t.Errorf("dead letter reason %v, want ErrMissed", d.Err)
	}
	if missed, dead := pub.Socket().Stats().Dropped, pub.Stats().DeadLetters; dead == 0 || dead != missed {
		t.Errorf("%d drops, %d dead letters: want one for each", missed, dead)
	}
}

// PAIR both ways: the actor answers through the mailbox's Peer.
func TestPairPeer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			in := must[*patterns.Inbox[string]](t)(patterns.Pair(patterns.String{}, patterns.Bind(endpoint(t, tr))))
			back := in.Peer()
			spawn(t, actor.BehaviorFunc[string](func(ctx context.Context, m string) error {
				return back.Tell(ctx, "echo "+m)
			}), actor.WithFeed(in))
			other := must[*patterns.Inbox[string]](t)(patterns.Pair(patterns.String{}, patterns.Connect(in.Endpoint())))
			got := make(chan string, 10)
			spawn(t, actor.BehaviorFunc[string](func(ctx context.Context, m string) error { got <- m; return nil }),
				actor.WithFeed(other))
			for i := range 5 {
				if err := other.Peer().Tell(ctx, fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 5 {
				select {
				case m := <-got:
					if m != fmt.Sprint("echo ", i) {
						t.Fatalf("got %q, want echo %d", m, i)
					}
				case <-ctx.Done():
					t.Fatal("no echo")
				}
			}
		})
	}
}

// A message that does not decode is a dead letter with ErrDecode, and the
// actor goes on.
func TestUndecodableIsDeadLetter(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind("inproc://undecodable")))
	got := make(chan int, 10)
	spawn(t, actor.BehaviorFunc[int](func(ctx context.Context, m int) error { got <- m; return nil }),
		actor.WithFeed(in), actor.WithName("summer"), actor.WithObserver(rec))
	raw, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	must[struct{}](t)(struct{}{}, raw.Connect("inproc://undecodable"))
	must[struct{}](t)(struct{}{}, raw.Send(ctx, socket.NewMsg([]byte("not eight bytes"))))
	must[struct{}](t)(struct{}{}, raw.Send(ctx, socket.NewMsg([]byte{7, 0, 0, 0, 0, 0, 0, 0})))
	d := rec.Await(t, actortest.DeadLetter, "summer", wait)
	if !errors.Is(d.Err, patterns.ErrDecode) {
		t.Errorf("dead letter %v, want ErrDecode", d)
	}
	select {
	case m := <-got:
		if m != 7 {
			t.Errorf("got %d, want 7", m)
		}
	case <-ctx.Done():
		t.Fatal("the actor did not go on after the bad message")
	}
}

// A supervised actor with a socket mailbox that panics is restarted and
// loses none of the messages queued in its socket and mailbox.
func TestSocketMailboxSurvivesRestart(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	seen := make(chan int, 10000)
	var incarnations atomic.Int32
	ch := actor.NewChild("worker", func() actor.Behavior[int] {
		incarnations.Add(1)
		return actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
			if m%500 == 250 {
				panic(fmt.Sprintf("poison %d", m))
			}
			seen <- m
			return nil
		})
	}, actor.WithFeed(in), actor.WithMailbox(actor.Bounded(16)))
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{ch},
		actor.WithIntensity(100, time.Minute), actor.WithBackoff(0, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	out := must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(in.Endpoint())))
	defer out.Close()
	const n = 5000
	for i := range n {
		if err := out.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if i%500 == 250 {
			continue
		}
		select {
		case m := <-seen:
			if m != i {
				t.Fatalf("got %d, want %d: lost or reordered across a restart", m, i)
			}
		case <-ctx.Done():
			t.Fatalf("message %d lost", i)
		}
	}
	if got := incarnations.Load(); got != 11 {
		t.Errorf("%d incarnations, want 11", got)
	}
}

func TestOptionsRefused(t *testing.T) {
	for name, f := range map[string]func() error{
		"Subscribe on Pull": func() error {
			_, err := patterns.Pull(patterns.String{}, patterns.Bind("inproc://x"), patterns.Subscribe("a"))
			return err
		},
		"LazyPirate on Dealer": func() error {
			_, err := patterns.Dealer(patterns.String{}, patterns.String{}, patterns.Connect("inproc://x"), patterns.LazyPirate(time.Second, 1))
			return err
		},
		"OnRetry without LazyPirate": func() error {
			_, err := patterns.Req(patterns.String{}, patterns.String{}, patterns.Connect("inproc://x"), patterns.OnRetry(func(int, error) {}))
			return err
		},
		"no endpoint": func() error { _, err := patterns.Push(patterns.String{}); return err },
		"WithObserver on Pull": func() error {
			_, err := patterns.Pull(patterns.String{}, patterns.Bind("inproc://z"), patterns.WithObserver(actor.NopObserver{}))
			return err
		},
		"Pub without topic": func() error {
			_, err := patterns.Pub(patterns.String{}, nil, patterns.Bind("inproc://y"))
			return err
		},
	} {
		if err := f(); !errors.Is(err, patterns.ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
}

// An inbox feeds one actor: a second one given it fails with ErrInUse, and
// the first goes on receiving.
func TestInboxFeedsOne(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[string]](t)(patterns.Pull(patterns.String{}, patterns.Bind("inproc://feeds-one")))
	got := make(chan string, 1)
	b := actor.BehaviorFunc[string](func(_ context.Context, m string) error { got <- m; return nil })
	x, y := spawn(t, b, actor.WithFeed(in)), spawn(t, b, actor.WithFeed(in))
	var failed, ok *actor.Actor[string]
	select {
	case <-x.Done():
		failed, ok = x, y
	case <-y.Done():
		failed, ok = y, x
	case <-ctx.Done():
		t.Fatal("neither actor failed")
	}
	if !errors.Is(failed.Err(), patterns.ErrInUse) {
		t.Errorf("error %v, want ErrInUse", failed.Err())
	}
	out := must[*patterns.Outbox[string]](t)(patterns.Push(patterns.String{}, patterns.Connect("inproc://feeds-one")))
	defer out.Close()
	must[struct{}](t)(struct{}{}, out.Tell(ctx, "still here"))
	select {
	case m := <-got:
		if m != "still here" {
			t.Errorf("got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("the actor the inbox feeds stopped receiving")
	}
	if ok.Err() != nil {
		t.Errorf("the first actor failed: %v", ok.Err())
	}
}
