package patterns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/actor"
)

// Pipeline is stages run together as one supervised group: each stage is an
// actor (a behaviour with a mailbox, in memory or a socket), joined to the
// next by its Ref, which may be a local actor's or an Outbox's. Sources
// produce; the other stages handle what they are told. The same definition
// runs over inproc://, ipc:// and tcp://, and split across processes, by
// changing endpoints only.
//
// Add stages downstream first, and sources last: a stage's Ref is what the
// stages upstream of it are made with. The pipeline starts stages in the
// order they were added and stops them in reverse.
//
// Run keeps errgroup's promises:
//
//   - The first failure ends the pipeline: every stage is closed and Run
//     returns that error (a panic is an *actor.PanicError). A stage made with
//     RestartingStage is restarted instead, within its Restart policy; a
//     failure beyond the policy ends the pipeline.
//   - A stage that returns ErrStop ends the pipeline as a success: a sink
//     that has what it waits for, as the guide's sink counts the results of
//     a batch, or a source that has told everything. Sources that return nil
//     do not end it: only the sink knows when everything is in, since
//     messages may still be on the wire between processes.
//   - When ctx ends first, every stage is closed and Run returns ctx's error.
//
// Closed means at once: a stage's Receive gets its ctx cancelled, and what
// its mailbox holds becomes dead letters, reported to its observer (a
// socket mailbox's too: what its socket holds). That is also how ErrStop
// from a stage that is not a source ends the pipeline: the sink has what it
// waits for, and what is still in flight is not wanted. What is on the wire
// between sockets over ipc or tcp (sent, in the connections' buffers, not
// yet in the receiving socket) is lost with no dead letter, as it is with
// ZeroMQ: only the receiver could see it, and it has closed.
//
// ErrStop from a source ends it once what was told has drained: the
// sources' ctx is cancelled (gen returns; an error wrapping that ctx's
// error is no failure), then the stages stop in reverse order, sources
// first, each handling what its mailbox holds before the one downstream of
// it stops, so that every stage drains into a downstream that still runs.
// A stage whose mailbox is a PULL, SUB, PAIR, ROUTER or REP socket drains
// what its socket holds (a REP's one request after the other). Over ipc
// and tcp, for that to be everything sent to it, give each stage (Source
// too) the Outbox it sends through with actor.WithOutput: a stage's
// Outbox is shut down when the stage has drained, and its peers confirm
// that they have read all of it (see Outbox.Shutdown), before the stage
// downstream drains. So nothing is lost between stages joined in memory,
// over inproc, or over ipc and tcp with their Outboxes so given. An Outbox
// given to Own instead is closed only when Run ends: what is still on the
// wire from it when the stage downstream drains is lost, with no dead
// letter. Nor is anything lost but
// in these cases, each reported: a RestartingStage that failed and waits out
// its back-off when its turn to drain comes is not restarted, and what its
// mailbox holds is dead letters (see actor.Supervisor.Stop); what a Rep
// stage's socket still holds when the drain's bound passes (its actor
// slow, or keeping a request unanswered) is refused (see Rep);
// a peer that does not confirm (the drain's bound passed)
// makes its Outbox's Shutdown fail, and the stage's end with it (its
// ActorStopped error, for the observer). The
// drain is bounded by ctx and by DrainWithin (DefaultDrain);
// when it is cut short, the stages not yet drained are closed and Run
// returns ErrDrainCut wrapping ctx's error. A stage that fails during the
// drain is not restarted and does not change Run's result; its observer is
// told, and what it did not handle is dead letters. The first ErrStop, from
// a source or not, decides how the pipeline ends.
//
// Run returns after every stage's goroutine has ended and every socket of
// the pipeline (stages' mailboxes, and the Outboxes given to Own or to a
// stage with actor.WithOutput) is closed.
// Every stage reports to the Observer given to NewPipeline.
//
// Stages are added from one goroutine before Run; Run is called once.
type Pipeline struct {
	opts     []actor.Option
	children []actor.ChildSpec
	sources  []*actor.Child[struct{}]
	owned    []io.Closer
	running  atomic.Bool

	drain time.Duration // DrainWithin's; 0 for DefaultDrain, < 0 for none

	stopped  context.Context // cancelled when a stage returned ErrStop
	stop     context.CancelFunc
	ending   atomic.Int32 // how the first ErrStop ends it: endClose or endDrain
	initOnce sync.Once
}

