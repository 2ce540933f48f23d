package majordomo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/internal/attempt"
	"github.com/zmqflow/zmqflow/socket"
)

// Client is the guide's Majordomo client API (ch. 4, mdcliapi; spec 7/MDP,
// MDP/Client), synchronous as the spec's MDP/Client dialog is: one request,
// then its reply. MDP requests carry no id, so a reply is known only by
// arriving on the socket its request left by; the client therefore does as
// the spec recommends (and the guide's Lazy Pirate client): when no reply
// comes within WithTimeout it closes its socket, opens a new one (a new
// routing id, so a late reply to the old request cannot be taken for the
// next one's) and resends, WithRetries times, then fails with ErrNoReply. A
// request for a service no worker has registered gets no reply (the broker
// queues it for WithTimeout, then drops it), so it ends in ErrNoReply too;
// ask ServiceExists first to tell the two apart.
//
// The client is one actor, "majordomo client", under a supervisor: it owns
// the socket, and each Request is a message to it (actor.Ask) that it
// handles by the exchange above, sending and then receiving within the
// request's ctx. It has no feed: nothing arrives on its socket but the
// reply it waits for.
//
// Concurrency: a Client is safe for concurrent use, but its requests go one
// at a time, in the order they reach its actor's mailbox: concurrent
// Requests wait their turn, each within its own ctx (use one client per
// concurrent caller for parallel requests). Its goroutines (the actor's and
// its supervisor's) start in NewClient and end in Close, which also makes a
// Request under way or waiting return ErrClosed.
type Client struct {
	g     *run.Group
	ref   actor.Ref[actor.Request[call, [][]byte]]
	board board.Board[ClientStats]
}

// ClientStats are a Client's counters.
type ClientStats struct {
	Requests   uint64 // requests sent (the first attempt of each Request)
	Resends    uint64 // attempts after the first, each on a new socket
	Replies    uint64 // replies returned
	Failed     uint64 // requests that ran out of retries
	Malformed  uint64 // messages dropped: not an MDP/Client REPLY for the service asked
	Reconnects uint64 // sockets closed and opened again
}

// NewClient connects a Majordomo client to a broker's endpoint (ours or
// any MDP/0.1 broker: the guide's mdbroker; a leading '>' is allowed).
// Options: WithTimeout, WithRetries, WithSocketOptions, WithLogger,
// WithObserver.
func NewClient(endpoint string, opts ...Option) (*Client, error) {
	cfg, err := build(forClient, "NewClient", opts)
	if err != nil {
		return nil, err
	}
	c := &Client{}
	endpoint = strings.TrimPrefix(endpoint, ">")
	child := actor.NewChild("majordomo client", func() actor.Behavior[actor.Request[call, [][]byte]] {
		return &clientState{cfg: &cfg, endpoint: endpoint, board: &c.board}
	})
	c.ref = child.Ref()
	c.g, err = run.Start(context.Background(), "majordomo client supervisor", nil, []actor.ChildSpec{child}, cfg.Supervision()...)
	if err != nil {
		return nil, fmt.Errorf("majordomo: client: %w", err)
	}
	return c, nil
}

