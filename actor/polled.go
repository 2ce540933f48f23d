package actor

import (
	"context"
	"fmt"
	"runtime/debug"

	"go.uber.org/zap"
)

// PolledFeed is a Feed that the actor's own goroutine can read, between
// messages and when its mailbox is empty, instead of a goroutine of the
// feed's putting what it reads into the mailbox: a message then costs one
// hand-over between goroutines fewer, which is most of what a feed costs
// over reading a socket in a loop of one's own. Package patterns' PULL,
// SUB and PAIR mailboxes are polled feeds.
//
// Of an actor's feeds (WithFeed), the first that is a PolledFeed is
// offered polling: the actor calls Attach once, from the end of its first
// successful Start, and if Attach says so it polls the feed from then on
// and never calls Run; otherwise (or for any other feed) it runs the feed
// as a Feed. What a polled feed holds waits in it (a socket's queue, under
// its high-water mark) until the actor takes it, so a busy actor pushes
// back on the feed's peers as a full mailbox does; between a supervised
// actor's incarnations nothing is taken. When the actor is stopped (Stop),
// the ctx given to Attach is cancelled, and the actor, draining, polls the
// feed until a Poll returns nothing (1,024 batches at most):
// a feed whose source goes on receiving should from then on return only
// what it held when ctx ended. Close is
// called once when the actor has ended, as for any feed, and an error from
// Attach or Poll fails the actor as a Run's error does. Ready and Poll are
// called from the actor's goroutine only, one at a time.
type PolledFeed[M any] interface {
	Feed[M]
	// Attach is called once before the first Poll. polled false: run
	// the feed as a Feed instead. An error: the feed cannot receive.
	Attach(ctx context.Context, in Inlet[M]) (polled bool, err error)
	// Ready returns a channel that is closed once Poll has something to
	// return: messages, or an error.
	Ready() <-chan struct{}
	// Poll appends to dst up to max messages that are there now, without
	// waiting, and returns it. A message that cannot be one of the actor's
	// (it does not decode) goes to in.DeadLetter. Poll runs in the actor's
	// goroutine: it hands its messages back, not to in.Put (see Put).
	Poll(in Inlet[M], dst []M, max int) ([]M, error)
}

// maxDrainPolls bounds how many batches a Stop's drain takes from the
// polled feed: one whose source never runs dry (a socket its peers keep
// filling, read by a feed that does not bound its drain as package
// patterns' do) must not hold Stop for ever.
const maxDrainPolls = 1024

// quieted reports whether Stop has cancelled the feed's ctx (or it was
// stopped), without the lock ctx.Err takes.
func (fd *feeder[M]) quieted() bool {
	select {
	case <-fd.ctx.Done():
		return true
	default:
		return false
	}
}

// pollable returns the feed the actor polls now, if any: attached, not
// stopped, not failed.
func (c *cell[M]) pollable() *feeder[M] {
	if fd := c.polled; fd != nil && fd.polling.Load() {
		return fd
	}
	return nil
}

// attach offers fd polling, at its start (see startFeeder). It reports
// whether the feed is polled, or has failed; false: run it as a Feed.
func (c *cell[M]) attach(fd *feeder[M]) bool {
	var polled bool
	err := protect(func() (err error) {
		polled, err = fd.polledFeed.Attach(fd.ctx, Inlet[M]{c, fd, fd.ctx})
		return err
	})
	switch {
	case err != nil:
		c.feedFailed(fd, err)
		return true
	case !polled:
		return false
	}
	fd.polling.Store(true)
	c.q.nudge() // the actor may be waiting for its mailbox only
	return true
}

// poll takes what the polled feed has now, up to room messages, into a
// buffer of fd's that the actor clears once they are handled (see loop).
// They are handled where the feed put them, not copied into envelopes:
// which of them are timed, and since when, the cell keeps (see
// timedPoll).
func (c *cell[M]) poll(fd *feeder[M], room int) []M {
	if room <= 0 {
		return nil
	}
	msgs, err := c.pollFeed(fd, room)
	fd.polledBuf = msgs[:0]
	if err != nil && fd.polling.CompareAndSwap(true, false) {
		if fd.ctx.Err() == nil { // not its socket closed under it by stopFeeder
			c.feedFailed(fd, err)
		} else {
			close(fd.done)
		}
	}
	switch n := uint32(len(msgs)); {
	case n == 0 || c.timing == timeNone:
	case c.timing == timeAll:
		c.pollAt = now()
	default: // the profiler's sample, counted as the queue counts what is told
		c.pollBase, c.pollMask = c.polls, c.q.sampleMask.Load()
		if c.polls += n; n > c.pollMask || c.polls&^c.pollMask != c.pollBase&^c.pollMask {
			c.pollAt = now() // one of them is in the sample
		}
	}
	return msgs
}

// timedPoll says whether message j of the last poll is timed: all of them
// for an observer, those in the sample for the profiler. They were polled
// at c.pollAt.
func (c *cell[M]) timedPoll(j int) bool {
	switch c.timing {
	case timeNone:
		return false
	case timeAll:
		return true
	}
	return (c.pollBase+uint32(j)+1)&c.pollMask == 0
}

// pollFeed is the feed's Poll, its panic an error; recover is deferred in
// place rather than through protect's closure, which would cost an
// allocation each time round the actor's loop.
func (c *cell[M]) pollFeed(fd *feeder[M], max int) (msgs []M, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fd.polledFeed.Poll(Inlet[M]{c, fd, fd.ctx}, fd.polledBuf[:0], max)
}

// feedFailed records why a feed can no longer receive and lets the actor
// handle what its mailbox holds, then fail with it (see cell.run).
func (c *cell[M]) feedFailed(fd *feeder[M], err error) {
	fd.err = fmt.Errorf("actor: %q: feed failed: %w", c.name, err)
	c.log.Error("feed failed", zap.Error(err))
	// done before drain: the actor, finding its mailbox drained, must
	// find the feed's error too.
	close(fd.done)
	c.q.drain()
}
