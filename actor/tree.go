package actor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// SupervisorChild is a supervisor supervised by another: a subtree. Make it
// with NewSupervisor and give it to Supervise (or to another
// NewSupervisor) among the children.
//
// To its parent it is one child: it starts when its turn comes (its own
// children in order) and stops in reverse order with its siblings. When its
// children fail more often than its intensity allows it does not close them:
// it halts them, keeping their mailboxes, and fails, and its parent handles
// that failure under the parent's strategy and intensity, restarting the
// whole subtree (fresh behaviours, same mailboxes and Refs) or giving up in
// turn. Failures thus escalate up the tree as in Erlang/OTP.
//
// Its methods are safe for concurrent use; the subtree is driven by its
// parent's goroutine and a goroutine of its own while it runs.
type SupervisorChild struct {
	name     string
	strategy Strategy
	specs    []ChildSpec
	opts     []Option

	used     atomic.Bool
	cfg      *config       // set by prepare
	children []childRunner // prepared once, for the subtree's life
	restarts atomic.Uint64
	started  atomic.Bool
	ended    atomic.Bool // ActorStopped was reported

	cur *nesting // the running incarnation's; parent goroutine only
}

// NewSupervisor describes a subtree named name: children under strategy,
// with supervisor options (WithIntensity, WithBackoff, WithObserver,
// WithLogger; the observer and logger default to the parent's). WithName is
// not needed: name is the name.
func NewSupervisor(name string, strategy Strategy, children []ChildSpec, opts ...Option) *SupervisorChild {
	return &SupervisorChild{name: name, strategy: strategy, specs: children, opts: opts}
}

// Name returns the subtree's name.
func (sc *SupervisorChild) Name() string { return sc.name }

// Restarts returns how many times the subtree was restarted by its parent.
func (sc *SupervisorChild) Restarts() uint64 { return sc.restarts.Load() }

func (sc *SupervisorChild) runner() childRunner { return sc }

func (sc *SupervisorChild) childName() string { return sc.name }

func (sc *SupervisorChild) prepare(parent *config) error {
	if !sc.used.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: supervisor %q is already supervised", ErrBadOption, sc.name)
	}
	cfg, children, err := prepareTree(sc.strategy, sc.specs, append([]Option{WithName(sc.name)}, sc.opts...), parent)
	if err != nil {
		sc.used.Store(false)
		return err
	}
	sc.cfg, sc.children = cfg, children
	return nil
}

// nesting is what a nested supervisor's incarnation gets from its parent:
// orders, and the patience of a drain.
type nesting struct {
	halt, drain     chan struct{}
	haltOnce, dOnce sync.Once
	cut             context.Context // ends when the parent stops waiting for a drain
	cutOff          context.CancelFunc
	quitNow         context.CancelFunc // the incarnation's Supervisor.quitNow
}

// haltC and drainC are nil (never ready) for a supervisor at the top.
func (n *nesting) haltC() <-chan struct{} {
	if n == nil {
		return nil
	}
	return n.halt
}

func (n *nesting) drainC() <-chan struct{} {
	if n == nil {
		return nil
	}
	return n.drain
}

// start runs an incarnation of the subtree: a fresh Supervisor over the same
// prepared children, in g, returning once they all started.
func (sc *SupervisorChild) start(ctx, bound context.Context, g *errgroup.Group, first bool, report func(exitKind, error)) error {
	n := &nesting{halt: make(chan struct{}), drain: make(chan struct{})}
	n.cut, n.cutOff = context.WithCancel(context.Background())
	sc.cur = n
	s := newSupervisor(sc.cfg, sc.strategy, sc.children)
	s.nested = n
	n.quitNow = s.quitNow
	s.ctx, s.cancel = context.WithCancel(ctx)
	if err := s.startAll(bound, first); err != nil {
		err = fmt.Errorf("%w: supervisor %q: %w", ErrStartFailed, sc.name, err)
		n.cutOff()
		s.quitNow()
		report(exitFailed, err)
		return err
	}
	if first {
		sc.started.Store(true)
		sc.cfg.observer.ActorStarted(sc.name)
	}
	g.Go(func() error {
		kind, err := s.supervise()
		s.g.Wait()
		s.cancel()
		n.cutOff()
		s.quitNow()
		if err != nil {
			sc.cfg.observer.ActorFailed(sc.name, err)
		}
		report(kind, err)
		return nil
	})
	return nil
}

func (sc *SupervisorChild) halt() {
	if n := sc.cur; n != nil {
		n.cutOff()
		n.quitNow()
		n.haltOnce.Do(func() { close(n.halt) })
	}
}

func (sc *SupervisorChild) drain(context.Context) {
	if n := sc.cur; n != nil {
		n.quitNow()
		n.dOnce.Do(func() { close(n.drain) })
	}
}

func (sc *SupervisorChild) closeMailbox(ctx context.Context) {
	if n := sc.cur; n != nil {
		n.cutOff() // a drain under way stops waiting
	}
	for i := len(sc.children) - 1; i >= 0; i-- {
		sc.children[i].closeMailbox(ctx)
	}
}

// abandon releases the feeds of the subtree's children (see Child.abandon).
func (sc *SupervisorChild) abandon() {
	if sc.used.CompareAndSwap(false, true) {
		for _, cs := range sc.specs {
			if cs != nil {
				cs.runner().abandon()
			}
		}
	}
}

func (sc *SupervisorChild) restarting(cause error) int {
	n := int(sc.restarts.Add(1))
	sc.cfg.logger.Info("restarting subtree", zap.Int("restarts", n), zap.Error(cause))
	return n
}

func (sc *SupervisorChild) restarted(n int, cause error) {
	sc.cfg.observer.ActorRestarted(sc.name, n, cause)
}

// stopped reports the subtree's end for good, once: a subtree within a
// subtree is stopped by the one above it, and again by that one's parent.
func (sc *SupervisorChild) stopped(err error) {
	if sc.started.Load() && !sc.ended.CompareAndSwap(false, true) {
		return
	}
	for i := len(sc.children) - 1; i >= 0; i-- {
		sc.children[i].stopped(nil)
	}
	if sc.started.Load() {
		sc.cfg.observer.ActorStopped(sc.name, err)
	} else {
		releaseProfile(sc.cfg.observer)
	}
}
