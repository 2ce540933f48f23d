package actor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// cell is what outlives an incarnation: the name, the mailbox, the hooks and
// the counters. A spawned actor has one incarnation; a supervised child has
// one per (re)start, all on the same cell, so Refs stay valid across restarts.
type cell[M any] struct {
	name    string
	q       *queue[M]
	obs     Observer
	timing  timing // whether to read the clock per message: never, always, or for a sample
	log     *zap.Logger
	feeds   []*feeder[M] // one per WithFeed
	outputs []io.Closer  // WithOutput's, released once after the feeds
	outOnce sync.Once
	outErr  error      // why releasing an output failed; written in outOnce
	polled  *feeder[M] // the first that is a PolledFeed, if any
	slots   sync.Pool  // Ask's reply slots, reused
	// The actor's goroutine's: the messages polled so far, for the
	// profiler's sample, and of the last poll, the count before it, the
	// sample's mask and when it was polled (see timedPoll).
	polls, pollBase, pollMask uint32
	pollAt                    time.Duration
	// The batch the actor handles, its polled messages, and the one of
	// them Receive has: loop recovers Receive's panic, and ends the
	// incarnation at it. receiving: Receive may be running.
	batch       []envelope[M]
	batchPolled []M
	batchAt     int
	receiving   bool
	drainPolls  int // batches a Stop's drain took from the polled feed

	deadLetters, restarts atomic.Uint64
	closing               sync.Mutex // held by closeMailbox

	prof *profObserver // the profiler, if it is the observer: its records are published once a batch
}

func newCell[M any](cfg *config) (*cell[M], error) {
	fds, err := newFeeders[M](cfg)
	if err != nil {
		return nil, err
	}
	if err := holdOutputs(cfg.outputs); err != nil {
		return nil, err
	}
	cfg.finish()
	c := &cell[M]{
		name:    cfg.name,
		q:       newQueue[M](cfg.mailbox),
		obs:     cfg.observer,
		timing:  timeAll,
		log:     cfg.logger,
		feeds:   fds,
		outputs: cfg.outputs,
	}
	switch po := cfg.observer.(type) {
	case NopObserver:
		c.timing = timeNone
	case *profObserver:
		c.timing = timeSample
		c.prof = po
		c.q.sample, c.q.blocked = true, po
		c.q.sampleMask.Store(firstSampleMask)
		var last uint64 // the exporter's goroutine only
		po.watch(c.q.handledCount, func() int {
			// Once a batch: adapt the sampling period to the rate. It
			// rides on the depth gauge's read, so an actor whose gauge
			// found the registry full (telemetry.MaxSeries) keeps the
			// first period.
			n := c.q.handledCount()
			c.q.sampleMask.Store(samplePeriodMask(n - last))
			last = n
			return c.q.len()
		})
	}
	for _, fd := range fds {
		if pf, ok := fd.f.(PolledFeed[M]); ok {
			fd.polledFeed, c.polled = pf, fd
			break
		}
	}
	return c, nil
}

func (c *cell[M]) tell(ctx context.Context, m M, block bool) error {
	e := envelope[M]{msg: m}
	if c.timing == timeAll {
		e.at = now()
	}
	victim, dropped, err := c.q.push(ctx, e, block)
	if dropped {
		c.deadLetter(victim.msg, ErrDropped)
	}
	switch {
	case err == nil:
		return nil
	case err == ErrStopped:
		c.deadLetter(m, ErrStopped)
		return fmt.Errorf("%w (actor %q)", ErrStopped, c.name)
	case err == ErrMailboxFull:
		return fmt.Errorf("%w (actor %q)", ErrMailboxFull, c.name)
	default: // ctx ended while the sender waited for room
		return fmt.Errorf("%w (actor %q): %w", ErrMailboxFull, c.name, err)
	}
}

// timing is when a cell reads the clock: for an observer's MessageHandled,
// for every message; for the profiler's, for a sample.
type timing uint8

const (
	timeNone   timing = iota // NopObserver: never
	timeAll                  // an observer: every message
	timeSample               // the profiler: a sample of the messages
)