// DefaultDrain bounds the drain after a source's ErrStop, for a Pipeline
// whose DrainWithin was not called.
const DefaultDrain = 10 * time.Second

// DrainWithin bounds the drain that ends a pipeline after a source's
// ErrStop (see Pipeline) to d, and to Run's ctx; d <= 0 closes the stages at
// once, without a drain. It is called, like the methods that add stages, before
// Run.
func (p *Pipeline) DrainWithin(d time.Duration) {
	p.mustNotRun()
	if d <= 0 {
		d = -1
	}
	p.drain = d
}

// NewPipeline makes an empty pipeline. Its options are a supervisor's
// (actor.WithName, actor.WithObserver, actor.WithLogger): the observer and
// logger are every stage's that has none of its own.
// The zero Pipeline is one with no options.
func NewPipeline(opts ...actor.Option) *Pipeline {
	return &Pipeline{opts: opts}
}

func (p *Pipeline) init() {
	p.initOnce.Do(func() { p.stopped, p.stop = context.WithCancel(context.Background()) })
}

// Restart is a stage's restart policy (RestartingStage): at most Intensity
// restarts within Window, waiting BackoffMin before the first and doubling
// up to BackoffMax. The zero Restart is actor's defaults. In any other, a
// zero Window is actor.DefaultWindow and zero BackoffMin and BackoffMax are
// actor's default back-off, but Intensity is as given: 0 restarts nothing.
type Restart struct {
	Intensity  int
	Window     time.Duration
	BackoffMin time.Duration
	BackoffMax time.Duration
}

func (r Restart) options() []actor.Option {
	if r == (Restart{}) {
		return nil
	}
	w := r.Window
	if w == 0 {
		w = actor.DefaultWindow
	}
	opts := []actor.Option{actor.WithIntensity(r.Intensity, w)}
	if r.BackoffMin != 0 || r.BackoffMax != 0 {
		opts = append(opts, actor.WithBackoff(r.BackoffMin, max(r.BackoffMin, r.BackoffMax)))
	}
	return opts
}

// Stage adds a stage named name: an actor whose behaviour factory makes,
// with options (actor.WithMailbox, actor.WithFeed for a socket mailbox,
// ...). A failure of the stage ends the pipeline. It returns the stage's Ref,
// valid once Run has started it.
func Stage[M any](p *Pipeline, name string, factory func() actor.Behavior[M], opts ...actor.Option) actor.Ref[M] {
	p.mustNotRun()
	ch := actor.NewChild(name, watched(p, false, factory), opts...)
	p.children = append(p.children, ch)
	return ch.Ref()
}

// RestartingStage is Stage for a stage that is restarted when it fails,
// within policy: a fresh behaviour from factory, with the same mailbox (a
// socket mailbox keeps its socket and what is queued in it). A failure
// beyond the policy ends the pipeline.
func RestartingStage[M any](p *Pipeline, name string, policy Restart, factory func() actor.Behavior[M], opts ...actor.Option) actor.Ref[M] {
	p.mustNotRun()
	ch := actor.NewChild(name, watched(p, false, factory), opts...)
	sub := actor.NewSupervisor(name+"/supervisor", actor.OneForOne, []actor.ChildSpec{ch}, policy.options()...)
	p.children = append(p.children, sub)
	return ch.Ref()
}

