package patterns

import (
	"context"

	"github.com/zmqflow/zmqflow/socket"
)

// Pair is a two-way link to exactly one peer (guide ch. 2, "Signaling
// Between Threads (PAIR Sockets)"): values from in go to the peer, values
// from the peer come out.
//
// Concurrency: Transform runs two goroutines, the only ones touching the
// socket: one sends (takes from in), one receives (sends to out). Endpoint
// and Close are safe to call from any goroutine.
//
// Blocking: the sender blocks while the peer's queue is full or there is no
// peer yet.
type Pair[T any] struct {
	s     *stage
	codec Codec[T]
}

// NewPair makes a Pair stage: a PAIR socket, bound or connected as the
// options say.
func NewPair[T any](codec Codec[T], opts ...Option) (*Pair[T], error) {
	s, err := newStage(socket.Pair, opts)
	if err != nil {
		return nil, err
	}
	return &Pair[T]{s: s, codec: codec}, nil
}

// Transform sends every value from in to the peer and sends every value
// the peer sends to out, until ctx ends; then it closes the socket and
// returns ctx's error. When in is closed, sending stops and receiving goes
// on; a nil in sends nothing and a nil out receives nothing (with a nil out,
// Transform returns nil once in is closed and sent). It returns early with
// ErrEncode, an unabsorbed decode error (see OnDecodeError) or a socket
// error. It does not close out. It runs once: a second call returns
// ErrClosed.
func (p *Pair[T]) Transform(ctx context.Context, in <-chan T, out chan<- T) error {
	sock, err := p.s.begin()
	if err != nil {
		return err
	}
	return p.s.end(duplex(ctx, p.s, sock, p.codec, in, out))
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (p *Pair[T]) Endpoint() string { return p.s.Endpoint() }

// Close closes the socket now, ending a Transform under way with an error.
// It is for a stage that will not run, or must stop at once; it is
// idempotent.
func (p *Pair[T]) Close() error { return p.s.Close() }
