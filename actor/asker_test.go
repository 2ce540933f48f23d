package actor_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
)

// An Asker's Ask allocates nothing, even under the race detector (it has no
// pool to drop slots): to an idle actor, to one kept busy by another asker,
// and to an actor in another process, where Ask makes a slot per request.
func TestAskerAllocatesNothing(t *testing.T) {
	a := spawnDoubler(t)
	asker := actor.NewAsker(a.Ref())
	ask := func() {
		if got, err := asker.Ask(ctx, 2); err != nil || got != 4 {
			t.Fatalf("Ask = %d, %v", got, err)
		}
	}
	if n := testing.AllocsPerRun(1000, ask); n != 0 {
		t.Errorf("an Asker's Ask allocates %.2f times, want 0", n)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		other := actor.NewAsker(a.Ref())
		for {
			select {
			case <-stop:
				return
			default:
				other.Ask(ctx, 2)
			}
		}
	})
	n := func() float64 {
		defer func() { close(stop); wg.Wait() }() // the other asker ends even if ask fails
		return testing.AllocsPerRun(1000, ask)
	}()
	if n != 0 {
		t.Errorf("an Asker's Ask beside another asker allocates %.2f times, want 0", n)
	}

	remote := actor.NewAsker(actor.RefTo[doubleReq](replyingRemote{}))
	askRemote := func() {
		if got, err := remote.Ask(ctx, 3); err != nil || got != 6 {
			t.Fatalf("remote Ask = %d, %v", got, err)
		}
	}
	if n := testing.AllocsPerRun(1000, askRemote); n != 0 {
		t.Errorf("an Asker's Ask of a remote actor allocates %.2f times, want 0", n)
	}
}

// replyingRemote answers each request as it is told, doubling it, as a
// remote reference does when the reply comes back over its socket.
type replyingRemote struct{}

func (replyingRemote) Tell(_ context.Context, r doubleReq) error { r.Reply(2*r.Query, nil); return nil }
func (replyingRemote) TryTell(r doubleReq) error                 { r.Reply(2*r.Query, nil); return nil }
func (replyingRemote) Name() string                              { return "replying" }
func (replyingRemote) Stats() actor.Stats                        { return actor.Stats{} }

// refusingRemote refuses the requests it is told while refuse is set, and,
// as an actor's dead letter does, replies to each with the refusal first;
// then it answers them, doubling, from a goroutine of its own (replied, which
// says whether the reply counted), as an actor does.
type refusingRemote struct {
	refuse  bool
	replied chan bool
}

var errRefused = errors.New("refused")

func (r *refusingRemote) Tell(_ context.Context, req doubleReq) error {
	if r.refuse {
		req.Reply(0, errRefused)
		return errRefused
	}
	go func() { r.replied <- req.Reply(2*req.Query, nil) }()
	return nil
}
func (r *refusingRemote) TryTell(req doubleReq) error { return r.Tell(ctx, req) }
func (r *refusingRemote) Name() string                { return "refusing" }
func (r *refusingRemote) Stats() actor.Stats          { return actor.Stats{} }

// A request that was not delivered may have been replied to on its way (a
// dead letter's notice): the Asker's next request must not take that reply.
func TestAskerAfterNotDelivered(t *testing.T) {
	r := &refusingRemote{refuse: true, replied: make(chan bool, 1)}
	asker := actor.NewAsker(actor.RefTo[doubleReq](r))
	if _, err := asker.Ask(ctx, 1); !errors.Is(err, errRefused) {
		t.Fatalf("Ask of a refusing actor = %v, want its refusal", err)
	}
	r.refuse = false
	got, err := asker.Ask(ctx, 5)
	if err != nil || got != 10 {
		t.Fatalf("the next Ask = %d, %v; want 10 (the refusal's reply reached it?)", got, err)
	}
	if !<-r.replied {
		t.Fatal("the next request's Reply reported false")
	}
}

// An Asker's Ask says what happened to a request in Ask's words.
func TestAskerErrors(t *testing.T) {
	a := spawnDoubler(t)
	asker := actor.NewAsker(a.Ref())
	if _, err := asker.Ask(ctx, 1); err == nil || err.Error() != "1: odd" {
		t.Fatalf("Ask of an odd number = %v, want the actor's error", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := asker.Ask(done, 2); !errors.Is(err, context.Canceled) || errors.Is(err, actor.ErrAskTimeout) {
		t.Fatalf("Ask with an ended ctx = %v, want not delivered", err)
	}
	if got, err := asker.Ask(ctx, 2); err != nil || got != 4 {
		t.Fatalf("Ask after the errors = %d, %v", got, err)
	}
	if _, err := asker.Ask(ctx, -1); !errors.Is(err, actor.ErrNoReply) {
		t.Fatalf("Ask that panicked the actor = %v, want ErrNoReply", err)
	}
	// Unsupervised, the actor ended with its panic.
	if _, err := asker.Ask(ctx, 2); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Ask of an ended actor = %v, want ErrStopped", err)
	}
}

// An Ask of an Asker whose other Ask is in progress panics, saying why,
// rather than share the slot, where one of them could take the other's
// reply or wait for ever; the Asker is sound again once the other has
// returned.
func TestAskerSharedPanics(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[doubleReq](func(ctx context.Context, r doubleReq) error {
		if r.Query == 0 {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		r.Reply(2*r.Query, nil)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	asker := actor.NewAsker(a.Ref())
	first := make(chan error, 1)
	go func() { _, err := asker.Ask(ctx, 0); first <- err }()
	recv(t, "the first request", entered)
	second := make(chan any, 1)
	go func() {
		defer func() { second <- recover() }()
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		asker.Ask(short, 1)
	}()
	r := recv(t, "the second Ask's end", second)
	if err, ok := r.(error); !ok || !strings.Contains(err.Error(), "one goroutine at a time") {
		t.Errorf("a second Ask at once: recovered %v, want the Asker's panic", r)
	}
	free()
	if err := recv(t, "the first Ask", first); err != nil {
		t.Fatal(err)
	}
	if got, err := asker.Ask(ctx, 2); err != nil || got != 4 {
		t.Fatalf("Ask after the first returned = %d, %v", got, err)
	}
}

// panickyRemote's Tell panics while panics is set; then it answers,
// doubling.
type panickyRemote struct{ panics bool }

func (r *panickyRemote) Tell(_ context.Context, req doubleReq) error {
	if r.panics {
		panic("remote broken")
	}
	req.Reply(2*req.Query, nil)
	return nil
}
func (r *panickyRemote) TryTell(req doubleReq) error { return r.Tell(ctx, req) }
func (r *panickyRemote) Name() string                { return "panicky" }
func (r *panickyRemote) Stats() actor.Stats          { return actor.Stats{} }

// An Ask whose Remote panics in Tell panics with it; once the caller has
// recovered, the Asker asks again as usual, not as if an Ask were still in
// progress.
func TestAskerAfterRemotePanic(t *testing.T) {
	r := &panickyRemote{panics: true}
	asker := actor.NewAsker(actor.RefTo[doubleReq](r))
	func() {
		defer func() {
			if p := recover(); p != "remote broken" {
				t.Errorf("recovered %v, want the Remote's panic", p)
			}
		}()
		asker.Ask(ctx, 1)
	}()
	r.panics = false
	if got, err := asker.Ask(ctx, 3); err != nil || got != 6 {
		t.Fatalf("Ask after the Remote's panic = %d, %v; want 6", got, err)
	}
}
