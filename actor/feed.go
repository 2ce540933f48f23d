package actor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Feed is a second entrance to an actor's mailbox, from outside the
// process: a socket that receives (package patterns makes them), or a clock
// (Ticker). Give one to an actor with WithFeed, or several (a broker reads
// a frontend, a backend and a clock); the behaviour cannot tell a message
// that came through one from one told through a Ref.
//
// The actor runs each feed in a goroutine of its own (but the first that is
// a PolledFeed, which it reads itself) from the end of the first
// successful Start until the actor ends for good: the feed, and what is
// queued in it, outlives the actor's restarts, as the mailbox does. Run is
// called once; it takes messages from wherever they come from and puts them
// in the mailbox with Inlet.Put (or Inlet.PutAll, several at once), which
// blocks while the mailbox is full (so a socket's high-water mark pushes back
// on its peers). Run must return when ctx ends.
//
// When the actor stops, ctx is cancelled first: the feed takes no more from
// its source (a Put under way still puts its message: see Inlet.Put). Stop
// then waits for Run to return (within Stop's ctx) before it closes the
// mailbox to new messages and the actor drains it; a feed the actor polls
// (PolledFeed) is polled, once the mailbox is empty, until it has nothing
// more. Only once the actor has ended for good (Stop, Close, or a failure) is
// Close called, once: the feed releases what it holds (closes its socket), so
// that answers the actor gave while it drained still go out through it. A
// feed whose Close may wait (a socket lingering to send what it holds) may
// implement ShutdownFeed, to have that wait bounded by Stop's ctx. A feed is
// released even when Run never was (the actor's first Start failed, or
// Spawn or Supervise refused its options): with Close, or Abandon where it
// is an Abandoner.
//
// A Run that returns an error before ctx ended means the feed can no longer
// receive: the mailbox takes no more (the actor's other feeds run on until
// it ends), the actor handles what is in it and then
// fails with that error (a supervised child cannot be restarted without its
// feed and fails to start, so its supervisor gives up in time).
type Feed[M any] interface {
	Run(ctx context.Context, in Inlet[M]) error
	Close() error
}

// ShutdownFeed is a Feed whose release may wait, as closing a socket waits
// for what it still has to send within its linger period. An actor ended by
// Stop (Actor.Stop, Supervisor.Stop) calls Shutdown instead of Close, with
// Stop's ctx, which bounds the wait; otherwise it calls Close. Either is
// called once.
type ShutdownFeed interface {
	Shutdown(ctx context.Context) error
}

// Abandoner is a Feed that must know when the actor it was given to never
// ran it (its first Start failed, or Spawn or Supervise refused its
// options): the actor calls Abandon instead of Close. A feed that refuses to
// feed a second actor, as package patterns' mailboxes do, then goes on
// feeding the first, where Close would have closed it under that one.
type Abandoner interface {
	Abandon() error
}

// Inlet is how a Feed puts messages in an actor's mailbox. It is a small
// value; Put and DeadLetter are safe for concurrent use, PutAll is for one
// goroutine at a time (each feed has an inlet of its own).
type Inlet[M any] struct {
	c   *cell[M]
	fd  *feeder[M]
	ctx context.Context
}

// Put puts m in the mailbox, as Ref.Tell does, blocking while a Bounded
// mailbox is full until there is room or the mailbox closes: a feed that
// Stop has quieted (its ctx ended) still puts what it took, and the actor,
// which runs until the feed's Run returns, makes room. When the actor will
// not take m (it is gone, or its mailbox closed while Put waited), m is a
// dead letter and Put returns an error wrapping ErrStopped: the feed should
// return. A dropping mailbox drops as it does for Tell, with
// a dead letter.
//
// That holds for a feed that Runs. A PolledFeed hands its messages over
// from Poll, in the actor's own goroutine, and uses its inlet for
// DeadLetter: a Put there on a full Bounded mailbox could wait for room
// only the actor makes, so it waits no longer than the feed's ctx (until
// Stop quiets the feed), then returns the error as above.
func (in Inlet[M]) Put(m M) error {
	err := in.c.tell(in.ctx, m, true)
	if err != nil && !errors.Is(err, ErrStopped) {
		// Stopped while waiting for room: the message was not delivered
		// and nobody else holds it. The error says so as PutAll's does.
		in.c.deadLetter(m, ErrStopped)
		return fmt.Errorf("%w (actor %q): %w", ErrStopped, in.c.name, err)
	}
	return err
}

