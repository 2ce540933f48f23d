// Package attempt is the context one attempt of a client's request waits
// in, for the clients that wait in their socket's Recv themselves (the
// guide's Lazy Pirate pattern, ch. 4): the attempt ends when its time is
// up, so that the client resends or gives up, or when the request's ctx
// ends. It is made once and used again by request after request, since
// requests come by the thousand a second: the clock is set at each
// attempt rather than made, and its Done channel is made again only after
// an attempt that ended.
package attempt

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrExpired is why an attempt whose time ran out ended (Ended). Its Err
// is context.DeadlineExceeded.
var ErrExpired = errors.New("attempt: no reply in time")

// Attempt is a context.Context for the attempts of one request at a time.
//
// Concurrency: Watch, Begin and Release are called by the request's
// goroutine only, in that order (Begin once per attempt); the context
// methods and Ended from any goroutine. An Attempt starts no goroutine of
// its own: its clock's and the ctx hook's calls, from the runtime's, end
// at once.
type Attempt struct {
	parent context.Context
	timer  *time.Timer   // calls expire once the attempt's time is up
	hooks  []func() bool // stop the hooks on the watched ctxs that can end
	armed  bool          // the clock was set for this request

	mu    sync.Mutex
	done  chan struct{} // closed when the attempt ends
	cause error         // why it ended: ErrExpired, or parent's error
}

// New returns an Attempt for a first request.
func New() *Attempt {
	a := &Attempt{done: make(chan struct{})}
	a.timer = time.AfterFunc(time.Hour, a.expire)
	a.timer.Stop()
	return a
}

// Watch has the attempts of one request end when any of ctxs ends (with
// its error), as well as when their time is up. The first is the parent,
// whose values and deadline the attempts carry.
func (a *Attempt) Watch(ctxs ...context.Context) {
	a.parent = ctxs[0]
	for _, ctx := range ctxs {
		if ctx.Done() != nil {
			// ctx, not a.parent: the hook may run after Release.
			a.hooks = append(a.hooks, context.AfterFunc(ctx, func() { a.end(ctx.Err()) }))
		}
	}
}

// Begin starts an attempt that has d to get its reply, after Watch or
// after the previous attempt ended (its Done closed).
func (a *Attempt) Begin(d time.Duration) {
	a.mu.Lock()
	if a.cause == ErrExpired {
		a.done, a.cause = make(chan struct{}), nil
	}
	a.mu.Unlock()
	a.armed = true
	a.timer.Reset(d)
}

// Release ends the request's use of a, and reports whether a can serve
// another request: not when a call of expire or of the ctx's hook may
// still be on its way (a clock that fired as the reply came, a ctx that
// ended), which would end that request's attempt.
func (a *Attempt) Release() bool {
	stopped := !a.armed || a.timer.Stop()
	unhooked := true
	for _, stop := range a.hooks {
		unhooked = stop() && unhooked
	}
	a.mu.Lock()
	// An attempt that expire ended has seen the last of it.
	reusable := (stopped || a.cause == ErrExpired) && unhooked
	if a.cause != nil {
		a.done, a.cause = make(chan struct{}), nil
	}
	a.mu.Unlock()
	clear(a.hooks)
	a.parent, a.hooks, a.armed = nil, a.hooks[:0], false
	return reusable
}

func (a *Attempt) expire() { a.end(ErrExpired) }

func (a *Attempt) end(cause error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cause == nil {
		a.cause = cause
		close(a.done)
	}
}

// Ended returns why the attempt ended, ErrExpired or the parent's error;
// nil while it runs.
func (a *Attempt) Ended() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cause
}

// Deadline is the parent's: the attempt's own end is not a deadline a
// callee should plan by.
func (a *Attempt) Deadline() (time.Time, bool) { return a.parent.Deadline() }

// Done is closed when the attempt ends.
func (a *Attempt) Done() <-chan struct{} { return a.done }

// Err is nil while the attempt runs, then context.DeadlineExceeded if its
// time ran out, or the parent's error.
func (a *Attempt) Err() error {
	if err := a.Ended(); err != ErrExpired {
		return err
	}
	return context.DeadlineExceeded
}

// Value is the parent's.
func (a *Attempt) Value(key any) any { return a.parent.Value(key) }