// Source adds a stage that produces: gen runs once when the pipeline starts,
// in the stage's goroutine, and tells what it makes to the Refs it closes
// over. It returns nil when it has made everything (the stage then idles
// until the pipeline ends), ErrStop to end the whole pipeline as a success
// once what it told has drained, or an error to fail it; it must return when
// ctx ends, which it does when the pipeline ends, by ErrStop too. opts are
// the stage's actor options: actor.WithOutput for the Outbox it tells
// through, actor.WithObserver, actor.WithLogger.
func (p *Pipeline) Source(name string, gen func(ctx context.Context) error, opts ...actor.Option) {
	p.mustNotRun()
	ch := actor.NewChild(name, watched(p, true, func() actor.Behavior[struct{}] {
		return actor.BehaviorFunc[struct{}](func(ctx context.Context, _ struct{}) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(p.stopped, cancel)()
			err := gen(ctx)
			if err != nil && p.stopped.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil // told to stop for the drain: no failure
			}
			return err
		})
	}), append([]actor.Option{actor.WithMailbox(actor.Bounded(1))}, opts...)...)
	p.children = append(p.children, ch)
	p.sources = append(p.sources, ch)
}

// Own hands the pipeline a socket to close when Run ends, after every stage
// has stopped. An Outbox that a stage sends through is better given to
// that stage (actor.WithOutput): it is then released when the stage stops,
// before the stage downstream drains (see Pipeline).
func (p *Pipeline) Own(c io.Closer) {
	p.mustNotRun()
	p.owned = append(p.owned, c)
}

func (p *Pipeline) mustNotRun() {
	p.init()
	if p.running.Load() {
		panic("patterns: Pipeline changed after Run")
	}
}

// Run runs the pipeline; see Pipeline for when it returns and with what. A
// second Run returns ErrBadOption.
func (p *Pipeline) Run(ctx context.Context) (err error) {
	p.init()
	if !p.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: Pipeline.Run called twice", ErrBadOption)
	}
	defer func() {
		for i := len(p.owned) - 1; i >= 0; i-- {
			if cerr := p.owned[i].Close(); err == nil && cerr != nil {
				err = cerr
			}
		}
	}()
	opts := append([]actor.Option{actor.WithIntensity(0, time.Second)}, p.opts...)
	sup, err := actor.Supervise(ctx, actor.OneForOne, p.children, opts...)
	if err != nil {
		return p.outcome(err)
	}
	for _, src := range p.sources {
		if err := src.Ref().Tell(ctx, struct{}{}); err != nil {
			sup.Close()
			return p.outcome(err)
		}
	}
	select {
	case <-p.stopped.Done():
		if p.ending.Load() == endDrain {
			return p.drainAll(ctx, sup)
		}
		sup.Close()
		return nil
	case <-sup.Done():
		return p.outcome(sup.Err())
	case <-ctx.Done():
		sup.Close()
		return ctx.Err()
	}
}

// How a pipeline ends after ErrStop, decided by the first stage to return it.
const (
	endClose = 1 + iota // a stage that is not a source: close the stages
	endDrain            // a source: drain them
)

// end records the first ErrStop, from a source or not, and cancels stopped:
// the sources return, and Run ends the pipeline. Safe for concurrent use.
func (p *Pipeline) end(source bool) {
	how := int32(endClose)
	if source {
		how = endDrain
	}
	p.ending.CompareAndSwap(0, how)
	p.stop()
}

// drainAll stops the stages after a source's ErrStop, last first, each draining, within
// ctx and the drain bound: see Pipeline.
func (p *Pipeline) drainAll(ctx context.Context, sup *actor.Supervisor) error {
	if p.drain < 0 {
		sup.Close()
		return nil
	}
	d := p.drain
	if d == 0 {
		d = DefaultDrain
	}
	dctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// A stage that failed after ErrStop does not undo the success (Stop
	// then returns its failure with dctx alive): its observer was told,
	// and what it held is dead letters.
	if err := sup.Stop(dctx); err != nil && dctx.Err() != nil {
		return fmt.Errorf("%w (within %v): %w", ErrDrainCut, d, err)
	}
	return nil
}

// watched wraps a stage's behaviours so that ErrStop ends the pipeline
// instead of failing (and restarting) the stage; source says whether the
// stage is a source, whose ErrStop drains the pipeline.
func watched[M any](p *Pipeline, source bool, factory func() actor.Behavior[M]) func() actor.Behavior[M] {
	return func() actor.Behavior[M] {
		b := factory()
		if b == nil {
			return nil
		}
		return &stopWatch[M]{b: b, p: p, source: source}
	}
}

