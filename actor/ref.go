package actor

import (
	"context"
	"fmt"
)

// Ref is the address of an actor: the only way other goroutines reach it.
// It is a small value, safe to copy, compare and share, and all its methods
// are safe for concurrent use from any number of goroutines. A Ref to a
// supervised child stays valid across the child's restarts: messages told
// while it restarts wait in its mailbox.
//
// The zero Ref is an actor that is always stopped: Tell returns ErrStopped.
type Ref[M any] struct{ c *cell[M] }

// Tell puts m in the actor's mailbox and returns; it does not wait for m to
// be handled. Messages from one sender are handled in the order told.
//
// On a full Bounded mailbox, Tell blocks until there is room or ctx ends,
// then returns ErrMailboxFull wrapping ctx's error; m was not delivered. On a
// dropping or Unbounded mailbox it never blocks and returns nil even when
// the policy dropped a message (reported as a DeadLetter). When the actor is
// stopping or gone, Tell returns ErrStopped and m becomes a DeadLetter.
func (r Ref[M]) Tell(ctx context.Context, m M) error {
	if r.c == nil {
		return fmt.Errorf("%w (zero Ref)", ErrStopped)
	}
	return r.c.tell(ctx, m, true)
}

// TryTell is Tell that never blocks: on a full Bounded mailbox it returns
// ErrMailboxFull at once, and m stays with the caller (no dead letter).
func (r Ref[M]) TryTell(m M) error {
	if r.c == nil {
		return fmt.Errorf("%w (zero Ref)", ErrStopped)
	}
	return r.c.tell(context.Background(), m, false)
}

// Name returns the actor's name ("" for the zero Ref).
func (r Ref[M]) Name() string {
	if r.c == nil {
		return ""
	}
	return r.c.name
}

// Stats returns the actor's counters, read without stopping it.
func (r Ref[M]) Stats() Stats {
	if r.c == nil {
		return Stats{}
	}
	return r.c.stats()
}

// Stats are an actor's counters, a plain value, since it was spawned (a supervised child's,
// across its restarts). Each field is read atomically; together they are a
// snapshot only when the actor is idle.
type Stats struct {
	// Queued is the number of messages in the mailbox, those the actor has
	// taken in its current batch included.
	Queued int
	// Handled is the number of Receive calls that returned.
	Handled uint64
	// DeadLetters is the number of messages reported as dead letters: told
	// after the actor stopped, left at Close or failure, or dropped.
	DeadLetters uint64
	// Restarts is the number of times a supervisor restarted the actor.
	Restarts uint64
}
