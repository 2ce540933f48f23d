package broker

// What the files still in this package (mdp*, dist*) used from those that
// moved to broker/pirate and broker/internal/ppp, kept as it was until
// they move too; then this file goes.

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// Handler does the work of one request: it gets the request's body frames
// (the address stack is the worker's business) and returns the reply's.
// An MDPWorker calls it from one goroutine at a time, never concurrently,
// and cancels ctx when the worker is closed. The request frames belong to
// the handler; the reply frames belong to the worker once returned. An
// error, or a panic, gives the request back (see ErrHandler).
type Handler func(ctx context.Context, request [][]byte) ([][]byte, error)

// callHandler runs h, turning an error or a panic into one wrapping
// ErrHandler.
func callHandler(ctx context.Context, h Handler, body [][]byte) (reply [][]byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %w", ErrHandler, &actor.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	reply, err = h(ctx, body)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrHandler, err)
	}
	return reply, err
}

// readLoop feeds a socket's messages to out. With want non-nil it reads one
// message per token taken from want.
func readLoop(ctx context.Context, s *socket.Socket, want <-chan struct{}, out chan<- socket.Msg, failed chan<- error) {
	for {
		if want != nil {
			select {
			case <-want:
			case <-ctx.Done():
				return
			}
		}
		m, err := s.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil {
				failed <- fmt.Errorf("broker: receive: %w", err)
			}
			return
		}
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

// maxQuoted bounds what an error quotes of a peer's frame: enough to see
// what it was, while a frame of any size (256 MiB by default) makes a
// short error and log line, not one four times its size.
const maxQuoted = 32

// quoteFrame quotes a frame for an error, cut at maxQuoted bytes.
func quoteFrame(f []byte) string {
	if len(f) <= maxQuoted {
		return strconv.Quote(string(f))
	}
	return fmt.Sprintf("%q... (%d bytes)", f[:maxQuoted], len(f))
}
