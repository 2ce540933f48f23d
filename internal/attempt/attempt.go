// Package attempt is the context one attempt of a client's request waits
// in, for the clients that wait in their socket's Recv themselves (the
// guide's Lazy Pirate pattern, ch. 4): the attempt ends when its time is
// up, so that the client resends or gives up, or when the request's ctx
// ends. It is made once and used again by request after request, since
// requests come by the thousand a second: the clock is set at each
// attempt rather than made, its Done channel is made again only after an
// attempt that ended, and its hook on the ctxs it watches is made once.
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
	parent   context.Context
	timer    *time.Timer   // calls expire once the attempt's time is up
	hook     func()        // a.check, made once: the hook on every watched ctx that can end
	stops    []func() bool // stop the hooks on the request's watched ctxs
	stopLife func() bool   // stops the hook on life; nil without one
	armed    bool          // the clock was set for this request

	mu      sync.Mutex
	own     int               // watched[:own] is life, kept from request to request
	watched []context.Context // life, then the request's ctxs
	done    chan struct{}     // closed when the attempt ends
	cause   error             // why it ended: ErrExpired, or a watched ctx's error
}

// New returns an Attempt for a first request.
func New() *Attempt {
	a := &Attempt{done: make(chan struct{})}
	a.hook = a.check
	a.timer = time.AfterFunc(time.Hour, a.expire)
	a.timer.Stop()
	return a
}

// NewWithin returns an Attempt whose attempts also end when life does
// (with its error), for a client whose requests all end when it closes:
// life is watched once, not by each request. An attempt begun after life
// ended ends at once.
func NewWithin(life context.Context) *Attempt {
	a := New()
	a.watched, a.own = append(a.watched, life), 1
	if life.Done() != nil {
		a.stopLife = context.AfterFunc(life, a.hook)
	}
	return a
}

// Watch has the attempts of one request end when any of ctxs ends (with
// its error), as well as when their time is up. The first is the parent,
// whose values and deadline the attempts carry.
func (a *Attempt) Watch(ctxs ...context.Context) {
	a.parent = ctxs[0]
	a.mu.Lock()
	a.watched = append(a.watched, ctxs...) // before the hooks, which may run at once
	a.mu.Unlock()
	for _, ctx := range ctxs {
		if ctx.Done() != nil {
			a.stops = append(a.stops, context.AfterFunc(ctx, a.hook))
		}
	}
}

// check is the hook on the watched ctxs: it ends the attempt if one of
// them has ended. One that runs late (its ctx ended as its request was
// released) looks at the ctxs of the request in progress, not its own:
// it ends nothing of a request whose ctxs have not ended.
func (a *Attempt) check() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checkLocked()
}

func (a *Attempt) checkLocked() {
	for _, ctx := range a.watched {
		if err := ctx.Err(); err != nil {
			a.endLocked(err)
			return
		}
	}
}

// Begin starts an attempt that has d to get its reply (no limit but the
// watched ctxs' if d is 0), after Watch or after the previous attempt
// ended (its Done closed).
func (a *Attempt) Begin(d time.Duration) {
	a.mu.Lock()
	if a.cause == ErrExpired {
		a.done, a.cause = make(chan struct{}), nil
	}
	// A ctx that ended between attempts found the last one over already:
	// its hook ended nothing.
	a.checkLocked()
	a.mu.Unlock()
	if d > 0 {
		a.armed = true
		a.timer.Reset(d)
	}
}

// Release ends the request's use of a, and reports whether a can serve
// another request: not when a call of expire may still be on its way (a
// clock that fired as the reply came), which would end that request's
// attempt. A hook on a ctx that ended may still run, but ends nothing (see
// check). An Attempt that cannot serve another stops watching life.
func (a *Attempt) Release() bool {
	stopped := !a.armed || a.timer.Stop()
	for _, stop := range a.stops {
		stop()
	}
	a.mu.Lock()
	// An attempt that expire ended has seen the last of it.
	reusable := stopped || a.cause == ErrExpired
	if a.cause != nil {
		a.done, a.cause = make(chan struct{}), nil
	}
	clear(a.watched[a.own:])
	a.watched = a.watched[:a.own]
	a.mu.Unlock()
	clear(a.stops)
	a.parent, a.stops, a.armed = nil, a.stops[:0], false
	if !reusable && a.stopLife != nil {
		a.stopLife()
	}
	return reusable
}

func (a *Attempt) expire() { a.end(ErrExpired) }

func (a *Attempt) end(cause error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.endLocked(cause)
}

func (a *Attempt) endLocked(cause error) {
	if a.cause == nil {
		a.cause = cause
		close(a.done)
	}
}

// Ended returns why the attempt ended, ErrExpired or a watched ctx's
// error; nil while it runs.
func (a *Attempt) Ended() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cause
}

// Deadline is the parent's: the attempt's own end is not a deadline a
// callee should plan by.
func (a *Attempt) Deadline() (time.Time, bool) { return a.parent.Deadline() }

// Done is closed when the attempt ends.
func (a *Attempt) Done() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done
}

// Err is nil while the attempt runs, then context.DeadlineExceeded if its
// time ran out, or a watched ctx's error.
func (a *Attempt) Err() error {
	if err := a.Ended(); err != ErrExpired {
		return err
	}
	return context.DeadlineExceeded
}

// Value is the parent's.
func (a *Attempt) Value(key any) any { return a.parent.Value(key) }