// The profiler times a sample of the messages: reading the clock three
// times per message would cost more than the rest of the profile. The
// sampling period adapts to each actor's rate, once a batch, so that about
// sampleTarget messages an interval are timed: enough for percentiles, and
// a fixed cost however fast the actor goes. Counts are exact, from the
// handled counter.
const (
	sampleTarget    = 128
	maxSamplePeriod = 1024 // a power of two
	firstSampleMask = 63   // until the first batch: one in 64
)

// samplePeriodMask is the mask of the sampling period for an actor that
// handled n messages in the last interval: the power of two nearest
// above n/sampleTarget, at most maxSamplePeriod, less one.
func samplePeriodMask(n uint64) uint32 {
	p := uint64(1)
	for p*sampleTarget < n && p < maxSamplePeriod {
		p <<= 1
	}
	return uint32(p - 1)
}

// stamp is the time for a batch of messages a feed hands over with PutAll,
// or 0 where the queue stamps its sample. c.timing is not timeNone.
func (c *cell[M]) stamp() time.Duration {
	if c.timing == timeSample {
		return 0
	}
	return now()
}

// abandoner is a message that someone waits on (an Ask's Request): told when
// it will not be handled, or was and got no reply.
type abandoner interface{ abandon(reason error) }

func (c *cell[M]) deadLetter(m M, reason error) {
	if a, ok := any(m).(abandoner); ok {
		a.abandon(reason)
	}
	c.reportDeadLetter(m, reason)
}

// reportDeadLetter counts, observes and logs a dead letter: a message of
// the actor's type, or what a feed received and could not make one of.
func (c *cell[M]) reportDeadLetter(msg any, reason error) {
	c.deadLetters.Add(1)
	c.obs.DeadLetter(DeadLetter{Actor: c.name, Message: msg, Reason: reason})
	if ce := c.log.Check(zap.DebugLevel, "dead letter"); ce != nil {
		ce.Write(zap.Error(reason), zap.Any("message", msg))
	}
}

func (c *cell[M]) deadLetterAll(es []envelope[M]) {
	for _, e := range es {
		c.deadLetter(e.msg, ErrStopped)
	}
}

// closeMailbox closes the mailbox for good and dead-letters what was in it.
// A call made while another runs returns once the other has reported its
// dead letters: the actor's end calls it before it releases its feeds, and
// a dead letter may still need them (a request's refusal goes out through
// its socket mailbox), when Close, from another goroutine, took them.
func (c *cell[M]) closeMailbox() {
	c.closing.Lock()
	defer c.closing.Unlock()
	c.deadLetterAll(c.q.close())
}

var errClosedWhileHandling = errors.New("actor closed or restarted while handling it")

type exitKind uint8

const (
	exitDrained exitKind = iota // Stop: the mailbox drained
	exitHalted                  // Close, or halted for a restart
	exitFailed                  // Start or Receive failed
)

// run runs one incarnation of b in the calling goroutine: Start, then
// messages until the mailbox is drained or closed, the incarnation is halted,
// or b fails; then Stop. started is called with Start's result, in this
// goroutine, before the first message.
//
// Its frame is kept small, the start and the end in functions of their
// own: the loop runs beneath it for the actor's life, and an idle actor
// whose stack stays within a goroutine's first 2 KB costs half the memory
// of one whose stack had to grow.
func (c *cell[M]) run(ctx context.Context, b Behavior[M], started func(error)) (exitKind, error) {
	if err := c.start(ctx, b); err != nil {
		started(err)
		return exitFailed, err
	}
	started(nil)
	kind, err := c.loop(ctx, b)
	return c.finish(b, kind, err)
}

// start runs b's Start, if any, unless a feed of the cell's failed.
//
//go:noinline
func (c *cell[M]) start(ctx context.Context, b Behavior[M]) error {
	if ferr := c.feedErr(); ferr != nil {
		// A restarted child whose feed failed: it cannot receive again.
		err := fmt.Errorf("%w: %w", ErrStartFailed, ferr)
		c.failed(err)
		return err
	}
	if s, ok := b.(Starter); ok {
		if err := protect(func() error { return s.Start(ctx) }); err != nil {
			err = fmt.Errorf("%w: actor %q: %w", ErrStartFailed, c.name, err)
			c.failed(err)
			return err
		}
	}
	return nil
}

