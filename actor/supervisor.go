package actor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Strategy names which children a supervisor restarts when one fails, as in
// Erlang/OTP. The zero Strategy is OneForOne. A plain value, safe to share.
type Strategy uint8

const (
	// OneForOne restarts the failed child only: children are independent.
	OneForOne Strategy = iota
	// AllForOne stops every other child (last first) and restarts them all
	// (first first): children that only make sense together.
	AllForOne
	// RestForOne stops the children after the failed one (last first) and
	// restarts it and them (first first): each child depends on the ones
	// before it, as in a pipeline whose stages were started in order.
	RestForOne
)

func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one-for-one"
	case AllForOne:
		return "all-for-one"
	case RestForOne:
		return "rest-for-one"
	}
	return fmt.Sprintf("Strategy(%d)", uint8(s))
}

// Supervisor runs children and restarts those that fail, under a Strategy,
// within a restart intensity (WithIntensity) and with a back-off between
// restarts (WithBackoff). A failure is an error returned or a panic raised by
// a child's Receive or Start; each restart makes a fresh behaviour from the
// child's factory and keeps its mailbox and Ref. When children fail more
// often than the intensity allows, the supervisor closes them all and fails:
// Done is closed and Err names the child and wraps its last failure.
//
// A Supervisor has one goroutine of its own plus one per running child; they
// all end before Stop and Close return, or, when it fails, before Done is
// closed. Its methods are safe for concurrent use. The supervisor reports its
// children's lifecycle (started, failed, restarted, stopped) and its own
// (started, stopped) to the Observer.
type Supervisor struct {
	name     string
	strategy Strategy
	cfg      *config
	log      *zap.Logger
	children []childRunner
	cancel   context.CancelFunc
	ctx      context.Context

	g       errgroup.Group // the children's incarnations
	exits   chan exit
	stopReq chan context.Context
	closeCh chan struct{}
	once    sync.Once
	done    chan struct{}
	err     error // the failure; written before done is closed
	stopErr error // Stop cut short; written before done is closed

	nested *nesting // set when the supervisor is a child of another

	// quit ends when the supervisor is told to end (Stop, Close, or its
	// parent's order): it cancels the Start of a restart under way, which
	// the supervisor's goroutine waits on, so that the order is heard, and
	// no child is restarted after it.
	quit    context.Context
	quitNow context.CancelFunc

	// Owned by the supervisor's goroutine.
	gen     []uint64
	alive   []bool
	endErr  []error     // the error the current incarnation ended with, if it was awaited
	times   []time.Time // restarts within the window
	backlog []exit
}

type exit struct {
	idx  int
	gen  uint64
	kind exitKind
	err  error
}

// Supervise starts children in order under strategy and returns once they
// all started. If a child fails to start, Supervise closes those already
// started (last first) and returns ErrStartFailed wrapping the child's error.
// Options: WithName, WithIntensity, WithBackoff, WithObserver, WithLogger.
//
// ctx bounds the start only, as for Spawn: if it ends before the children
// started, Supervise closes them and returns an error wrapping ctx's error.
// The children's contexts keep its values. The supervisor runs until Stop,
// Close, or it gives up.
func Supervise(ctx context.Context, strategy Strategy, children []ChildSpec, opts ...Option) (*Supervisor, error) {
	cfg, runners, err := prepareTree(strategy, children, opts, nil)
	if err != nil {
		return nil, err
	}
	s := newSupervisor(cfg, strategy, runners)
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.startAll(ctx, true); err != nil {
		releaseProfile(cfg.observer) // never started
		return nil, fmt.Errorf("actor: supervise %q: %w", s.name, err)
	}
	if err := ctx.Err(); err != nil {
		// ctx ended while the children started (one without a Start hook
		// never looks at it): the start failed after all, as for Spawn.
		s.closeAll(-1, nil)
		s.g.Wait()
		s.cancel()
		s.quitNow()
		releaseProfile(cfg.observer)
		return nil, fmt.Errorf("actor: supervise %q: %w", s.name, err)
	}
	cfg.observer.ActorStarted(s.name)
	go s.run()
	return s, nil
}

