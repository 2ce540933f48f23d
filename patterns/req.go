package patterns

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zmqflow/zmqflow/socket"
)

// Req is a request-reply client (guide ch. 1, "Ask and Ye Shall Receive"):
// Request encodes a Q, sends it to one REP (or ROUTER) peer, and waits for
// the reply, an R. With the LazyPirate option it is the guide's Lazy Pirate
// client (ch. 4): a timeout on each attempt, a fresh socket and a resend
// after a timeout, and ErrNoReply after the last retry.
//
// Concurrency: Run is the stage's goroutine, the only one that touches its
// socket. Request is safe for concurrent use from any number of goroutines:
// it hands the request to Run and waits for the outcome; requests are served
// one at a time, in the order Run takes them, since REQ carries one
// conversation at a time. Endpoint and Close are safe from any goroutine.
//
// Blocking: Request waits until Run takes the request (Run must be running),
// then for the reply, within ctx (and the LazyPirate bounds).
type Req[Q, R any] struct {
	s     *stage
	qc    Codec[Q]
	rc    Codec[R]
	calls chan call[Q, R]

	done     chan struct{} // closed when Run ends or the stage is closed
	doneOnce sync.Once

	sock  *socket.Socket // Run's goroutine only: the current socket
	dirty bool           // Run's goroutine only: sock is mid-conversation
}

type call[Q, R any] struct {
	ctx context.Context
	q   Q
	res chan result[R]
}

type result[R any] struct {
	r   R
	err error
}

// NewReq makes a Req stage: a REQ socket, bound and connected as the options
// say (usually one Connect). Options: LazyPirate for timeouts and retries.
func NewReq[Q, R any](qc Codec[Q], rc Codec[R], opts ...Option) (*Req[Q, R], error) {
	s, err := newStage(socket.Req, opts)
	if err != nil {
		return nil, err
	}
	return &Req[Q, R]{s: s, qc: qc, rc: rc, calls: make(chan call[Q, R]), done: make(chan struct{})}, nil
}

// Run serves Request calls until ctx ends, then closes the socket and
// returns ctx's error. A request that fails (no reply in time, a reply that
// does not decode, the caller's ctx ending) fails that Request only; Run
// carries on, on a fresh socket where the old one was left mid-conversation.
// Run ends early, with ErrClosed, only if the stage is closed. It runs once: a second call
// returns ErrClosed.
func (r *Req[Q, R]) Run(ctx context.Context) error {
	sock, err := r.s.begin()
	if err != nil {
		return err
	}
	defer r.doneOnce.Do(func() { close(r.done) })
	r.sock = sock
	for {
		select {
		case c := <-r.calls:
			v, err := r.roundTrip(ctx, c.ctx, c.q)
			c.res <- result[R]{v, err}
			if errors.Is(err, socket.ErrClosed) || errors.Is(err, ErrClosed) {
				return r.s.end(err)
			}
		case <-ctx.Done():
			return r.s.end(ctx.Err())
		case <-r.done:
			return r.s.end(fmt.Errorf("%w: REQ stage", ErrClosed))
		}
	}
}

// Request sends q and returns the reply. It fails with ctx's error when ctx
// ends first, with ErrNoReply after LazyPirate's last retry, with ErrDecode
// for a reply that does not decode, ErrEncode for a q that does not encode,
// and ErrClosed once Run has ended.
func (r *Req[Q, R]) Request(ctx context.Context, q Q) (R, error) {
	var zero R
	c := call[Q, R]{ctx: ctx, q: q, res: make(chan result[R], 1)}
	select {
	case r.calls <- c:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-r.done:
		return zero, fmt.Errorf("%w: REQ stage is not running", ErrClosed)
	}
	res := <-c.res // Run always answers a call it took, promptly once ctx ends
	return res.r, res.err
}

// roundTrip does one request for Run, with the Lazy Pirate retries.
func (r *Req[Q, R]) roundTrip(runCtx, callCtx context.Context, q Q) (R, error) {
	var zero R
	frames, err := encode(r.qc, q)
	if err != nil {
		return zero, err
	}
	// The request ends when its caller gives up or the stage is stopped.
	ctx, cancel := context.WithCancel(callCtx)
	defer cancel()
	defer context.AfterFunc(runCtx, cancel)()

	attempts := 1
	if r.s.cfg.pirate {
		attempts += r.s.cfg.retries
	}
	for range attempts {
		if r.dirty {
			// A REQ socket left waiting for a reply can neither send nor be
			// trusted with a late reply: the guide closes it and opens another.
			sock, err := r.s.reopen()
			if err != nil {
				return zero, err
			}
			r.sock, r.dirty = sock, false
		}
		m, err := r.attempt(ctx, frames)
		if err == nil {
			return decode(r.rc, m)
		}
		r.dirty = true
		switch {
		case ctx.Err() != nil:
			return zero, ctx.Err()
		case !r.s.cfg.pirate || !errors.Is(err, context.DeadlineExceeded):
			return zero, r.s.wrap("request", err)
		}
	}
	return zero, fmt.Errorf("%w: %d attempts, %v each", ErrNoReply, attempts, r.s.cfg.timeout)
}

// attempt sends the request and waits for the reply, within the Lazy Pirate
// timeout if there is one.
func (r *Req[Q, R]) attempt(ctx context.Context, frames [][]byte) (socket.Msg, error) {
	if r.s.cfg.pirate {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.s.cfg.timeout)
		defer cancel()
	}
	if err := r.sock.Send(ctx, frames); err != nil {
		return nil, err
	}
	return r.sock.Recv(ctx)
}

// Endpoint returns the first endpoint the stage bound, port resolved, or ""
// if it only connects.
func (r *Req[Q, R]) Endpoint() string { return r.s.Endpoint() }

// Close closes the socket now: a Run under way ends, and Request calls
// waiting for it fail with ErrClosed. It is idempotent.
func (r *Req[Q, R]) Close() error {
	r.doneOnce.Do(func() { close(r.done) })
	return r.s.Close()
}
