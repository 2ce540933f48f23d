package patterns

import "github.com/zmqflow/zmqflow/socket"

// HoldCloseAfterLeftOver has f run as a mailbox's close has taken what its
// socket held and is about to close the socket, until the returned func
// is called.
func HoldCloseAfterLeftOver(f func(*socket.Socket)) (undo func()) {
	inboxAfterLeftOver.Store(&f)
	return func() { inboxAfterLeftOver.Store(nil) }
}

// ShutdownLingers reports whether the socket of in, shut down with a ctx
// that has ended, would still linger for what it sends (refusalGrace).
func ShutdownLingers[M any](in *Inbox[M]) bool {
	ctx, cancel := in.lingerCtx(endedCtx)
	defer cancel()
	return ctx.Err() == nil
}
