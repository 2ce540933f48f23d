package pirate

import (
	"context"
	"sync"
	"time"
)

// attempt is the context one attempt of a Request reads the socket in:
// socket.Recv waits on it directly, so that a Request alone in flight
// waits for its reply as a REQ socket's caller does, on the socket's own
// wake-up, with no poll channel made per reply and no select of its own.
// It ends when the attempt's time is up (cause errAttempt: resend or give
// up) or when the Request's ctx ends (cause that ctx's error). A Request
// keeps its attempt in its slot, and slots are used again: the clock is
// set at each attempt rather than made, and the Done channel is made
// again only after an attempt that ended.
type attempt struct {
	parent context.Context
	timer  *time.Timer // calls expire once the attempt's time is up
	unhook func() bool // stops the call of end when parent ends; nil: parent never ends
	armed  bool        // the clock was set for this Request

	mu    sync.Mutex
	done  chan struct{} // closed when the attempt ends
	cause error         // why it ended: errAttempt, or parent's error
}

func newAttempt() *attempt {
	a := &attempt{done: make(chan struct{})}
	a.timer = time.AfterFunc(time.Hour, a.expire)
	a.timer.Stop()
	return a
}

// watch makes ctx the parent of the attempts of one Request.
func (a *attempt) watch(ctx context.Context) {
	a.parent = ctx
	if ctx.Done() != nil {
		// ctx, not a.parent: the call may come after release.
		a.unhook = context.AfterFunc(ctx, func() { a.end(ctx.Err()) })
	}
}

// begin starts an attempt that has d to get its reply. Called by the
// Request only, after the previous attempt ended (its Done closed) or
// after watch.
func (a *attempt) begin(d time.Duration) {
	a.mu.Lock()
	if a.cause == errAttempt {
		a.done, a.cause = make(chan struct{}), nil
	}
	a.mu.Unlock()
	a.armed = true
	a.timer.Reset(d)
}

// release ends the Request's use of a, and reports whether a can serve
// another Request: not when a call of expire or of parent's hook may
// still be on its way (a clock that fired as the reply came, a ctx that
// ended), which would end that Request's attempt.
func (a *attempt) release() bool {
	stopped := !a.armed || a.timer.Stop()
	unhooked := a.unhook == nil || a.unhook()
	a.mu.Lock()
	// An attempt that expire ended has seen the last of it.
	reusable := (stopped || a.cause == errAttempt) && unhooked
	if a.cause != nil {
		a.done, a.cause = make(chan struct{}), nil
	}
	a.mu.Unlock()
	a.parent, a.unhook, a.armed = nil, nil, false
	return reusable
}

func (a *attempt) expire() { a.end(errAttempt) }

func (a *attempt) end(cause error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cause == nil {
		a.cause = cause
		close(a.done)
	}
}

// ended returns why the attempt ended, nil while it runs.
func (a *attempt) ended() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cause
}

// Deadline is the parent's: the attempt's own end is not a deadline a
// callee should plan by.
func (a *attempt) Deadline() (time.Time, bool) { return a.parent.Deadline() }

// Done is closed when the attempt ends.
func (a *attempt) Done() <-chan struct{} { return a.done }

// Err is nil while the attempt runs, then context.DeadlineExceeded if its
// time ran out, or the parent's error.
func (a *attempt) Err() error {
	switch err := a.ended(); err {
	case errAttempt:
		return context.DeadlineExceeded
	default:
		return err
	}
}

// Value is the parent's.
func (a *attempt) Value(key any) any { return a.parent.Value(key) }