type stopWatch[M any] struct {
	b      actor.Behavior[M]
	p      *Pipeline
	source bool
}

func (w *stopWatch[M]) Receive(ctx context.Context, m M) error {
	err := w.b.Receive(ctx, m)
	if errors.Is(err, ErrStop) {
		w.p.end(w.source)
		return nil
	}
	return err
}

func (w *stopWatch[M]) Start(ctx context.Context) error {
	if s, ok := w.b.(actor.Starter); ok {
		return s.Start(ctx)
	}
	return nil
}

func (w *stopWatch[M]) Stop() error {
	if s, ok := w.b.(actor.Stopper); ok {
		return s.Stop()
	}
	return nil
}

// outcome maps the supervisor's end to Run's: ErrStop is success, and the
// pipeline's supervisor giving up (at the first failure: it restarts
// nothing itself) is reported as the stage's own failure, which is the
// policy's giving up for a RestartingStage.
func (p *Pipeline) outcome(err error) error {
	if err == nil || errors.Is(err, ErrStop) {
		return nil
	}
	return stageFailure(err)
}

// stageFailure returns the failure of the stage that the pipeline's
// supervisor gave up on, which its error wraps beside ErrRestartIntensity
// (see actor.Supervisor.Err), or err itself when it is not that.
func stageFailure(err error) error {
	multi, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	wrapped := multi.Unwrap()
	if len(wrapped) != 2 || wrapped[0] != actor.ErrRestartIntensity {
		return err
	}
	return wrapped[1]
}

// Workers adds n stages, named name-1 to name-n, each running a behaviour
// made by factory with options, behind one Ref that deals each message to
// one of them: round-robin over those with room, waiting within ctx when
// none has, as PUSH deals to its PULL peers. It is the in-process fan-out of
// the guide's "Divide and Conquer"; across processes, a Push Outbox and Pull
// mailboxes do the same.
func Workers[M any](p *Pipeline, name string, n int, factory func() actor.Behavior[M], opts ...actor.Option) actor.Ref[M] {
	if n < 1 {
		panic(fmt.Sprintf("patterns: Workers(%q, %d): want at least one", name, n))
	}
	pl := &pool[M]{name: fmt.Sprintf("%s (%d workers)", name, n)}
	for i := range n {
		pl.refs = append(pl.refs, Stage(p, fmt.Sprintf("%s-%d", name, i+1), factory, opts...))
	}
	return actor.RefTo[M](pl)
}

// pool is Workers' Ref: it deals over local actors as PUSH does, with
// actor.TellAny. Its methods are safe for concurrent use: the only state
// it changes is next, the round-robin's start.
type pool[M any] struct {
	name string
	refs []actor.Ref[M]
	next atomic.Uint64
}

// Tell tells m to the next worker in turn with room; when every one is
// full, it waits within ctx for whichever makes room first (actor.TellAny).
// It returns actor.ErrMailboxFull wrapping ctx's error when ctx ends first,
// and actor.ErrStopped when every worker is gone: m is then a dead letter,
// reported once. A worker that is gone is passed over without one.
func (p *pool[M]) Tell(ctx context.Context, m M) error {
	_, err := actor.TellAny(ctx, p.refs, p.start(), m)
	return p.named(err)
}

// TryTell is Tell that never blocks: actor.ErrMailboxFull at once when every
// worker is full.
func (p *pool[M]) TryTell(m M) error {
	_, err := actor.TryTellAny(p.refs, p.start(), m)
	return p.named(err)
}

func (p *pool[M]) start() int { return int(p.next.Add(1) % uint64(len(p.refs))) }

func (p *pool[M]) named(err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

func (p *pool[M]) Name() string { return p.name }

func (p *pool[M]) Stats() actor.Stats {
	var s actor.Stats
	for _, r := range p.refs {
		rs := r.Stats()
		s.Queued += rs.Queued
		s.Handled += rs.Handled
		s.DeadLetters += rs.DeadLetters
		s.Restarts += rs.Restarts
	}
	return s
}