// finish ends an incarnation whose loop returned kind and err: the mailbox
// is left for whoever comes next (retire), a drained mailbox whose feed
// failed fails the actor, and b's Stop, if any, runs.
//
//go:noinline
func (c *cell[M]) finish(b Behavior[M], kind exitKind, err error) (exitKind, error) {
	c.deadLetterAll(c.q.retire())
	if c.prof != nil {
		c.prof.publish() // what the last batch recorded, whatever ended it
	}
	if kind == exitDrained {
		if ferr := c.feedErr(); ferr != nil {
			// The mailbox drained because the feed failed: the actor
			// fails with it.
			kind, err = exitFailed, ferr
			c.failed(err)
		}
	}
	if s, ok := b.(Stopper); ok {
		if serr := protect(s.Stop); serr != nil {
			c.log.Warn("stop hook failed", zap.Error(serr))
			if err == nil {
				err = fmt.Errorf("actor: %q: stop hook: %w", c.name, serr)
			}
		}
	}
	return kind, err
}

func (c *cell[M]) loop(ctx context.Context, b Behavior[M]) (kind exitKind, err error) {
	// A panic in Receive is recovered here, once for the incarnation: a
	// deferred recover per batch was a measurable part of a request's
	// round trip. It ends the incarnation, as Receive's error would. A
	// panic anywhere else in the loop is the package's own, and goes on.
	defer func() {
		if c.receiving {
			if r := recover(); r != nil {
				c.receiving = false
				kind, err = c.panicked(r)
			}
		}
	}()
	// The actor waits here, in the shallowest frame its loop has: an
	// idle actor whose stack stays within a goroutine's first 2 KB costs
	// half the memory of one whose stack had to grow.
	var h handoff[M]
	for {
		fd, kind, end, err := c.turn(ctx, b, h)
		if end {
			return kind, err
		}
		h = handoff[M]{}
		if fd == nil {
			// A message handed over with the wake-up goes to b at
			// once, alone, for as long as the actor goes back to
			// sleep after each (an actor asked by one caller at a
			// time). An actor with a polled feed polls it first, and
			// a halted one leaves the message to turn.
			for {
				h = <-c.q.wake
				c.q.woke()
				if !h.ok || c.polled != nil || c.q.halt.Load() {
					break
				}
				asleep, kind, end, err := c.handOver(ctx, b, h.e)
				if end {
					return kind, err
				}
				if h = (handoff[M]{}); !asleep {
					break // turn takes what came meanwhile
				}
			}
			continue
		}
		// A feed quieted by Stop is polled again once the mailbox drains
		// (see turn), not whenever its source has more.
		var ready <-chan struct{}
		if !fd.quieted() {
			ready = fd.polledFeed.Ready()
		}
		select {
		case h = <-c.q.wake:
			c.q.woke()
		case <-ready:
		}
	}
}

// turn hands b what the mailbox and the polled feed have, a message
// handed over in h first (to an actor with a polled feed, which polls it
// before it sleeps again, or to one halted since), until both are empty
// (it returns the polled feed to wait on beside the mailbox's wake-up, if
// any) or the incarnation ends (end, with kind and err).
func (c *cell[M]) turn(ctx context.Context, b Behavior[M], h handoff[M]) (fd *feeder[M], kind exitKind, end bool, err error) {
	for {
		batch := c.batch[:0]
		c.batchPolled = nil
		if h.ok {
			batch = append(batch, h.e)
			h.ok = false
		} else {
			var done bool
			batch, done = c.q.take(batch)
			if done {
				c.deadLetterAll(batch) // a handed message, the mailbox closed
				clear(batch)
				if c.q.halt.Load() {
					return nil, exitHalted, true, nil
				}
				// Draining for Stop: what the polled feed holds is in
				// the mailbox too, until the feed has no more (see
				// Feed) or the actor polled maxDrainPolls batches of
				// it; then it polls it no more. (Drained because a
				// feed failed, it fails without it.)
				pf := c.pollable()
				if pf != nil && pf.quieted() && c.drainPolls < maxDrainPolls {
					c.drainPolls++
					c.batchPolled = c.poll(pf, maxBatch)
				}
				if len(c.batchPolled) == 0 {
					if pf != nil && pf.polling.CompareAndSwap(true, false) {
						close(pf.done)
					}
					return nil, exitDrained, true, nil
				}
				batch = batch[:0]
			} else {
				// A polled feed's messages after the mailbox's, and
				// its readiness beside the mailbox's wake-up when both
				// are empty.
				fd = c.pollable()
				if fd != nil {
					c.batchPolled = c.poll(fd, maxBatch-len(batch))
				}
				if len(batch) == 0 && len(c.batchPolled) == 0 {
					return fd, 0, false, nil
				}
			}
		}
		c.batch = batch
		kind, end, err := c.handleBatch(ctx, b, batch, c.batchPolled, &c.batchAt)
		c.batchDone(batch, c.batchPolled)
		if end {
			return nil, kind, true, err
		}
	}
}

