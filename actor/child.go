package actor

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// ChildSpec is a child of a supervisor, as NewChild makes it. Only this
// package implements it; Supervise is the only user of its methods.
type ChildSpec interface {
	runner() childRunner
}

// Child is a supervised actor: a name, a factory that makes a fresh behaviour
// for each (re)start, and options. Make it with NewChild, give it to
// Supervise, and reach it with Ref.
//
// A Child belongs to one supervisor; Supervise refuses one it already gave
// to another. Ref and Name are safe for concurrent use; the rest of the
// Child is driven by its supervisor's goroutine only.
type Child[M any] struct {
	name    string
	factory func() Behavior[M]
	opts    []Option

	cell    atomic.Pointer[cell[M]] // set by Supervise
	used    atomic.Bool
	started atomic.Bool        // its first Start succeeded
	ended   atomic.Bool        // ActorStopped was reported
	cancel  context.CancelFunc // the running incarnation's; supervisor goroutine only
}

// NewChild describes a child named name whose behaviour factory makes, anew
// at each start and restart: a restarted child never sees the state of the
// incarnation that failed. Its mailbox (WithMailbox), observer and logger
// are options; a child without its own observer or logger gets its
// supervisor's. WithName is not needed (name is the name) and supervisor
// options are refused by Supervise.
func NewChild[M any](name string, factory func() Behavior[M], opts ...Option) *Child[M] {
	return &Child[M]{name: name, factory: factory, opts: opts}
}

// Ref returns the child's address. It may be taken before the child is
// supervised (to make the behaviours that will send to it); it reaches the
// child once Supervise has started it, and until then Tell returns
// ErrStopped. It stays the same across restarts: messages told while the
// child restarts wait in its mailbox.
func (ch *Child[M]) Ref() Ref[M] { return Ref[M]{slot: &ch.cell} }

// Name returns the child's name.
func (ch *Child[M]) Name() string { return ch.name }

func (ch *Child[M]) runner() childRunner { return ch }

// childRunner is how a supervisor drives a child of any message type.
type childRunner interface {
	childName() string
	prepare(parent *config) error
	start(ctx, bound context.Context, g *errgroup.Group, first bool, report func(exitKind, error)) error
	halt()
	drain(ctx context.Context)        // ctx: Stop's, which bounds the wait for the feeds
	closeMailbox(ctx context.Context) // ctx: Stop's, which bounds the feeds' release, or nil
	abandon()                         // never prepared, and never will be: release its feeds
	restarting(cause error) int
	restarted(n int, cause error)
	stopped(err error)
}

func (ch *Child[M]) childName() string { return ch.name }

func (ch *Child[M]) prepare(parent *config) error {
	if ch.factory == nil {
		return fmt.Errorf("%w: child %q has no factory", ErrBadOption, ch.name)
	}
	cfg, err := newConfig(forActor, append([]Option{WithName(ch.name)}, ch.opts...))
	if err != nil {
		return fmt.Errorf("child %q: %w", ch.name, err)
	}
	if !ch.used.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: child %q is already supervised", ErrBadOption, ch.name)
	}
	cfg.inherit(parent)
	c, err := newCell[M](cfg)
	if err != nil {
		ch.used.Store(false)
		return fmt.Errorf("child %q: %w", ch.name, err)
	}
	ch.cell.Store(c)
	return nil
}

// start runs a new incarnation with a fresh behaviour in g and returns once
// its Start hook returned; report is called exactly once, when the
// incarnation ends (at once, if the factory panics). bound, if not nil, also
// cancels Start.
func (ch *Child[M]) start(ctx, bound context.Context, g *errgroup.Group, first bool, report func(exitKind, error)) error {
	c := ch.cell.Load()
	c.q.resume()
	var b Behavior[M]
	if err := protect(func() error { b = ch.factory(); return nil }); err != nil || b == nil {
		if err == nil {
			err = fmt.Errorf("%w: factory returned nil", ErrBadOption)
		}
		err = fmt.Errorf("%w: actor %q: %w", ErrStartFailed, ch.name, err)
		c.failed(err)
		report(exitFailed, err)
		return err
	}
	ictx, cancel := context.WithCancel(ctx)
	ch.cancel = cancel
	unhook := func() bool { return true }
	if bound != nil {
		unhook = context.AfterFunc(bound, cancel)
	}
	started := make(chan error, 1)
	g.Go(func() error {
		defer cancel()
		kind, err := c.run(ictx, b, func(err error) {
			if err == nil && first {
				ch.started.Store(true)
				c.obs.ActorStarted(c.name)
			}
			started <- err
		})
		report(kind, err)
		return nil // failures go to the supervisor through report
	})
	err := <-started
	unhook()
	if err == nil {
		c.startFeed(ctx)
	}
	return err
}

func (ch *Child[M]) halt() {
	ch.cell.Load().q.stopReceiver()
	if ch.cancel != nil {
		ch.cancel()
	}
}

func (ch *Child[M]) drain(ctx context.Context) {
	c := ch.cell.Load()
	c.quietFeed(ctx)
	c.q.drain()
}

func (ch *Child[M]) closeMailbox(ctx context.Context) {
	c := ch.cell.Load()
	c.closeMailbox()
	c.stopFeed(ctx)
}

// abandon releases the feeds given to a child that a failed Supervise did
// not prepare (see Feed), unless it is supervised elsewhere; it cannot be
// supervised after that.
func (ch *Child[M]) abandon() {
	if ch.used.CompareAndSwap(false, true) {
		releaseFeedOptions(ch.opts)
	}
}

func (ch *Child[M]) restarting(cause error) int {
	c := ch.cell.Load()
	n := int(c.restarts.Add(1))
	c.log.Info("restarting", zap.Int("restarts", n), zap.Error(cause))
	return n
}

func (ch *Child[M]) restarted(n int, cause error) {
	c := ch.cell.Load()
	c.obs.ActorRestarted(c.name, n, cause)
}

// stopped reports the child's end for good, once, if it ever started: a
// subtree's children may be reported by the subtree and again by its parent.
func (ch *Child[M]) stopped(err error) {
	if !ch.started.Load() {
		if c := ch.cell.Load(); c != nil {
			releaseProfile(c.obs) // never started: its series let go all the same
		}
		return
	}
	if !ch.ended.CompareAndSwap(false, true) {
		return
	}
	c := ch.cell.Load()
	if err == nil {
		err = c.outErr // its outputs were released before (closeMailbox)
	}
	c.obs.ActorStopped(c.name, err)
}
