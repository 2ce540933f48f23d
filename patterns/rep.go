package patterns

import (
	"context"
	"runtime/debug"

	"github.com/zmqflow/zmqflow/socket"
)

// Handler answers one request. It runs in the Rep stage's goroutine, one
// request at a time, and must return within ctx. An error (or a panic, which
// becomes a *PanicError) ends the stage: return failures the client should
// see inside R instead.
type Handler[Q, R any] func(ctx context.Context, q Q) (R, error)

// Rep is a request-reply server (guide ch. 1, "Ask and Ye Shall Receive";
// the Lazy Pirate server of ch. 4): it receives each request from its REQ
// (or DEALER) peers, fair-queued, and sends the handler's reply back along
// the request's envelope.
//
// Concurrency: Run is the stage's goroutine, the only one that touches its
// socket, and the only one that calls the handler. Endpoint and Close are
// safe to call from any goroutine. For parallel handlers run several Rep
// stages connected to a broker, or bound each to their own endpoint.
type Rep[Q, R any] struct {
	s       *stage
	qc      Codec[Q]
	rc      Codec[R]
	handler Handler[Q, R]
}

// NewRep makes a Rep stage: a REP socket, bound and connected as the options
// say (usually one Bind), answering with handler.
func NewRep[Q, R any](qc Codec[Q], rc Codec[R], handler Handler[Q, R], opts ...Option) (*Rep[Q, R], error) {
	s, err := newStage(socket.Rep, opts)
	if err != nil {
		return nil, err
	}
	return &Rep[Q, R]{s: s, qc: qc, rc: rc, handler: handler}, nil
}

// Run answers requests until ctx ends, then closes the socket and returns
// ctx's error. It returns early with the handler's error, ErrEncode for a
// reply that does not encode, or a decode error the OnDecodeError handler
// did not absorb (when it does, the bad request gets one empty frame as its
// reply). It runs once: a second call returns ErrClosed.
func (r *Rep[Q, R]) Run(ctx context.Context) error {
	sock, err := r.s.begin()
	if err != nil {
		return err
	}
	return r.s.end(r.serve(ctx, sock))
}

func (r *Rep[Q, R]) serve(ctx context.Context, sock *socket.Socket) error {
	for {
		m, err := sock.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return r.s.wrap("recv", err)
		}
		reply, err := r.answer(ctx, m)
		if err != nil {
			return err
		}
		if err := sock.Send(ctx, reply); err != nil {
			return r.s.wrap("send", err)
		}
	}
}

// answer decodes a request, runs the handler and encodes the reply.
func (r *Rep[Q, R]) answer(ctx context.Context, m socket.Msg) ([][]byte, error) {
	q, err := decode(r.qc, m)
	if err != nil {
		if err := r.s.badMsg(err); err != nil {
			return nil, err
		}
		return [][]byte{{}}, nil // REP owes a reply before the next request
	}
	v, err := r.call(ctx, q)
	if err != nil {
		return nil, err
	}
	return encode(r.rc, v)
}

func (r *Rep[Q, R]) call(ctx context.Context, q Q) (v R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return r.handler(ctx, q)
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (r *Rep[Q, R]) Endpoint() string { return r.s.Endpoint() }

// Close closes the socket now, ending a Run under way with an error. It is
// for a stage that will not run, or must stop at once; it is idempotent.
func (r *Rep[Q, R]) Close() error { return r.s.Close() }
