package patterns

import "errors"

// Errors returned by the package, wrapped with detail; match them with
// errors.Is. Failures of the socket underneath wrap package socket's errors,
// and those of the actor package (ErrStopped, ErrMailboxFull, ErrNoReply,
// ErrAskTimeout) are returned as that package documents them. A panic in a
// codec or a behaviour is an *actor.PanicError, the one panic type of
// zmqflow.
var (
	// ErrDecode is a message from a peer that the codec could not turn into
	// a value. A mailbox reports it as a dead letter (with the frames) and
	// goes on; it is never a panic.
	ErrDecode = errors.New("patterns: message does not decode")
	// ErrEncode is a value the codec could not turn into frames; Tell
	// returns it and the value stays with the caller.
	ErrEncode = errors.New("patterns: value does not encode")
	// ErrStop is what a stage returns to end its pipeline early, as a
	// success: a sink that has what it waits for (the stages are closed), or
	// a source that has told everything (the stages drain first).
	ErrStop = errors.New("patterns: stop the pipeline")
	// ErrDrainCut is a pipeline stopped by a source's ErrStop whose stages
	// did not all drain within its bound (Pipeline.DrainWithin) or Run's
	// ctx: those left were closed, and what they held became dead letters.
	// It wraps the ctx error that cut it.
	ErrDrainCut = errors.New("patterns: pipeline drain cut short")
	// ErrRemote is an error the remote actor replied with (Request.Reply
	// with a non-nil error); its text follows.
	ErrRemote = errors.New("patterns: remote actor replied with an error")
	// ErrReplyLost is the Reason of a dead letter for a reply that a Router
	// or Rep mailbox's socket would not take at once (an asker gone or at
	// its high-water mark with socket.WithRouterMandatory, or the socket
	// closed): the reply, which must not block, is not sent. The socket's
	// error is wrapped too.
	ErrReplyLost = errors.New("patterns: reply not sent")
	// ErrNoReply is a LazyPirate request that got no reply after every retry.
	ErrNoReply = errors.New("patterns: no reply from server, retries exhausted")
	// ErrBadOption is an option out of range, one that does not apply to the
	// constructor it was given to, or a missing endpoint.
	ErrBadOption = errors.New("patterns: invalid option")
	// ErrMissed is the Reason of a dead letter for a message that one or
	// more PUB subscribers missed because they were at their high-water
	// mark.
	ErrMissed = errors.New("patterns: subscriber at high-water mark missed the message")
	// ErrInUse is a mailbox given to a second actor: a socket feeds one.
	ErrInUse = errors.New("patterns: mailbox already feeds an actor")
)
