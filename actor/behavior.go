package actor

import "context"

// Behavior is what an actor does with one message of type M.
//
// Receive is called from the actor's goroutine only, one message at a time,
// never concurrently: the behaviour's state needs no locks as long as nothing
// else touches it. ctx is the actor's context: it carries the values of the
// ctx given to Spawn (or Supervise) and is cancelled when the actor is closed
// or halted for a restart, so a Receive that blocks must select on ctx.Done.
//
// A nil error means the message was handled. An error, or a panic (recovered
// into a *PanicError), fails the actor: a spawned actor stops and reports it
// from Err; a supervised one is restarted under its supervisor's strategy.
// The message that failed is not handled again.
type Behavior[M any] interface {
	Receive(ctx context.Context, m M) error
}

// BehaviorFunc is an adapter to allow the use of ordinary functions as
// behaviours. It is called as Behavior.Receive is: from the actor's goroutine,
// one message at a time. A BehaviorFunc that closes over variables shares them with
// whoever else sees them: keep such state to the function.
type BehaviorFunc[M any] func(ctx context.Context, m M) error

// Receive calls f(ctx, m).
func (f BehaviorFunc[M]) Receive(ctx context.Context, m M) error { return f(ctx, m) }

// Starter is implemented by a behaviour that sets itself up before the first
// message: opens a file, dials a socket. Start is called once per incarnation
// (so again after each restart), in the actor's goroutine, before any Receive.
// ctx is the actor's context, also cancelled when the ctx given to Spawn or
// Supervise ends during the start, and when its supervisor is told to stop
// during a restart; Start must return when ctx is done. An error (or a panic)
// fails the start: Spawn returns it wrapped in ErrStartFailed and Stop is not
// called.
type Starter interface {
	Start(ctx context.Context) error
}

// Stopper is implemented by a behaviour that releases resources when an
// incarnation ends, whatever ended it: a drained Stop, Close, a failure, or a
// halt for a restart. Stop is called once, in the actor's goroutine, after the
// last Receive returned, and only if Start succeeded. An error it returns
// becomes the actor's error when it had none.
//
// Stop gets no ctx, and nothing can cut it short: a Stop that does not
// return holds the actor's Stop and Close, and its supervisor's, however
// their ctx ends, since they return only once the actor's goroutine ended.
// Bound what it waits on itself.
type Stopper interface {
	Stop() error
}
