package actor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Actor is a running actor made by Spawn: a goroutine that takes messages
// from its mailbox and hands them to its behaviour, one at a time.
//
// All methods are safe for concurrent use. Tell and TryTell are those of its
// Ref. Stop and Close end the goroutine and return after it ended; so does a
// failure of the behaviour, after which Done is closed and Err says why. The
// goroutine never outlives Stop, Close or a failure, and nothing else ends
// it: an Actor that is never stopped runs until the process exits.
type Actor[M any] struct {
	ref    Ref[M]
	cancel context.CancelFunc
	done   chan struct{}
	err    error // written before done is closed

	closeOnce sync.Once
	stopCtx   atomic.Pointer[context.Context] // the first Stop's
}

// Spawn starts an actor running b and returns once it has started: when b
// implements Starter, after Start returned nil. If Start fails, Spawn returns
// ErrStartFailed wrapping its error, after the goroutine ended.
//
// ctx bounds the start only: if it ends before Start returned, Spawn closes
// the actor and returns ctx's error. The actor's own context (the one
// Receive gets) keeps ctx's values but not its cancellation; it is cancelled
// by Close. To tie an actor's life to a ctx, use
// context.AfterFunc(ctx, func() { a.Close() }).
func Spawn[M any](ctx context.Context, b Behavior[M], opts ...Option) (*Actor[M], error) {
	cfg, err := newConfig(forActor, opts)
	if err != nil {
		releaseFeedOptions(opts)
		return nil, err
	}
	c, err := newCell[M](cfg)
	if err != nil {
		releaseFeedOptions(opts)
		return nil, err
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &Actor[M]{ref: Ref[M]{c: c}, cancel: cancel, done: make(chan struct{})}

	unhook := context.AfterFunc(ctx, cancel) // ctx ending cancels Start
	started := make(chan error, 1)
	go a.run(actx, b, started)
	err = <-started
	if !unhook() && err == nil {
		// ctx ended just as Start returned: the actor's context is
		// cancelled, so the spawn failed after all.
		a.Close()
		return nil, fmt.Errorf("actor: spawn %q: %w", c.name, ctx.Err())
	}
	if err != nil {
		<-a.done
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (spawn ctx: %w)", err, ctx.Err())
		}
		return nil, err
	}
	c.startFeed(actx)
	return a, nil
}

func (a *Actor[M]) run(ctx context.Context, b Behavior[M], started chan<- error) {
	c := a.ref.c
	ok := false
	_, err := c.run(ctx, b, func(err error) {
		if err == nil {
			ok = true
			c.obs.ActorStarted(c.name)
		}
		started <- err
	})
	a.exit(err, ok)
}

// exit ends run: whatever ended the incarnation, the mailbox closes for
// good (what is left in it, and what is told from now on, is a dead
// letter), and the actor is done. It is a function of its own so that
// run's frame, beneath the actor's loop for its life, stays small (see
// cell.run).
//
//go:noinline
func (a *Actor[M]) exit(err error, started bool) {
	defer close(a.done)
	defer a.cancel()
	c := a.ref.c
	c.closeMailbox()
	var stopCtx context.Context // Stop's, if it was stopped: it bounds the feeds' release
	if p := a.stopCtx.Load(); p != nil {
		stopCtx = *p
	}
	c.stopFeed(stopCtx)
	if err == nil {
		err = c.outErr
	}
	a.err = err
	if started {
		c.obs.ActorStopped(c.name, err)
	} else {
		releaseProfile(c.obs) // never started: no ActorStopped, but its series let go
	}
}

// Ref returns the actor's address, to hand to other goroutines.
func (a *Actor[M]) Ref() Ref[M] { return a.ref }

// Name returns the actor's name.
func (a *Actor[M]) Name() string { return a.ref.c.name }

// Tell is a.Ref().Tell.
func (a *Actor[M]) Tell(ctx context.Context, m M) error { return a.ref.Tell(ctx, m) }

// TryTell is a.Ref().TryTell.
func (a *Actor[M]) TryTell(m M) error { return a.ref.TryTell(m) }

// Stats is a.Ref().Stats.
func (a *Actor[M]) Stats() Stats { return a.ref.Stats() }

// Stop stops the actor gracefully: the mailbox takes no more messages (Tell
// returns ErrStopped), nor do its feeds (WithFeed), the actor handles every
// message already in it, and what a socket mailbox it polls holds (see
// Feed), then its goroutine ends and its feeds and outputs (WithOutput) are
// released, within ctx.
// Stop returns after that, with Err. If ctx ends first, Stop closes the
// actor (what is left becomes dead letters) and returns ctx's error once
// the goroutine ended. Safe to call more than once and together with Close.
func (a *Actor[M]) Stop(ctx context.Context) error {
	a.stopCtx.CompareAndSwap(nil, &ctx)
	a.ref.c.quietFeed(ctx)
	a.ref.c.q.drain()
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		a.Close()
		return fmt.Errorf("actor: stop %q: drain cut short: %w", a.Name(), ctx.Err())
	}
}

// Close stops the actor now: after the message it is handling (whose ctx is
// cancelled), its goroutine ends; messages still in the mailbox become dead
// letters. Close returns after the goroutine ended and its feeds were
// closed, with Err; a socket mailbox may linger to send what it still holds
// for its linger period (socket.WithLinger), which Stop's ctx bounds
// instead. It is idempotent and safe to call from any goroutine, any number
// of times.
func (a *Actor[M]) Close() error {
	a.closeOnce.Do(func() {
		a.ref.c.closeMailbox()
		a.cancel()
	})
	<-a.done
	return a.err
}

// Done is closed when the actor's goroutine has ended, however it ended.
func (a *Actor[M]) Done() <-chan struct{} { return a.done }

// Err returns nil while the actor runs and after a clean Stop or Close; the
// failure (an error or *PanicError from the behaviour, wrapped) when the
// actor failed; and, after a Stop or Close that was otherwise clean, the
// error of an output (WithOutput) that could not be released: what the
// actor sent through it may not have reached its peers.
func (a *Actor[M]) Err() error {
	select {
	case <-a.done:
		return a.err
	default:
		return nil
	}
}
