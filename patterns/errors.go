package patterns

import (
	"errors"
	"fmt"
)

// Errors returned by the package. Each is wrapped with detail (the stage, the
// socket's error, the codec's error) and is matched with errors.Is.
var (
	// ErrDecode is a message whose frames the stage's codec could not turn
	// into a value (or whose codec panicked). The stage reports it through
	// its decode-error handler (see OnDecodeError); by default the stage
	// fails with it.
	ErrDecode = errors.New("patterns: message does not decode")
	// ErrEncode is a value the stage's codec could not turn into frames (or
	// whose codec panicked). The stage fails with it.
	ErrEncode = errors.New("patterns: value does not encode")
	// ErrStop ends a pipeline early without failing it: a stage returns it
	// (for instance a sink that has all the results it wants), every other
	// stage is cancelled, and Run returns nil.
	ErrStop = errors.New("patterns: stop the pipeline")
	// ErrClosed is a stage used after Close, or run a second time: a stage's
	// socket lives for one run.
	ErrClosed = errors.New("patterns: stage closed")
	// ErrNoReply is a request that got no reply: with LazyPirate, after the
	// last retry timed out (the message says how many attempts and how long
	// each waited). The Req stage is still usable: the next request goes out
	// on a fresh socket.
	ErrNoReply = errors.New("patterns: no reply from server, retries exhausted")
	// ErrBadOption is an option value out of range, an option given to a
	// stage it does not apply to, or a stage with no endpoint.
	ErrBadOption = errors.New("patterns: invalid option")
	// ErrPanic is a panic recovered from a stage's function; the error is a
	// *PanicError, which carries the value and the stack.
	ErrPanic = errors.New("patterns: stage panicked")
)

// PanicError is a panic recovered from a pipeline stage, a handler or a
// codec. The pipeline fails with it; it never takes the process down. It is
// not modified after it is made, so any goroutine may read it.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack, from runtime/debug.Stack.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("%v: %v", ErrPanic, e.Value) }

// Is makes errors.Is(err, ErrPanic) true for every PanicError.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns Value when it is an error, so that errors.Is and errors.As
// see through a panic(err).
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}
