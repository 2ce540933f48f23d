package patterns

import (
	"context"

	"github.com/zmqflow/zmqflow/socket"
)

// Router is the addressing end of request-reply (guide ch. 3, "The
// Request-Reply Mechanisms", "ROUTER Broker and REQ Workers"): every message
// received comes out with its sender's routing identity at the front of its
// Route, and every envelope sent goes to the peer its Route starts with.
//
// A message to a peer that is not connected is dropped, as libzmq does, and
// counted; use WithSocketOptions(socket.WithRouterMandatory()) to make it an
// error that ends the stage instead.
//
// Concurrency: Transform runs two goroutines, the only ones touching the
// socket: one sends (takes from in), one receives (sends to out). Endpoint
// and Close are safe to call from any goroutine.
type Router[T any] struct {
	s     *stage
	codec Codec[Envelope[T]]
}

// NewRouter makes a Router stage: a ROUTER socket, bound and connected as
// the options say.
func NewRouter[T any](body Codec[T], opts ...Option) (*Router[T], error) {
	s, err := newStage(socket.Router, opts)
	if err != nil {
		return nil, err
	}
	return &Router[T]{s: s, codec: envelopeCodec[T]{body: body, minRoute: 1}}, nil
}

// Transform is as Pair.Transform, with envelopes: it sends every envelope
// from in to the peer its Route names, and sends every message received, as
// an envelope, to out, until ctx ends; then it closes the socket and returns
// ctx's error. An envelope with an empty Route does not encode. It does not
// close out. It runs once.
func (r *Router[T]) Transform(ctx context.Context, in <-chan Envelope[T], out chan<- Envelope[T]) error {
	sock, err := r.s.begin()
	if err != nil {
		return err
	}
	return r.s.end(duplex(ctx, r.s, sock, r.codec, in, out))
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (r *Router[T]) Endpoint() string { return r.s.Endpoint() }

// Close closes the socket now, ending a Transform under way with an error.
// It is idempotent.
func (r *Router[T]) Close() error { return r.s.Close() }
