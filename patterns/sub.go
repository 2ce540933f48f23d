package patterns

import (
	"context"
	"fmt"

	"github.com/zmqflow/zmqflow/socket"
)

// Sub receives what its publishers send under the topics it subscribed to
// (guide ch. 1, "Getting the Message Out"): messages from a Pub stage, whose
// first frame is the topic and the rest the value.
//
// Concurrency: Produce is the stage's goroutine, the only one that touches
// its socket. Endpoint and Close are safe to call from any goroutine.
type Sub[T any] struct {
	s     *stage
	codec Codec[T]
}

// NewSub makes a Sub stage: a SUB socket subscribed to each topic (a prefix
// of the topic frame; "" is every topic), bound and connected as the options
// say. With no topics a SUB would receive nothing, so that is an error.
func NewSub[T any](codec Codec[T], topics []string, opts ...Option) (*Sub[T], error) {
	if len(topics) == 0 {
		return nil, fmt.Errorf("%w: SUB stage with no topics", ErrBadOption)
	}
	s, err := newStage(socket.Sub, opts)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if err := s.sock.Subscribe([]byte(t)); err != nil {
			s.Close()
			return nil, err
		}
	}
	return &Sub[T]{s: s, codec: codec}, nil
}

// Produce receives, decodes and sends each value (without its topic) to out
// until ctx ends; then it closes the socket and returns ctx's error. A
// message that does not decode goes to the OnDecodeError handler. Produce
// does not close out. It runs once: a second call returns ErrClosed.
func (p *Sub[T]) Produce(ctx context.Context, out chan<- T) error {
	sock, err := p.s.begin()
	if err != nil {
		return err
	}
	return p.s.end(recvAll(ctx, p.s, sock, p.codec, out, 1))
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (p *Sub[T]) Endpoint() string { return p.s.Endpoint() }

// Close closes the socket now, ending a Produce under way with an error. It
// is for a stage that will not run, or must stop at once; it is idempotent.
func (p *Sub[T]) Close() error { return p.s.Close() }
