package patterns

import (
	"context"

	"github.com/zmqflow/zmqflow/socket"
)

// Push is the sending end of a pipeline (guide ch. 1, "Divide and Conquer"):
// each value it takes is encoded and sent to one PULL peer, round-robin over
// the peers that have room.
//
// Concurrency: Consume (or Generate) is the stage's goroutine, the only one
// that touches its socket; other goroutines hand it values over the channel
// they give Consume (Generate runs its producer in the stage's goroutine
// instead). Endpoint and Close are safe to call from any goroutine.
//
// Blocking: Consume blocks while every peer is at its high-water mark (or
// there is none yet), which slows the producer down: back-pressure.
type Push[T any] struct {
	s     *stage
	codec Codec[T]
}

// NewPush makes a Push stage: a PUSH socket, bound and connected as the
// options say (at least one Bind or Connect).
func NewPush[T any](codec Codec[T], opts ...Option) (*Push[T], error) {
	s, err := newStage(socket.Push, opts)
	if err != nil {
		return nil, err
	}
	return &Push[T]{s: s, codec: codec}, nil
}

// Consume sends every value from in until in is closed, then closes the
// socket, which lingers while queued messages go out (socket.WithLinger), and
// returns nil. It returns early with the error when ctx ends, a value does
// not encode (ErrEncode) or the socket fails; the socket is then closed
// without lingering. Consume runs once: a second call returns ErrClosed.
func (p *Push[T]) Consume(ctx context.Context, in <-chan T) error {
	sock, err := p.s.begin()
	if err != nil {
		return err
	}
	return p.s.end(sendAll(ctx, p.s, sock, p.codec, in, nil))
}

// Generate is Consume with the producer in the stage's goroutine: gen runs
// there and calls send for each value, which encodes and sends it at once
// (blocking at the high-water mark, within ctx). When gen returns nil (and
// ctx has not ended) the
// socket is closed, lingering while queued messages go out, and Generate
// returns nil; when gen or send fails, the socket is closed without
// lingering and Generate returns the error. send must not be called after gen
// returned, nor from another goroutine. It saves Consume's hand-over through
// a channel, the cost of a typed stage over a raw socket. It runs once, and
// not with Consume.
func (p *Push[T]) Generate(ctx context.Context, gen func(ctx context.Context, send func(T) error) error) error {
	sock, err := p.s.begin()
	if err != nil {
		return err
	}
	send := func(v T) error { return sendOne(ctx, p.s, sock, p.codec, v, nil) }
	err = gen(ctx, send)
	if err == nil {
		err = ctx.Err()
	}
	return p.s.end(err)
}

// sendAll encodes and sends every value from in until in is closed.
// prefix, if not nil, puts a frame in front of each message (PUB's topic).
func sendAll[T any](ctx context.Context, s *stage, sock *socket.Socket, c Codec[T], in <-chan T, prefix func(T) []byte) error {
	for {
		var v T
		var ok bool
		select {
		case v, ok = <-in:
		default:
			select {
			case v, ok = <-in:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !ok {
			// A closed in is a clean end, unless it closed because the
			// pipeline is being cancelled (a source's From closes it then).
			return ctx.Err()
		}
		if err := sendOne(ctx, s, sock, c, v, prefix); err != nil {
			return err
		}
	}
}

// sendOne encodes and sends v.
func sendOne[T any](ctx context.Context, s *stage, sock *socket.Socket, c Codec[T], v T, prefix func(T) []byte) error {
	frames, err := encode(c, v)
	if err != nil {
		return err
	}
	if prefix != nil {
		m := make(socket.Msg, 0, len(frames)+1)
		frames = append(append(m, prefix(v)), frames...)
	}
	if err := sock.Send(ctx, frames); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.wrap("send", err)
	}
	return nil
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (p *Push[T]) Endpoint() string { return p.s.Endpoint() }

// Close closes the socket now, ending a Consume under way with an error. It
// is for a stage that will not run, or must stop at once; it is idempotent.
func (p *Push[T]) Close() error { return p.s.Close() }