// handOver hands b the message e, handed over with the actor's wake-up,
// and puts the actor back to sleep if nothing else came meanwhile
// (asleep); if not, and the incarnation goes on, turn must take. It does
// for one message what turn and handleBatch do for a batch, in fewer
// steps: when e is an Ask's request, its reply wakes the asker, who runs
// only once the actor waits again, so every step between the reply and
// that wait is part of the round trip.
func (c *cell[M]) handOver(ctx context.Context, b Behavior[M], e envelope[M]) (asleep bool, kind exitKind, end bool, err error) {
	c.batch = append(c.batch[:0], e) // for loop's recover
	c.batchPolled, c.batchAt = nil, 0
	c.receiving = true
	if e.at == 0 || c.timing == timeNone { // as in receiveAll, without its call
		err = b.Receive(ctx, e.msg)
	} else {
		err = c.handleTimed(ctx, b, e.msg, e.at)
	}
	c.receiving = false
	if err != nil || c.q.halt.Load() {
		if st, err := c.settle(e.msg, err); st != stepOn {
			kind, err := c.endBatch(st, err, c.batch, nil, 0)
			c.batchDone(c.batch, nil)
			return false, kind, true, err
		}
	}
	c.q.pending++
	c.batchDone(c.batch, nil)
	return c.q.sleepHanded(), 0, false, nil
}

// panicked ends the incarnation whose Receive panicked with r, at the
// message c.batchAt of the batch.
func (c *cell[M]) panicked(r any) (exitKind, error) {
	batch, polled, i := c.batch, c.batchPolled, c.batchAt
	st, err := c.settle(c.message(batch, polled, i), &PanicError{Value: r, Stack: debug.Stack()})
	kind, err := c.endBatch(st, err, batch, polled, i)
	c.batchDone(batch, polled)
	return kind, err
}

// batchDone lets the handled messages go, and publishes what the profiler
// recorded of them.
func (c *cell[M]) batchDone(batch []envelope[M], polled []M) {
	clear(batch)
	clear(polled)
	if c.prof != nil {
		c.prof.publish()
	}
}

// handleBatch hands b the messages taken from the mailbox, then those
// polled from a feed, one at a time, *i the one it has. end: the
// incarnation ends, with kind and err; what b did not get is back in the
// mailbox, or dead letters if it is closed. A panic in Receive goes up to
// loop, with c.receiving set.
func (c *cell[M]) handleBatch(ctx context.Context, b Behavior[M], batch []envelope[M], polled []M, i *int) (kind exitKind, end bool, err error) {
	*i = 0
	c.receiving = true
	st, err := c.receiveAll(ctx, b, batch, polled, i)
	c.receiving = false
	if st == stepOn {
		return 0, false, nil
	}
	kind, err = c.endBatch(st, err, batch, polled, *i)
	return kind, true, err
}

// endBatch ends the incarnation at message i of a batch and its polled
// messages, after which receiveAll said st: what b did not get goes back
// in the mailbox, or is dead-lettered if it is closed.
func (c *cell[M]) endBatch(st stepEnd, err error, batch []envelope[M], polled []M, i int) (exitKind, error) {
	if st != stepHaltedBefore { // message i was handled, and ended the incarnation
		c.q.pending++
		i++
	}
	if i < len(batch) {
		c.requeueRest(batch[i:], polled)
	} else {
		c.requeueRest(nil, polled[i-len(batch):])
	}
	return c.ended(st, err)
}

// stepEnd is what became of the incarnation at a message.
type stepEnd uint8

const (
	stepOn           stepEnd = iota // handled; on to the next
	stepHaltedBefore                // halted before it was handled
	stepHaltedAfter                 // halted (closed or restarted) while it was handled
	stepFailed                      // Receive failed on it
)

