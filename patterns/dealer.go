package patterns

import (
	"context"

	"github.com/zmqflow/zmqflow/socket"
)

// Dealer is an asynchronous request-reply stage (guide ch. 3, "The DEALER to
// ROUTER Combination"): it sends each envelope round-robin to its peers and
// receives from them fair-queued, with no send/receive lockstep. Envelopes
// are explicit (see Envelope): Route is sent as given in front of the body.
//
// Concurrency: Transform runs two goroutines, the only ones touching the
// socket: one sends (takes from in), one receives (sends to out). Endpoint
// and Close are safe to call from any goroutine.
//
// Blocking: the sender blocks while every peer is at its high-water mark, or
// there is none yet.
type Dealer[T any] struct {
	s     *stage
	codec Codec[Envelope[T]]
}

// NewDealer makes a Dealer stage: a DEALER socket, bound and connected as
// the options say. Give it an identity with
// WithSocketOptions(socket.WithIdentity(id)) for ROUTER peers to see.
func NewDealer[T any](body Codec[T], opts ...Option) (*Dealer[T], error) {
	s, err := newStage(socket.Dealer, opts)
	if err != nil {
		return nil, err
	}
	return &Dealer[T]{s: s, codec: envelopeCodec[T]{body: body}}, nil
}

// Transform is as Pair.Transform, with envelopes: it sends every envelope
// from in and sends every one received to out until ctx ends, then closes
// the socket and returns ctx's error. It does not close out. It runs once.
func (d *Dealer[T]) Transform(ctx context.Context, in <-chan Envelope[T], out chan<- Envelope[T]) error {
	sock, err := d.s.begin()
	if err != nil {
		return err
	}
	return d.s.end(duplex(ctx, d.s, sock, d.codec, in, out))
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (d *Dealer[T]) Endpoint() string { return d.s.Endpoint() }

// Close closes the socket now, ending a Transform under way with an error.
// It is idempotent.
func (d *Dealer[T]) Close() error { return d.s.Close() }