// prepareTree checks a supervisor's options and prepares its children, once
// for the supervisor's life. parent, if not nil, is the configuration of the
// supervisor above it, whose observer and logger it inherits.
func prepareTree(strategy Strategy, children []ChildSpec, opts []Option, parent *config) (*config, []childRunner, error) {
	cfg, err := newConfig(forSupervisor, opts)
	if err != nil {
		return nil, nil, err
	}
	if strategy > RestForOne {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadOption, strategy)
	}
	if parent != nil {
		cfg.inherit(parent)
	}
	inherited := *cfg // children inherit the observer and logger as given
	cfg.finish()
	runners := make([]childRunner, 0, len(children))
	for k, cs := range children {
		if cs == nil {
			err = fmt.Errorf("%w: nil child", ErrBadOption)
		} else {
			r := cs.runner()
			if err = r.prepare(&inherited); err == nil {
				runners = append(runners, r)
				continue
			}
		}
		for _, done := range runners {
			done.closeMailbox(nil) // and close their feeds: they will never run
			done.stopped(nil)      // which lets their series go
		}
		for _, cs := range children[k:] { // this one and those after it
			if cs != nil {
				cs.runner().abandon()
			}
		}
		releaseProfile(cfg.observer)
		return nil, nil, fmt.Errorf("actor: supervise %q: %w", cfg.name, err)
	}
	return cfg, runners, nil
}

func newSupervisor(cfg *config, strategy Strategy, children []childRunner) *Supervisor {
	quit, quitNow := context.WithCancel(context.Background())
	return &Supervisor{
		quit:     quit,
		quitNow:  quitNow,
		name:     cfg.name,
		strategy: strategy,
		cfg:      cfg,
		log:      cfg.logger,
		children: children,
		exits:    make(chan exit, len(children)),
		stopReq:  make(chan context.Context),
		closeCh:  make(chan struct{}),
		done:     make(chan struct{}),
		gen:      make([]uint64, len(children)),
		alive:    make([]bool, len(children)),
		endErr:   make([]error, len(children)),
	}
}

// startAll starts the children in order. If one fails to start, those
// already started end (closed for good, or halted with their mailboxes kept
// when the supervisor is nested and may be restarted) and the error is
// returned after their goroutines ended.
func (s *Supervisor) startAll(bound context.Context, first bool) error {
	for i := range s.children {
		if err := s.startChild(i, bound, first); err != nil {
			s.awaitExit(i)
			if s.nested != nil {
				s.haltAll()
			} else {
				s.closeAll(i, err)
			}
			s.g.Wait()
			s.cancel()
			return err
		}
	}
	return nil
}

// Name returns the supervisor's name.
func (s *Supervisor) Name() string { return s.name }

// Stop stops the children gracefully, last first: each drains its mailbox
// and its feeds (see Actor.Stop) and ends; then the supervisor ends. No child
// is restarted once Stop began: one that failed and waits to be restarted
// does not drain, and what its mailbox holds becomes dead letters. If ctx
// ends first, the rest are closed at once and Stop returns ctx's error; if
// Close is called meanwhile, an error wrapping ErrStopped. Stop returns
// after every goroutine of the supervisor ended, so a child whose Receive
// ignores its ctx, or whose Stop hook does not return, holds it past ctx
// (see Stopper); if the supervisor had failed, it returns Err. Safe to call
// more than once and with Close; a second Stop waits for the first.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.quitNow()
	select {
	case s.stopReq <- ctx:
	case <-s.done:
	}
	<-s.done
	if s.stopErr != nil {
		return s.stopErr
	}
	return s.err
}

// Close closes the children now, last first (see Actor.Close), and returns
// after every goroutine of the supervisor ended, with Err. It is idempotent
// and safe to call from any goroutine.
func (s *Supervisor) Close() error {
	s.quitNow()
	s.once.Do(func() { close(s.closeCh) })
	<-s.done
	return s.err
}

// Done is closed when the supervisor and all its children have ended.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Err returns nil while the supervisor runs and after Stop or Close; when it
// gave up, an error that wraps ErrRestartIntensity and the last failure and
// names the child.
func (s *Supervisor) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

func (s *Supervisor) run() {
	defer close(s.done)
	_, err := s.supervise()
	s.g.Wait()
	s.cancel()
	s.quitNow()
	s.err = err
	if err != nil {
		s.log.Error("supervisor gave up", zap.Error(err))
	}
	s.cfg.observer.ActorStopped(s.name, err)
}

func (s *Supervisor) startChild(i int, bound context.Context, first bool) error {
	s.gen[i]++
	s.alive[i] = true
	s.endErr[i] = nil
	gen := s.gen[i]
	return s.children[i].start(s.ctx, bound, &s.g, first, func(k exitKind, err error) {
		s.exits <- exit{i, gen, k, err} // room: one live incarnation per child
	})
}