// PutAll puts ms in the mailbox in order, as Put would one by one, but
// taking the mailbox's lock once for as many as there is room for: a feed
// that receives in batches hands each over at once. It returns nil when all
// went in; otherwise the error, as Put's, and the ones that did not go in
// are dead letters. Unlike Put, PutAll is for one goroutine at a time: the
// feed's Run.
func (in Inlet[M]) PutAll(ms []M) error {
	c := in.c
	es := in.fd.envelopes[:0]
	var at time.Duration
	if c.timing != timeNone {
		at = c.stamp()
	}
	for _, m := range ms {
		es = append(es, envelope[M]{msg: m, at: at})
	}
	n, dropped, err := c.q.pushAll(in.ctx, es)
	for _, v := range dropped {
		c.deadLetter(v.msg, ErrDropped)
	}
	for _, e := range es[n:] {
		c.deadLetter(e.msg, ErrStopped)
	}
	clear(es)
	in.fd.envelopes = es
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrStopped):
		return fmt.Errorf("%w (actor %q)", ErrStopped, c.name)
	}
	return fmt.Errorf("%w (actor %q): %w", ErrStopped, c.name, err)
}

// DeadLetter reports something that arrived for the actor and will not be
// handled, with the reason: a message that did not decode, for instance. msg
// is what arrived (the raw frames); reason says why.
func (in Inlet[M]) DeadLetter(msg any, reason error) { in.c.reportDeadLetter(msg, reason) }

// Closed returns a channel that is closed once the mailbox has closed for
// good: the actor will take nothing more from it (it was closed, Stop's ctx
// ended, or it ended). A feed that waits on the actor, as a REP mailbox
// waits for the answer to one request before it takes the next, waits on
// it too, so that an actor that will not answer cannot hold the feed, and
// Stop, for ever.
func (in Inlet[M]) Closed() <-chan struct{} { return in.c.q.closedChan() }

// Name returns the name of the actor the inlet leads to.
func (in Inlet[M]) Name() string { return in.c.name }

// WithFeed gives the actor another entrance to its mailbox, f (see Feed).
// Given several times, the actor has several feeds, each run in its own
// goroutine but the first PolledFeed, which the actor reads itself. M must
// be the actor's message type: Spawn and NewChild refuse a feed of another
// type with ErrBadOption.
func WithFeed[M any](f Feed[M]) Option {
	return option{forActor, func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: nil feed", ErrBadOption)
		}
		c.feeds = append(c.feeds, f)
		return nil
	}}
}

// feeder runs one of a cell's feeds: one goroutine for the life of the cell.
type feeder[M any] struct {
	f      Feed[M]
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	start  sync.Once
	quiet  sync.Once // ctx cancelled: Stop's first step
	stop   sync.Once // released
	err    error     // why Run failed; written before done is closed

	envelopes []envelope[M] // the feed's goroutine's, for PutAll

	polledFeed PolledFeed[M] // f, if the actor polls it (see polled.go)
	polling    atomic.Bool   // it does now: attached, not stopped, not failed
	polledBuf  []M           // the actor's goroutine's, for Poll
}

func newFeeders[M any](cfg *config) ([]*feeder[M], error) {
	var fds []*feeder[M]
	for _, v := range cfg.feeds {
		f, ok := v.(Feed[M])
		if !ok {
			var zero M
			return nil, fmt.Errorf("%w: feed %T is not a Feed of the actor's message type %T", ErrBadOption, v, zero)
		}
		fds = append(fds, &feeder[M]{f: f, done: make(chan struct{})})
	}
	return fds, nil
}

// startFeed runs the feeds that are not running yet. ctx carries the values
// the feeds' contexts keep.
func (c *cell[M]) startFeed(ctx context.Context) {
	for _, fd := range c.feeds {
		c.startFeeder(ctx, fd)
	}
}

func (c *cell[M]) startFeeder(ctx context.Context, fd *feeder[M]) {
	fd.start.Do(func() {
		fd.ctx, fd.cancel = context.WithCancel(context.WithoutCancel(ctx))
		if fd == c.polled && c.attach(fd) {
			return
		}
		go func() {
			// Put waits for room until the mailbox closes, not until
			// ctx ends: a feed that Stop quiets still puts what it
			// took, and the actor, which runs until the feed returns,
			// drains it.
			in := Inlet[M]{c, fd, context.WithoutCancel(fd.ctx)}
			err := protect(func() error { return fd.f.Run(fd.ctx, in) })
			if err == nil || fd.ctx.Err() != nil {
				close(fd.done)
				return
			}
			c.feedFailed(fd, err) // handle what came in, then fail with fd.err
		}()
	})
}