// receiveAll hands b the messages of batch, then of polled, from *i on,
// while the incarnation goes on, counting each in the queue's pending.
// stepOn: all were handled; else message *i ended the incarnation.
func (c *cell[M]) receiveAll(ctx context.Context, b Behavior[M], batch []envelope[M], polled []M, i *int) (stepEnd, error) {
	for ; *i < len(batch)+len(polled); *i++ {
		if c.q.halt.Load() {
			return stepHaltedBefore, nil
		}
		var err error
		if k := *i; k >= len(batch) {
			if j := k - len(batch); c.timedPoll(j) {
				err = c.handleTimed(ctx, b, polled[j], c.pollAt)
			} else {
				err = b.Receive(ctx, polled[j])
			}
		} else if e := &batch[k]; e.at == 0 || c.timing == timeNone { // not timed, or not in the sample
			err = b.Receive(ctx, e.msg)
		} else {
			err = c.handleTimed(ctx, b, e.msg, e.at)
		}
		if err != nil || c.q.halt.Load() {
			if st, err := c.settle(c.message(batch, polled, *i), err); st != stepOn {
				return st, err
			}
		}
		c.q.pending++
	}
	return stepOn, nil
}

// message returns message i of a batch and its polled messages.
func (c *cell[M]) message(batch []envelope[M], polled []M, i int) M {
	if i < len(batch) {
		return batch[i].msg
	}
	return polled[i-len(batch)]
}

// settle says what became of the incarnation at m, whose Receive returned
// err (or panicked with it), or after which the actor was halted.
func (c *cell[M]) settle(m M, err error) (stepEnd, error) {
	switch {
	case c.q.halt.Load():
		// Closed or halted while handling: Receive's error (most likely
		// ctx's) is no failure, and a request it took will not be
		// answered by this incarnation.
		if a, ok := any(m).(abandoner); ok {
			a.abandon(fmt.Errorf("%w: %w", ErrNoReply, errClosedWhileHandling))
		}
		return stepHaltedAfter, nil
	case err != nil:
		if a, ok := any(m).(abandoner); ok {
			a.abandon(fmt.Errorf("%w: %w", ErrNoReply, err))
		}
		return stepFailed, err
	}
	return stepOn, nil
}

// requeueRest puts the messages of a batch that were not handled back in
// the mailbox, in order, for the next incarnation, or dead-letters them if
// it is closed.
func (c *cell[M]) requeueRest(rest []envelope[M], polled []M) {
	if len(polled) > 0 {
		rest = rest[:len(rest):len(rest)] // appending must not write over the batch
		for _, m := range polled {
			rest = append(rest, envelope[M]{msg: m})
		}
	}
	c.deadLetterAll(c.q.requeue(rest))
}

// ended is how the incarnation ends after receiveAll said st.
func (c *cell[M]) ended(st stepEnd, err error) (exitKind, error) {
	if st != stepFailed {
		return exitHalted, nil
	}
	err = fmt.Errorf("actor: %q failed: %w", c.name, err)
	c.failed(err)
	return exitFailed, err
}

// handleTimed hands b the message m, told at at, and times it for the
// observer. Its panic is recovered here, so that the observer hears of it
// with its time.
func (c *cell[M]) handleTimed(ctx context.Context, b Behavior[M], m M, at time.Duration) error {
	t0 := now()
	err := receive(ctx, b, m)
	t1 := now()
	c.obs.MessageHandled(c.name, t0-at, t1-t0, err)
	return err
}

func (c *cell[M]) failed(err error) {
	var pe *PanicError
	if errors.As(err, &pe) {
		c.log.Warn("actor panicked", zap.Error(err), zap.ByteString("stack", pe.Stack))
	} else {
		c.log.Warn("actor failed", zap.Error(err))
	}
	c.obs.ActorFailed(c.name, err)
}

func receive[M any](ctx context.Context, b Behavior[M], m M) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return b.Receive(ctx, m)
}

func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return f()
}

func (c *cell[M]) stats() Stats {
	return Stats{
		Queued:      c.q.len(),
		Handled:     c.q.handledCount(),
		DeadLetters: c.deadLetters.Load(),
		Restarts:    c.restarts.Load(),
	}
}