// supervise is the supervisor's loop; it returns when the supervisor ends,
// with how it ended and its failure.
func (s *Supervisor) supervise() (exitKind, error) {
	for {
		var ex exit
		exits := s.exits
		if s.quit.Err() != nil {
			// Told to end: the order is on its way, and the exits wait
			// for it (a restart's Start that quit cut short is no failure
			// to restart).
			exits = nil
		}
		if len(s.backlog) > 0 && exits != nil {
			ex, s.backlog = s.backlog[0], s.backlog[1:]
		} else {
			select {
			case ex = <-exits:
			case ctx := <-s.stopReq:
				return s.obey(orderStop, ctx), nil
			case <-s.closeCh:
				return s.obey(orderClose, nil), nil
			case <-s.nested.drainC():
				return s.obey(orderDrain, nil), nil
			case <-s.nested.haltC():
				return s.obey(orderHalt, nil), nil
			}
		}
		if ex.gen != s.gen[ex.idx] || !s.alive[ex.idx] {
			continue // an incarnation already replaced
		}
		s.alive[ex.idx] = false
		if kind, end, err := s.restart(ex); end {
			return kind, err
		}
	}
}

// order is what ends a supervisor from outside.
type order uint8

const (
	orderStop  order = iota // Stop: drain the children within ctx, for good
	orderClose              // Close: close them now, for good
	orderDrain              // from the parent: Stop, within the parent's patience
	orderHalt               // from the parent: halt them, mailboxes kept, to restart
)

func (s *Supervisor) obey(o order, ctx context.Context) exitKind {
	switch o {
	case orderStop:
		s.stopErr = s.shutdown(ctx)
		return exitDrained
	case orderDrain:
		s.stopErr = s.shutdown(s.nested.cut)
		return exitDrained
	case orderHalt:
		s.haltAll()
		return exitHalted
	}
	s.shutdown(nil)
	return exitHalted
}

// haltAll halts every running child, last first, keeping their mailboxes:
// a nested supervisor that its parent will restart, or that gave up.
func (s *Supervisor) haltAll() {
	for i := len(s.children) - 1; i >= 0; i-- {
		if s.alive[i] {
			s.children[i].halt()
			s.awaitExit(i)
		}
	}
}

// restart handles a child's failure: the intensity check, halting the
// siblings the strategy names, the back-off, and the restarts. end reports
// that the supervisor ends, with err its failure.
func (s *Supervisor) restart(ex exit) (kind exitKind, end bool, err error) {
	child := s.children[ex.idx]
	cause := ex.err
	if cause == nil {
		cause = fmt.Errorf("%w: %q", ErrEnded, child.childName())
	}
	now := time.Now()
	keep := s.times[:0]
	for _, t := range s.times {
		if now.Sub(t) < s.cfg.window {
			keep = append(keep, t)
		}
	}
	s.times = keep
	if len(s.times) >= s.cfg.intensity {
		err := fmt.Errorf("%w: supervisor %q: child %q failed %d times within %v (intensity %d): last failure: %w",
			ErrRestartIntensity, s.name, child.childName(), len(s.times)+1, s.cfg.window, s.cfg.intensity, cause)
		if s.nested != nil {
			// Escalate: the parent decides. The children keep their
			// mailboxes for the restart it may make.
			s.haltAll()
		} else {
			s.closeAll(ex.idx, cause)
		}
		return exitFailed, true, err
	}
	s.times = append(s.times, now)

	affected := []int{ex.idx}
	switch s.strategy {
	case AllForOne:
		affected = affected[:0]
		for i := range s.children {
			affected = append(affected, i)
		}
	case RestForOne:
		for i := ex.idx + 1; i < len(s.children); i++ {
			affected = append(affected, i)
		}
	}
	for i := len(affected) - 1; i >= 0; i-- {
		if j := affected[i]; s.alive[j] {
			s.children[j].halt()
			s.awaitExit(j)
		}
	}

	if d := s.backoff(len(s.times)); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
	wait:
		for {
			select {
			case <-t.C:
				break wait
			case ex := <-s.exits:
				s.backlog = append(s.backlog, ex)
			case ctx := <-s.stopReq:
				return s.obey(orderStop, ctx), true, nil
			case <-s.closeCh:
				return s.obey(orderClose, nil), true, nil
			case <-s.nested.drainC():
				return s.obey(orderDrain, nil), true, nil
			case <-s.nested.haltC():
				return s.obey(orderHalt, nil), true, nil
			}
		}
	}

	for _, j := range affected {
		if s.quit.Err() != nil {
			break // told to end: no more restarts
		}
		c := s.children[j]
		n := c.restarting(cause)
		if err := s.startChild(j, s.quit, false); err == nil {
			c.restarted(n, cause)
		} // else its exit is on its way: the next failure to handle
	}
	return 0, false, nil
}

