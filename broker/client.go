package broker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/socket"
)

// Client sends requests to a load balancer's frontend and waits for the
// replies, the guide's Lazy Pirate client (ch. 4) grown to many requests at
// once. Each request carries an id in its address stack: 16 bytes, a random
// session number for this Client and a sequence number. A request with no
// reply within WithTimeout is resent, with the same id, up to WithRetries
// times; a broker that still holds it drops the resend (our LoadBalancer
// hands a request on after WithHoldLimit), and of several replies to one id
// the Client returns the first and drops the rest, so each Request returns
// at most one reply however often it was sent and done.
//
// Brokers: our LoadBalancer and FederatedBroker keep the address stack
// from their workers, so any of their workers serves a Client: the guide's
// ppworker and lbbroker workers too, which take a request only as address,
// delimiter and one body frame. A broker that passes the stack on as it
// is, as the guide's ppqueue does, needs workers that copy any stack, as
// our Worker does; the guide's ppworker rejects such requests. The guide's
// lbbroker takes exactly [client, "", request] from a client, so it cannot
// carry the id at all: its clients are REQ sockets.
//
// Concurrency: a Client is safe for concurrent use; Requests from many
// goroutines share one DEALER socket. NewClient starts one goroutine, which
// reads replies; Close ends it and returns after it has ended. Request
// blocks until its reply, its last timeout, or its ctx.
type Client struct {
	cfg       config
	sock      *socket.Socket
	session   [8]byte
	seq       atomic.Uint64
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	waiting map[string]chan [][]byte
	closed  bool
	stats   ClientStats
}

// ClientStats are a Client's counters.
type ClientStats struct {
	Requests    uint64 // Request calls
	Resends     uint64 // attempts after the first
	Replies     uint64 // replies returned
	LateReplies uint64 // replies dropped: the request had its reply, or gave up
	Failed      uint64 // requests that ran out of retries
}

// NewClient connects a client to a broker's frontend endpoint. Options:
// WithTimeout, WithRetries, WithSocketOptions, WithLogger.
func NewClient(endpoint string, opts ...Option) (*Client, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, done: make(chan struct{}), waiting: map[string]chan [][]byte{}}
	rand.Read(c.session[:])
	if c.sock, err = socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, cfg.sockOpts...)...); err != nil {
		return nil, fmt.Errorf("broker: client: %w", err)
	}
	if err = c.sock.Connect(endpoint); err != nil {
		c.sock.Close()
		return nil, fmt.Errorf("broker: client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.read(ctx)
	return c, nil
}

// Request sends a request of one or more body frames and returns the
// reply's body frames. It resends after each WithTimeout without a reply,
// WithRetries times, then fails with ErrNoReply. It returns ctx.Err() when
// ctx ends first, and ErrClosed after Close. The body frames must not be
// modified until Request returns.
func (c *Client) Request(ctx context.Context, body ...[]byte) ([][]byte, error) {
	var id [16]byte
	copy(id[:8], c.session[:])
	binary.BigEndian.PutUint64(id[8:], c.seq.Add(1))
	key := string(id[:])
	ch := make(chan [][]byte, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.waiting[key] = ch
	c.stats.Requests++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, key)
		c.mu.Unlock()
	}()

	msg := make(socket.Msg, 0, len(body)+2)
	msg = append(append(msg, id[:], nil), body...)
	timer := time.NewTimer(c.cfg.timeout)
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			c.count(func(s *ClientStats) { s.Resends++ })
		}
		sendCtx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
		err := c.sock.Send(sendCtx, msg)
		cancel()
		switch {
		case errors.Is(err, socket.ErrClosed):
			return nil, ErrClosed
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("broker: client: %w", err)
		}
		timer.Reset(c.cfg.timeout)
		select {
		case reply, ok := <-ch:
			if !ok {
				return nil, ErrClosed
			}
			c.count(func(s *ClientStats) { s.Replies++ })
			return reply, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		if attempt > c.cfg.retries {
			c.count(func(s *ClientStats) { s.Failed++ })
			return nil, fmt.Errorf("%w: %d attempts of %v", ErrNoReply, attempt, c.cfg.timeout)
		}
		c.cfg.log.Debug("no reply; resending", zap.Int("attempt", attempt))
	}
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Client) count(f func(*ClientStats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

// Close closes the client's socket; Requests waiting fail with ErrClosed.
// It returns after the client's goroutine has ended. Calls after the first
// return nil.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		<-c.done
		err = c.sock.Close()
		c.mu.Lock()
		c.closed = true
		for k, ch := range c.waiting {
			close(ch)
			delete(c.waiting, k)
		}
		c.mu.Unlock()
	})
	return err
}

// read hands each reply to the Request waiting for its id.
func (c *Client) read(ctx context.Context) {
	defer close(c.done)
	for {
		m, err := c.sock.Recv(ctx)
		if err != nil {
			return
		}
		id, body, err := clientReply(m)
		if err != nil {
			c.cfg.log.Warn("reply dropped", zap.Error(err), zap.Stringer("msg", m))
			continue
		}
		c.mu.Lock()
		ch := c.waiting[string(id)]
		delete(c.waiting, string(id))
		if ch == nil {
			c.stats.LateReplies++
		}
		c.mu.Unlock()
		if ch != nil {
			ch <- body
		}
	}
}

// clientReply reads a reply as a Client receives it: the request's address
// stack, id and delimiter, then the body.
func clientReply(m [][]byte) (id []byte, body [][]byte, err error) {
	if len(m) < 2 || len(m[1]) != 0 {
		return nil, nil, fmt.Errorf("%w: reply of %d frames without a request id and delimiter", ErrMalformed, len(m))
	}
	return m[0], m[2:], nil
}
