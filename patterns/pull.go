package patterns

import (
	"context"
	"fmt"

	"github.com/zmqflow/zmqflow/socket"
)

// Pull is the receiving end of a pipeline (guide ch. 1, "Divide and
// Conquer"): it receives from its PUSH peers, fair-queued, decodes each
// message and hands the value on.
//
// Concurrency: Produce (or Each) is the stage's goroutine, the only one that
// touches its socket; other goroutines read the values from the channel they
// give Produce (Each calls its function in the stage's goroutine instead). Endpoint and Close are safe to call from any goroutine.
//
// Blocking: when nobody reads out, Produce waits, the socket's receive queue
// fills, and the senders meet their high-water mark: back-pressure.
type Pull[T any] struct {
	s     *stage
	codec Codec[T]
}

// NewPull makes a Pull stage: a PULL socket, bound and connected as the
// options say (at least one Bind or Connect).
func NewPull[T any](codec Codec[T], opts ...Option) (*Pull[T], error) {
	s, err := newStage(socket.Pull, opts)
	if err != nil {
		return nil, err
	}
	return &Pull[T]{s: s, codec: codec}, nil
}

// Produce receives, decodes and sends each value to out until ctx ends; then
// it closes the socket and returns ctx's error. A message that does not
// decode goes to the OnDecodeError handler (by default Produce returns the
// error). Produce does not close out. It runs once: a second call returns
// ErrClosed.
func (p *Pull[T]) Produce(ctx context.Context, out chan<- T) error {
	sock, err := p.s.begin()
	if err != nil {
		return err
	}
	return p.s.end(recvAll(ctx, p.s, sock, p.codec, out, 0))
}

// Each is Produce with the consumer in the stage's goroutine: it receives,
// decodes and calls f with each value until ctx ends or f returns an error
// (ErrStop included), then closes the socket and returns that error. f must
// not keep the stage waiting long: while it runs nothing is received, and
// the senders meet their high-water mark. It saves Produce's hand-over
// through a channel, the cost of a typed stage over a raw socket. It runs
// once, and not with Produce.
func (p *Pull[T]) Each(ctx context.Context, f func(context.Context, T) error) error {
	sock, err := p.s.begin()
	if err != nil {
		return err
	}
	return p.s.end(recvEach(ctx, p.s, sock, p.codec, 0, func(v T) error { return f(ctx, v) }))
}

// recvAll receives, decodes and sends values to out until ctx ends. skip
// frames are dropped from the front of each message first (SUB's topic).
func recvAll[T any](ctx context.Context, s *stage, sock *socket.Socket, c Codec[T], out chan<- T, skip int) error {
	return recvEach(ctx, s, sock, c, skip, func(v T) error { return send(ctx, out, v) })
}

// recvEach receives and decodes messages and calls f with each value until
// ctx ends or f fails.
func recvEach[T any](ctx context.Context, s *stage, sock *socket.Socket, c Codec[T], skip int, f func(T) error) error {
	for {
		m, err := sock.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.wrap("recv", err)
		}
		v, err := decodeMsg(c, m, skip)
		if err != nil {
			if err := s.badMsg(err); err != nil {
				return err
			}
			continue
		}
		if err := f(v); err != nil {
			return err
		}
	}
}

// decodeMsg decodes a message received, skip frames dropped from its front
// first; every error wraps ErrDecode.
func decodeMsg[T any](c Codec[T], m [][]byte, skip int) (T, error) {
	if len(m) <= skip {
		var zero T
		return zero, fmt.Errorf("%w: %d frames, want more than %d", ErrDecode, len(m), skip)
	}
	return decode(c, m[skip:])
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (p *Pull[T]) Endpoint() string { return p.s.Endpoint() }

// Close closes the socket now, ending a Produce under way with an error. It
// is for a stage that will not run, or must stop at once; it is idempotent.
func (p *Pull[T]) Close() error { return p.s.Close() }
