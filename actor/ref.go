package actor

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Ref is the address of an actor: the only way other goroutines reach it.
// It is a small value, safe to copy, compare and share, and all its methods
// are safe for concurrent use from any number of goroutines. A Ref to a
// supervised child stays valid across the child's restarts: messages told
// while it restarts wait in its mailbox.
//
// A Ref reaches an actor in this process (Spawn, Child.Ref) or one in
// another process through a Remote (RefTo; package patterns dials them over
// sockets). Code that holds a Ref cannot tell which, and needs no change when
// the actor moves: the same Tell, TryTell, Ask.
//
// The zero Ref is an actor that is always stopped: Tell returns ErrStopped.
type Ref[M any] struct {
	c    *cell[M]                 // an actor in this process, or
	slot *atomic.Pointer[cell[M]] // a supervised child's, set when supervised, or
	r    Remote[M]                // the way to one outside it
}

// local returns the cell of an actor in this process, or nil.
func (r Ref[M]) local() *cell[M] {
	if r.c != nil {
		return r.c
	}
	if r.slot != nil {
		return r.slot.Load()
	}
	return nil
}

func (r Ref[M]) none() error {
	if r.slot != nil {
		return fmt.Errorf("%w (child not supervised yet)", ErrStopped)
	}
	return fmt.Errorf("%w (zero Ref)", ErrStopped)
}

// Remote is the sending end of a Ref to an actor outside this process: a
// socket that sends, with a codec (package patterns makes them). Its methods
// keep the promises of Ref's: Tell blocks within ctx where the actor's side
// has no room (a socket's high-water mark) and returns ErrMailboxFull
// wrapping ctx's error; a message the transport drops is reported as a
// DeadLetter, never silently lost; a Remote that was closed returns
// ErrStopped. A Tell of a Request (from Ask) carries the request, and the
// Remote replies to it once, with the answer or an error, unless its asker
// gave up first (its ctx ended). Remote's methods must be safe for
// concurrent use.
type Remote[M any] interface {
	Tell(ctx context.Context, m M) error
	TryTell(m M) error
	// Name names the actor for errors and dead letters, typically from the
	// socket type and endpoint ("PUSH >tcp://host:5557").
	Name() string
	// Stats returns the sending side's counters: Handled is what it sent,
	// DeadLetters what it reported as dead letters; Queued is what waits to
	// go out, where the transport counts it (package patterns' do not: 0).
	Stats() Stats
}

// RefTo returns a Ref that sends through r. RefTo(nil) is the zero Ref.
func RefTo[M any](r Remote[M]) Ref[M] { return Ref[M]{r: r} }

// Tell puts m in the actor's mailbox and returns; it does not wait for m to
// be handled. Messages from one sender are handled in the order told.
//
// On a full Bounded mailbox, Tell blocks until there is room or ctx ends,
// then returns ErrMailboxFull wrapping ctx's error; m was not delivered. On a
// dropping or Unbounded mailbox it never blocks and returns nil even when
// the policy dropped a message (reported as a DeadLetter). When the actor is
// stopping or gone, Tell returns ErrStopped and m becomes a DeadLetter.
func (r Ref[M]) Tell(ctx context.Context, m M) error {
	if c := r.local(); c != nil {
		return c.tell(ctx, m, true)
	}
	if r.r != nil {
		return r.r.Tell(ctx, m)
	}
	return r.none()
}

// TryTell is Tell that never blocks: on a full Bounded mailbox it returns
// ErrMailboxFull at once, and m stays with the caller (no dead letter).
func (r Ref[M]) TryTell(m M) error {
	if c := r.local(); c != nil {
		return c.tell(context.Background(), m, false)
	}
	if r.r != nil {
		return r.r.TryTell(m)
	}
	return r.none()
}

// Name returns the actor's name ("" for the zero Ref).
func (r Ref[M]) Name() string {
	if c := r.local(); c != nil {
		return c.name
	}
	if r.r != nil {
		return r.r.Name()
	}
	return ""
}

// IsRemote reports whether the actor is reached through a Remote.
func (r Ref[M]) IsRemote() bool { return r.r != nil }

// Stats returns the actor's counters, read without stopping it; for an
// actor reached through a Remote, the sending side's (see Remote.Stats).
func (r Ref[M]) Stats() Stats {
	if c := r.local(); c != nil {
		return c.stats()
	}
	if r.r != nil {
		return r.r.Stats()
	}
	return Stats{}
}

// Stats are an actor's counters, a plain value, since it was spawned (a supervised child's,
// across its restarts). Each field is read atomically; together they are a
// snapshot only when the actor is idle.
type Stats struct {
	// Queued is the number of messages in the mailbox, those the actor has
	// taken in its current batch included.
	Queued int
	// Handled is the number of Receive calls that returned. It is brought
	// up to date when the actor comes back to its mailbox after each batch
	// of messages it took (up to 128): while Receive runs, those handled
	// before it in the same batch may not be counted yet.
	Handled uint64
	// DeadLetters is the number of messages reported as dead letters: told
	// after the actor stopped, left at Close or failure, or dropped.
	DeadLetters uint64
	// Restarts is the number of times a supervisor restarted the actor.
	Restarts uint64
}