// Request sends a request of one or more body frames to service and
// returns the reply's body frames. It resends on a new socket after each
// WithTimeout without a reply, WithRetries times, then fails with
// ErrNoReply. It returns ctx.Err() when ctx ends first (while the request
// waits its turn, too), ErrClosed after Close, ErrServiceName for an empty
// service, and ErrMalformed for no body frame (spec 7's REQUEST has a body,
// which brokers check; an empty frame is a body). The body frames must not
// be modified until Request returns.
func (c *Client) Request(ctx context.Context, service string, body ...[]byte) ([][]byte, error) {
	if service == "" {
		return nil, fmt.Errorf("%w: empty", ErrServiceName)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: a request for %q without a body frame", ErrMalformed, service)
	}
	select {
	case <-c.g.Done():
		return nil, ErrClosed
	default:
	}
	msg := make(socket.Msg, 0, len(body)+3)
	msg = append(append(msg, frameEmpty, frameMDPC, []byte(service)), body...)
	reply, err := actor.Ask(ctx, c.ref, call{ctx: ctx, service: service, msg: msg})
	switch {
	case err == nil:
		return reply, nil
	case errors.Is(err, actor.ErrAskTimeout), errors.Is(err, actor.ErrMailboxFull):
		return nil, ctx.Err() // ctx ended before the reply, or before its turn
	case errors.Is(err, actor.ErrStopped):
		return nil, ErrClosed // closed before its turn
	case errors.Is(err, actor.ErrNoReply):
		// The actor failed on it (a bug) and is restarted.
		return nil, fmt.Errorf("majordomo: client: %w", err)
	}
	return nil, err // the actor's answer
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() ClientStats { return c.board.Get() }

// Close closes the client's socket; a Request under way, or waiting its
// turn, returns ErrClosed. It returns after the client's goroutines have
// ended. Calls after the first return nil.
func (c *Client) Close() error { return c.g.Close() }

// call is a Request as the client's actor gets it: the caller's ctx, which
// bounds the exchange, and the REQUEST message.
type call struct {
	ctx     context.Context
	service string
	msg     socket.Msg
}

// clientState is the client's behaviour: the socket of the moment and the
// counters (which go on across a restart).
type clientState struct {
	cfg      *opt.Config[extra]
	endpoint string
	board    *board.Board[ClientStats]
	sock     *socket.Socket
	att      *attempt.Attempt // the last request's, for the next
	st       ClientStats
}

func (c *clientState) Start(context.Context) error {
	c.st = c.board.Get()
	var err error
	c.sock, err = c.open()
	return err
}

func (c *clientState) Stop() error {
	if c.sock != nil {
		c.sock.Close()
		c.sock = nil
	}
	return nil
}

func (c *clientState) open() (*socket.Socket, error) {
	s, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, c.cfg.SockOpts...)...)
	if err != nil {
		return nil, err
	}
	if err = s.Connect(c.endpoint); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Receive makes the exchange for one Request and replies to it; the
// counters are published first, so that its caller sees them.
func (c *clientState) Receive(ctx context.Context, r actor.Request[call, [][]byte]) error {
	reply, err := c.exchange(ctx, r.Query)
	c.board.Publish(c.st)
	r.Reply(reply, err)
	return nil
}

// exchange sends q and waits for its reply, resending on a new socket
// after each timeout. ctx is the actor's: Close ends it. The attempts wait
// in the socket on one context (package attempt) that ends at the
// timeout, with q's ctx or with ctx, kept for the next request.
func (c *clientState) exchange(ctx context.Context, q call) ([][]byte, error) {
	if err := q.ctx.Err(); err != nil {
		return nil, err // given up while it waited its turn
	}
	c.st.Requests++
	a := c.att
	if a == nil {
		a = attempt.New()
	}
	c.att = nil
	a.Watch(q.ctx, ctx)
	defer func() {
		if a.Release() {
			c.att = a
		}
	}()
	for n := 1; ; n++ {
		if n > 1 {
			c.st.Resends++
		}
		if c.sock == nil {
			s, err := c.open()
			if err != nil {
				return nil, fmt.Errorf("majordomo: client: %w", err)
			}
			c.sock = s
			c.st.Reconnects++
		}
		reply, err := c.attempt(a, q)
		if err == nil {
			c.st.Replies++
			return reply, nil
		}
		// No reply on this socket: a late one must not meet the next
		// request there.
		c.sock.Close()
		c.sock = nil
		switch {
		case ctx.Err() != nil:
			return nil, ErrClosed
		case q.ctx.Err() != nil:
			return nil, q.ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("majordomo: client: %w", err)
		}
		if n > c.cfg.Retries {
			c.st.Failed++
			return nil, fmt.Errorf("%w: %d attempts of %v for service %q", ErrNoReply, n, c.cfg.Timeout, q.service)
		}
		c.cfg.Log.Debug("no reply; resending on a new socket", zap.String("service", q.service), zap.Int("attempt", n))
	}
}

// attempt sends the request and waits WithTimeout for its reply.
func (c *clientState) attempt(a *attempt.Attempt, q call) ([][]byte, error) {
	a.Begin(c.cfg.Timeout)
	if err := c.sock.Send(a, q.msg); err != nil {
		return nil, err
	}
	for {
		m, err := c.sock.Recv(a)
		if err != nil {
			return nil, err
		}
		body, err := parseMDPReply(m, q.service)
		if err == nil {
			return body, nil
		}
		c.st.Malformed++
		c.cfg.Log.Warn("reply dropped", zap.Error(err), zap.Stringer("msg", m))
	}
}
