package actor

import (
	"fmt"
	"time"
)

// Observer receives an actor's lifecycle events, its dead letters, and the
// timing of every message it handles: the hooks that logs and metrics hang on.
// Lifecycle events never travel in an actor's message type M; they come here.
//
// The methods must be safe for concurrent use: they are called from the
// goroutines of many actors at once, and DeadLetter from any sender's
// goroutine. For one actor, ActorStarted, MessageHandled, ActorFailed and
// ActorStopped of an incarnation come from its goroutine, in that order, never
// concurrently. They are called inline: they must be quick and must not block,
// and must not call Stop or Close of the actor that calls them.
//
// Embed NopObserver to implement only some methods; methods added to the
// interface later will then be no-ops.
type Observer interface {
	// ActorStarted is called when an actor's Start hook succeeded, before its
	// first message; for a supervised child, at its first start only.
	ActorStarted(name string)
	// ActorFailed is called when an incarnation failed: Start or Receive
	// returned an error or panicked. A supervised child may be restarted next.
	ActorFailed(name string, err error)
	// ActorRestarted is called when a supervisor restarted a child: restarts
	// counts the child's restarts so far, cause is the failure that led to it
	// (the child's own, or a sibling's under AllForOne and RestForOne).
	ActorRestarted(name string, restarts int, cause error)
	// ActorStopped is called once when an actor or supervisor ended for good.
	// err is nil after Stop or Close (unless the behaviour's Stop hook then
	// failed: its error, or its *PanicError), and the failure otherwise.
	ActorStopped(name string, err error)
	// DeadLetter is called for every message that will not be handled: told to
	// a stopped actor, left in the mailbox at Close or failure, or dropped by
	// a DropNewest or DropOldest mailbox.
	DeadLetter(d DeadLetter)
	// MessageHandled is called after each Receive: queued is the time from
	// Tell to the start of Receive, handling the time Receive took, err what
	// it returned. When the observer is NopObserver the clock is not read.
	MessageHandled(name string, queued, handling time.Duration, err error)
}

// DeadLetter is a message an actor will not handle, and why. It is a plain
// value; Message is the sender's value as it was told, shared with whoever
// else holds it, so an Observer must not modify it.
type DeadLetter struct {
	// Actor is the name of the actor it was for.
	Actor string
	// Message is the message, of the actor's type M; or, for what a feed
	// received and could not make one of (a socket message that did not
	// decode, one still queued in a socket when it closed), what it
	// received, as the feed says (package patterns: the frames, a
	// socket.Msg).
	Message any
	// Reason says why, matched with errors.Is: ErrStopped (the actor was
	// stopping or gone) or ErrDropped (a dropping mailbox was full) from
	// the actor itself; a feed or a remote reference gives reasons of its
	// own (package patterns: a message that did not decode, one a PUB
	// subscriber missed, a reply that came too late or could not be sent).
	// An Observer should treat a reason it does not know as "lost".
	Reason error
}

func (d DeadLetter) String() string {
	return fmt.Sprintf("dead letter for %q: %v (%v)", d.Actor, d.Message, d.Reason)
}

// NopObserver is an Observer that does nothing, the default. It is safe for
// concurrent use. An actor whose observer is NopObserver does not read the
// clock per message.
type NopObserver struct{}

func (NopObserver) ActorStarted(string)                                        {}
func (NopObserver) ActorFailed(string, error)                                  {}
func (NopObserver) ActorRestarted(string, int, error)                          {}
func (NopObserver) ActorStopped(string, error)                                 {}
func (NopObserver) DeadLetter(DeadLetter)                                      {}
func (NopObserver) MessageHandled(string, time.Duration, time.Duration, error) {}

// clockBase makes now() a monotonic duration, cheaper to store than a Time.
var clockBase = time.Now()

func now() time.Duration { return time.Since(clockBase) }