// quietFeed stops the feeds taking more for the mailbox and leaves them
// open: Stop's first step, before the actor drains its mailbox, so that
// what a feed put in it is there to drain, and answers go out through the
// feed's socket. A feed run in a goroutine has its ctx cancelled, and
// quietFeed waits for Run to return; the feed the actor polls has its ctx
// cancelled too, and the actor polls it, draining, until it has nothing
// more (see turn). Idempotent.
//
// The wait for Run ends with ctx (Stop's; nil: none): a Run that does not
// return when its ctx ends must not hold Stop past its own. What it puts in
// the mailbox after that is refused, as a dead letter.
func (c *cell[M]) quietFeed(ctx context.Context) {
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for _, fd := range c.feeds {
		fd.quiet.Do(func() {
			fd.start.Do(func() {}) // a feed never started never will be
			if fd.cancel != nil {
				fd.cancel()
			}
		})
	}
	for _, fd := range c.feeds {
		if fd.cancel != nil && !fd.polling.Load() {
			select {
			case <-fd.done:
			case <-done:
				return
			}
		}
	}
}

// stopFeed stops the feeds, waits for their goroutines and releases them
// (see releaseFeed), then the outputs (see WithOutput). Idempotent.
func (c *cell[M]) stopFeed(ctx context.Context) {
	for _, fd := range c.feeds {
		c.stopFeeder(ctx, fd)
	}
	c.outOnce.Do(func() {
		if err := releaseOutputs(ctx, c.outputs); err != nil {
			// What the actor sent may not have reached its peers: its
			// end says so (ActorStopped, Err), as a failure would.
			c.outErr = fmt.Errorf("actor: %q: output: %w", c.name, err)
			c.log.Warn("output close failed", zap.Error(err))
		}
	})
}

func (c *cell[M]) stopFeeder(ctx context.Context, fd *feeder[M]) {
	fd.stop.Do(func() {
		fd.start.Do(func() {}) // a feed never started never will be
		var err error
		if fd.cancel != nil {
			fd.cancel()
			if fd.polling.CompareAndSwap(true, false) {
				close(fd.done) // the actor polls it no more
			}
			<-fd.done
			err = releaseFeed(ctx, fd.f)
		} else {
			err = abandonFeed(fd.f)
		}
		if err != nil {
			c.log.Warn("feed close failed", zap.Error(err))
		}
	})
}

// releaseFeed closes f, a feed that will never run (again), its panic an
// error: with Shutdown(ctx) where it has it and ctx, Stop's, is not nil;
// with Close otherwise.
func releaseFeed(ctx context.Context, f any) error {
	if s, ok := f.(ShutdownFeed); ok && ctx != nil {
		return protect(func() error { return s.Shutdown(ctx) })
	}
	if c, ok := f.(interface{ Close() error }); ok {
		return protect(c.Close)
	}
	return nil
}

// abandonFeed releases f, a feed given to an actor that never ran it (see
// Abandoner), its panic an error.
func abandonFeed(f any) error {
	if a, ok := f.(Abandoner); ok {
		return protect(a.Abandon)
	}
	return releaseFeed(nil, f)
}

// releaseFeedOptions releases the feeds and outputs among opts, given to a
// Spawn or a NewChild whose options or preparation failed: they will never
// run, and their maker handed them over (see Feed, Abandoner, WithOutput).
func releaseFeedOptions(opts []Option) {
	cfg := config{target: forActor}
	for _, o := range opts {
		if o != nil {
			_ = o.apply(&cfg) // WithFeed and WithOutput only append; another may fail
		}
	}
	for _, f := range cfg.feeds {
		_ = abandonFeed(f)
	}
	abandonOutputs(cfg.outputs)
}

// feedErr returns why a feed failed, or nil while they run or when they
// were stopped.
func (c *cell[M]) feedErr() error {
	for _, fd := range c.feeds {
		select {
		case <-fd.done:
			if fd.err != nil {
				return fd.err
			}
		default:
		}
	}
	return nil
}
