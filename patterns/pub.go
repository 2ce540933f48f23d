package patterns

import (
	"context"

	"github.com/zmqflow/zmqflow/socket"
)

// Pub publishes values to every subscriber whose topic matches (guide ch. 1,
// "Getting the Message Out"). Each message is the topic in a frame of its
// own, then the value's frames: the guide's "Pub-Sub Message Envelopes"
// (ch. 2), so a topic never has to be parsed out of the value.
//
// A subscriber that is not keeping up loses messages at its high-water mark,
// and one that has just connected misses what was sent before its
// subscription arrived (the guide's "slow joiner"); socket.Stats counts the
// drops. Pub never blocks on a subscriber.
//
// Concurrency: Consume is the stage's goroutine, the only one that touches
// its socket. Endpoint and Close are safe to call from any goroutine.
type Pub[T any] struct {
	s     *stage
	codec Codec[T]
	topic func(T) []byte
}

// NewPub makes a Pub stage: a PUB socket, bound and connected as the options
// say. topic gives each value's topic; nil publishes every value under the
// empty topic.
func NewPub[T any](codec Codec[T], topic func(T) string, opts ...Option) (*Pub[T], error) {
	s, err := newStage(socket.Pub, opts)
	if err != nil {
		return nil, err
	}
	t := func(T) []byte { return []byte{} }
	if topic != nil {
		t = func(v T) []byte { return []byte(topic(v)) }
	}
	return &Pub[T]{s: s, codec: codec, topic: t}, nil
}

// Consume publishes every value from in until in is closed, then closes the
// socket (lingering while queued messages go out) and returns nil. It returns
// early with the error when ctx ends or a value does not encode (ErrEncode).
// It runs once: a second call returns ErrClosed.
func (p *Pub[T]) Consume(ctx context.Context, in <-chan T) error {
	sock, err := p.s.begin()
	if err != nil {
		return err
	}
	return p.s.end(sendAll(ctx, p.s, sock, p.codec, in, p.topic))
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (p *Pub[T]) Endpoint() string { return p.s.Endpoint() }

// Close closes the socket now, ending a Consume under way with an error. It
// is for a stage that will not run, or must stop at once; it is idempotent.
func (p *Pub[T]) Close() error { return p.s.Close() }