func (s *Supervisor) backoff(k int) time.Duration {
	d := s.cfg.backoffMin
	for ; k > 1 && d < s.cfg.backoffMax; k-- {
		d *= 2
	}
	return min(d, s.cfg.backoffMax)
}

// awaitExit waits for child i's current incarnation to end, keeping other
// exits for later.
func (s *Supervisor) awaitExit(i int) {
	for k, ex := range s.backlog {
		if ex.idx == i && ex.gen == s.gen[i] {
			s.backlog = append(s.backlog[:k], s.backlog[k+1:]...)
			s.alive[i], s.endErr[i] = false, ex.err
			return
		}
	}
	for s.alive[i] {
		ex := <-s.exits
		if ex.idx == i && ex.gen == s.gen[i] {
			s.alive[i], s.endErr[i] = false, ex.err
		} else {
			s.backlog = append(s.backlog, ex)
		}
	}
}

// closeAll closes every child now, last first: the supervisor fails (failed
// is the index of the child whose failure it was, and cause its error).
func (s *Supervisor) closeAll(failed int, cause error) {
	for i := len(s.children) - 1; i >= 0; i-- {
		c := s.children[i]
		c.closeMailbox(nil)
		if s.alive[i] {
			c.halt()
			s.awaitExit(i)
		}
		switch {
		case s.gen[i] == 0: // never started (Supervise failed before it)
			c.stopped(nil) // which lets its series go
		case i == failed:
			c.stopped(cause)
		default:
			c.stopped(s.endErr[i]) // its Stop hook's failure, if any
		}
	}
}

// shutdown stops the children last first: drained within ctx, or closed at
// once when ctx is nil, ends, or Close is called. It returns ctx's error
// when the drain was cut short.
func (s *Supervisor) shutdown(ctx context.Context) error {
	var cut error
	for i := len(s.children) - 1; i >= 0; i-- {
		c := s.children[i]
		if ctx != nil && cut == nil && s.alive[i] {
			s.quiet(ctx, i)
			cut = s.awaitDrain(ctx, i)
		}
		c.closeMailbox(ctx)
		if s.alive[i] {
			c.halt()
			s.awaitExit(i)
		}
		c.stopped(s.endErr[i]) // its Stop hook's failure, if any
	}
	if cut != nil {
		return fmt.Errorf("actor: stop supervisor %q: drain cut short: %w", s.name, cut)
	}
	return nil
}

// quiet has child i begin its drain, which first waits, within ctx, for
// its feeds to end (see Child.drain), and watches for the child's end
// meanwhile: a child that fails then is not restarted, and a feed that
// waits for it (a REP mailbox, which hands over the next request once the
// last is answered) would otherwise wait for it until ctx ends.
func (s *Supervisor) quiet(ctx context.Context, i int) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	quieted := make(chan struct{})
	go func() {
		defer close(quieted)
		s.children[i].drain(qctx)
	}()
	exits := s.exits
	for {
		select {
		case <-quieted:
			return
		case ex := <-exits:
			if ex.idx == i && ex.gen == s.gen[i] {
				s.alive[i], s.endErr[i] = false, ex.err
				exits = nil
				cancel() // nobody left to feed: stop waiting for the feeds
			} else {
				s.backlog = append(s.backlog, ex)
			}
		}
	}
}

// awaitDrain waits for draining child i to end, within ctx and until Close.
func (s *Supervisor) awaitDrain(ctx context.Context, i int) error {
	for k, ex := range s.backlog {
		if ex.idx == i && ex.gen == s.gen[i] {
			s.backlog = append(s.backlog[:k], s.backlog[k+1:]...)
			s.alive[i], s.endErr[i] = false, ex.err
			return nil
		}
	}
	for s.alive[i] {
		select {
		case ex := <-s.exits:
			if ex.idx == i && ex.gen == s.gen[i] {
				s.alive[i], s.endErr[i] = false, ex.err
			} else {
				s.backlog = append(s.backlog, ex)
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closeCh:
			return fmt.Errorf("supervisor closed: %w", ErrStopped)
		}
	}
	return nil
}
