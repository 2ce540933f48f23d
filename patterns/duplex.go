package patterns

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/zmqflow/zmqflow/socket"
)

// duplex runs a two-way stage (PAIR, DEALER, ROUTER): one goroutine sends
// what comes from in, another receives into out, so that neither direction
// waits for the other. They are the only goroutines touching the socket, one
// calling Send and one Recv, which socket.Socket allows on these types. A nil
// in sends nothing; a nil out receives nothing. When in is closed the
// sending goroutine ends and the receiving one goes on until ctx ends. duplex
// returns after both ended, with the first error.
func duplex[T any](ctx context.Context, s *stage, sock *socket.Socket, c Codec[T], in <-chan T, out chan<- T) error {
	g, gctx := errgroup.WithContext(ctx)
	if in != nil {
		g.Go(func() error { return sendAll(gctx, s, sock, c, in, nil) })
	}
	if out != nil {
		g.Go(func() error { return recvAll(gctx, s, sock, c, out, 0) })
	}
	return g.Wait()
}
