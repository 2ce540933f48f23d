package actor

import (
	"errors"
	"fmt"
)

// Errors returned by the package. Each is wrapped with detail (the actor's
// name, the context's error) and is matched with errors.Is.
var (
	// ErrStopped is a message the actor will never handle: it was told to an
	// actor that is stopping or gone, or it was still in the mailbox when the
	// actor was closed or failed. The message is also reported as a dead letter.
	ErrStopped = errors.New("actor: stopped")
	// ErrMailboxFull is a Bounded mailbox with no room: TryTell returns it at
	// once, Tell returns it (with the context's error) when ctx ends first.
	// The message stays with the sender; it is not a dead letter.
	ErrMailboxFull = errors.New("actor: mailbox full")
	// ErrDropped is the Reason of a dead letter that a DropNewest or DropOldest
	// mailbox dropped because it was full.
	ErrDropped = errors.New("actor: mailbox full, message dropped")
	// ErrAskTimeout is an Ask whose request reached the actor's mailbox but
	// whose reply did not come before ctx ended. It wraps ctx's error.
	ErrAskTimeout = errors.New("actor: ask: request delivered, no reply within deadline")
	// ErrNoReply is an Ask whose request the actor took and then ended
	// without replying: Receive failed on it (an error or a panic, which it
	// wraps), or the actor was closed or restarted while handling it.
	ErrNoReply = errors.New("actor: ask: request handled, actor ended without a reply")
	// ErrStartFailed is a Spawn or Supervise whose behaviour's Start hook
	// returned an error (wrapped) or panicked.
	ErrStartFailed = errors.New("actor: start failed")
	// ErrRestartIntensity is a supervisor that gave up: a child failed more
	// often than the restart intensity allows. The supervisor's error names
	// the child and wraps its last failure.
	ErrRestartIntensity = errors.New("actor: supervisor: restart intensity exceeded")
	// ErrBadOption is an option value out of range, or an option given to a
	// constructor it does not apply to.
	ErrBadOption = errors.New("actor: invalid option")
	// ErrEnded is the cause a supervisor gives for a child that ended on
	// its own, neither failing nor stopped by the supervisor (its feed ran
	// dry, say): a supervised child is meant to run until it is stopped, so
	// the supervisor restarts it as if it had failed.
	ErrEnded = errors.New("actor: supervisor: child ended on its own")
)

// PanicError is a panic recovered from a behaviour's Receive, Start or Stop
// (or a child's factory). The actor fails with it (its supervisor, if any,
// restarts it); it never takes the process down. It is not modified after it
// is made, so any goroutine may read it.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack, from runtime/debug.Stack.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("actor: panic: %v", e.Value) }

// Unwrap returns Value when it is an error, so that errors.Is and errors.As
// see through a panic(err).
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}
