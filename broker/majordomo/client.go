package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/socket"
)

// MDPClient is the guide's Majordomo client API (ch. 4, mdcliapi; spec
// 7/MDP, MDP/Client), synchronous as the spec's MDP/Client dialog is: one
// request, then its reply. MDP requests carry no id, so a reply is known
// only by arriving on the socket its request left by; the client therefore
// does as the spec recommends (and the guide's Lazy Pirate client): when
// no reply comes within WithTimeout it closes its socket, opens a new one
// (a new routing id, so a late reply to the old request cannot be taken
// for the next one's) and resends, WithRetries times, then fails with
// ErrNoReply. A request for a service no worker has registered gets no
// reply (the broker queues it for WithTimeout, then drops it), so it ends
// in ErrNoReply too; ask ServiceExists first to tell the two apart.
//
// Concurrency: an MDPClient is safe for concurrent use, but its requests
// go one at a time: concurrent Requests wait their turn (use one client
// per concurrent caller for parallel requests). It starts no goroutine of
// its own; its socket's end in Close, which also makes a Request under way
// return ErrClosed.
type MDPClient struct {
	cfg      config
	endpoint string
	life     context.Context
	stop     context.CancelFunc

	mu     sync.Mutex // held by a Request for its whole exchange, and by Close
	sock   *socket.Socket
	closed bool

	smu   sync.Mutex
	stats MDPClientStats
}

// MDPClientStats are an MDPClient's counters.
type MDPClientStats struct {
	Requests   uint64 // Request calls
	Resends    uint64 // attempts after the first, each on a new socket
	Replies    uint64 // replies returned
	Failed     uint64 // requests that ran out of retries
	Malformed  uint64 // messages dropped: not an MDP/Client REPLY for the service asked
	Reconnects uint64 // sockets closed and opened again
}

// NewMDPClient connects a Majordomo client to a broker's endpoint (ours or
// any MDP/0.1 broker: the guide's mdbroker). Options: WithTimeout,
// WithRetries, WithSocketOptions, WithLogger.
func NewMDPClient(endpoint string, opts ...Option) (*MDPClient, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &MDPClient{cfg: cfg, endpoint: endpoint}
	if c.sock, err = c.open(); err != nil {
		return nil, err
	}
	c.life, c.stop = context.WithCancel(context.Background())
	return c, nil
}

func (c *MDPClient) open() (*socket.Socket, error) {
	s, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, c.cfg.sockOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("broker: majordomo client: %w", err)
	}
	if err = s.Connect(c.endpoint); err != nil {
		s.Close()
		return nil, fmt.Errorf("broker: majordomo client: %w", err)
	}
	return s, nil
}

// Request sends a request of one or more body frames to service and
// returns the reply's body frames. It resends on a new socket after each
// WithTimeout without a reply, WithRetries times, then fails with
// ErrNoReply. It returns ctx.Err() when ctx ends first, ErrClosed after
// Close, ErrServiceName for an empty service, and ErrMDPMalformed for no
// body frame (spec 7's REQUEST has a body, which brokers check; an empty
// frame is a body). The body frames must not be modified until Request
// returns.
func (c *MDPClient) Request(ctx context.Context, service string, body ...[]byte) ([][]byte, error) {
	if service == "" {
		return nil, fmt.Errorf("%w: empty", ErrServiceName)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: a request for %q without a body frame", ErrMDPMalformed, service)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.count(func(s *MDPClientStats) { s.Requests++ })
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.life, cancel)()

	msg := make(socket.Msg, 0, len(body)+3)
	msg = append(append(msg, frameEmpty, frameMDPC, []byte(service)), body...)
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			c.count(func(s *MDPClientStats) { s.Resends++ })
		}
		if c.sock == nil {
			s, err := c.open()
			if err != nil {
				return nil, err
			}
			c.sock = s
			c.count(func(s *MDPClientStats) { s.Reconnects++ })
		}
		reply, err := c.attempt(rctx, msg, service)
		if err == nil {
			c.count(func(s *MDPClientStats) { s.Replies++ })
			return reply, nil
		}
		// No reply on this socket: a late one must not meet the next
		// request there.
		c.sock.Close()
		c.sock = nil
		switch {
		case c.life.Err() != nil:
			return nil, ErrClosed
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("broker: majordomo client: %w", err)
		}
		if attempt > c.cfg.retries {
			c.count(func(s *MDPClientStats) { s.Failed++ })
			return nil, fmt.Errorf("%w: %d attempts of %v for service %q", ErrNoReply, attempt, c.cfg.timeout, service)
		}
		c.cfg.log.Debug("no reply; resending on a new socket", zap.String("service", service), zap.Int("attempt", attempt))
	}
}

// attempt sends msg and waits WithTimeout for its reply.
func (c *MDPClient) attempt(ctx context.Context, msg socket.Msg, service string) ([][]byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	if err := c.sock.Send(actx, msg); err != nil {
		return nil, err
	}
	for {
		m, err := c.sock.Recv(actx)
		if err != nil {
			return nil, err
		}
		body, err := parseMDPReply(m, service)
		if err == nil {
			return body, nil
		}
		c.count(func(s *MDPClientStats) { s.Malformed++ })
		c.cfg.log.Warn("reply dropped", zap.Error(err), zap.Stringer("msg", m))
	}
}

// Stats returns a snapshot of the client's counters.
func (c *MDPClient) Stats() MDPClientStats {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.stats
}

func (c *MDPClient) count(f func(*MDPClientStats)) {
	c.smu.Lock()
	f(&c.stats)
	c.smu.Unlock()
}

// Close closes the client's socket; a Request under way returns ErrClosed.
// It returns after the socket's goroutines have ended. Calls after the
// first return nil.
func (c *MDPClient) Close() error {
	c.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.sock != nil {
		err := c.sock.Close()
		c.sock = nil
		return err
	}
	return nil
}
