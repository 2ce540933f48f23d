package pirate

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/internal/attempt"
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
// Brokers: our LoadBalancer (and a peering.Broker) keep the address stack
// from their workers, so any of their workers serves a Client: the guide's
// ppworker and lbbroker workers too, which take a request only as address,
// delimiter and one body frame. A broker that passes the stack on as it
// is, as the guide's ppqueue does, needs workers that copy any stack, as
// our Worker does; the guide's ppworker rejects such requests. The guide's
// lbbroker takes exactly [client, "", request] from a client, so it cannot
// carry the id at all: its clients are REQ sockets.
//
// The Client is one DEALER socket and one actor, "pirate client". Each
// Request sends from its caller's goroutine, after writing the id it
// waits for in a table the Client keeps (not the actor: a restart of the
// actor, a bug, loses no waiting Request), and removes it when it
// returns. The Requests read the socket themselves, one at a time: the one
// reading hands each reply to the Request waiting for its id, its own
// included, so that a Request alone in flight gets its reply with no
// hand-over between goroutines, as from a REQ socket; it counts (late)
// and logs (malformed) what no Request waits for. Once no Request has
// waited for a few milliseconds, the actor's feed reads the socket
// instead, until a Request waits again: the actor gets the late and
// malformed replies that come meanwhile, and counts and logs them.
//
// Concurrency: a Client is safe for concurrent use; Requests from many
// goroutines share the socket, each blocking its caller only, until its
// reply, its last timeout, its ctx, or Close. NewClient starts the actor's
// goroutine, its supervisor's and its feed's, which reads the socket while
// no Request waits; Close ends them and returns after they have ended,
// and Requests waiting fail with ErrClosed.
type Client struct {
	cfg     config
	g       *run.Group
	sock    *socket.Socket
	waiting *waitTable
	rd      *reader
	seq     atomic.Uint64

	counts *clientCounts
}

// clientCounts are a Client's counters, kept by its Requests and its
// actor, and the board that publishes them to Wait's callers and the
// observer.
type clientCounts struct {
	requests, resends, replies, failed, late atomic.Uint64
	board                                    board.Board[ClientStats]
}

func (c *clientCounts) stats() ClientStats {
	return ClientStats{
		Requests:    c.requests.Load(),
		Resends:     c.resends.Load(),
		Replies:     c.replies.Load(),
		LateReplies: c.late.Load(),
		Failed:      c.failed.Load(),
	}
}

func (c *clientCounts) publish() {
	c.board.PublishFrom(c.stats)
}

// ClientStats are a Client's counters.
type ClientStats struct {
	Requests    uint64 // Request calls, but those made with a ctx already ended (not sent)
	Resends     uint64 // attempts after the first
	Replies     uint64 // replies returned
	LateReplies uint64 // replies dropped: the request had its reply, or gave up
	Failed      uint64 // requests that ran out of retries
}

// clientName is the Client's actor, as the observer knows it.
const clientName = "pirate client"

// NewClient connects a client to a broker's frontend endpoint. Options:
// WithTimeout, WithRetries, WithSocketOptions, WithLogger, WithObserver.
func NewClient(endpoint string, opts ...Option) (*Client, error) {
	cfg, err := build(forClient, "NewClient", opts)
	if err != nil {
		return nil, err
	}
	sock, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, cfg.SockOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("pirate: client: %w", err)
	}
	if err := sock.Connect(endpoint); err != nil {
		sock.Close()
		return nil, fmt.Errorf("pirate: client: %w", err)
	}
	c := &Client{cfg: cfg, sock: sock, counts: &clientCounts{}, waiting: &waitTable{m: map[uint64]chan [][]byte{}}}
	c.counts.board.Report(cfg.Observer, clientName)
	rand.Read(c.waiting.session[:])
	log := cfg.Log
	counts, waiting := c.counts, c.waiting
	c.rd = newReader(sock, waiting, counts, log)
	child := actor.NewChild(clientName,
		func() actor.Behavior[socket.Msg] { return &replies{waiting: waiting, counts: counts, log: log} },
		actor.WithFeed[socket.Msg](&replyFeed{c.rd}))
	if c.g, err = run.Start(context.Background(), clientName+" supervisor", []*socket.Socket{sock},
		[]actor.ChildSpec{child}, cfg.Supervision()...); err != nil {
		return nil, fmt.Errorf("pirate: client: %w", err)
	}
	return c, nil
}

// Request sends a request of one or more body frames and returns the
// reply's body frames. It resends after each WithTimeout without a reply,
// WithRetries times, then fails with ErrNoReply. It returns ctx.Err() when
// ctx ends first, and ErrClosed after Close. The body frames must not be
// modified until Request returns.
func (c *Client) Request(ctx context.Context, body ...[]byte) ([][]byte, error) {
	// Not sent once ctx has ended: a worker would do it for nobody. (The
	// send below takes ctx only when the socket has no room.)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, msg := c.request(body)
	s := getSlot()
	defer putSlot(s) // after done: then nothing sends to its channel
	c.counts.requests.Add(1)
	defer c.counts.publish()
	c.waiting.put(out.seq, s.ch)
	c.rd.waitingNow()
	defer c.rd.done(out.seq)
	s.att.Watch(ctx)
	for n := 1; ; n++ {
		if n > 1 {
			c.counts.resends.Add(1)
		}
		err := c.send(ctx, msg)
		switch {
		case errors.Is(err, socket.ErrClosed):
			return nil, ErrClosed
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("pirate: client: %w", err)
		}
		s.att.Begin(c.cfg.Timeout)
		reply, err := c.rd.await(out.seq, s.att, s.ch, c.g.Done())
		if err == nil {
			c.counts.replies.Add(1)
			return reply, nil
		}
		if !errors.Is(err, errAttempt) {
			return nil, err
		}
		if n > c.cfg.Retries {
			c.counts.failed.Add(1)
			return nil, fmt.Errorf("%w: %d attempts of %v", ErrNoReply, n, c.cfg.Timeout)
		}
		c.cfg.Log.Debug("no reply; resending", zap.Int("attempt", n))
	}
}

// outgoing is a request as the Client sends it, id, delimiter and body,
// made in one allocation for the usual body of one frame.
type outgoing struct {
	seq    uint64
	id     [16]byte
	frames [3][]byte
}

// request makes the next request of body: the socket may still hold it
// (a resend) after Request returns, so it is made afresh each time.
func (c *Client) request(body [][]byte) (*outgoing, socket.Msg) {
	out := &outgoing{seq: c.seq.Add(1)}
	copy(out.id[:8], c.waiting.session[:])
	binary.BigEndian.PutUint64(out.id[8:], out.seq)
	msg := out.frames[:0]
	if len(body)+2 > len(out.frames) {
		msg = make(socket.Msg, 0, len(body)+2)
	}
	return out, append(append(msg, out.id[:], nil), body...)
}

// send sends msg within WithTimeout; most often there is room at once,
// and then no clock is set for the deadline.
func (c *Client) send(ctx context.Context, msg socket.Msg) error {
	if err := c.sock.TrySend(msg); !errors.Is(err, socket.ErrWouldBlock) {
		return err
	}
	sendCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.sock.Send(sendCtx, msg)
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() ClientStats {
	return c.counts.stats()
}

// Close closes the client's socket; Requests waiting fail with ErrClosed.
// It returns after the client's goroutines have ended. Calls after the
// first return nil.
func (c *Client) Close() error { return c.g.Close() }

// waitTable is the Requests waiting for a reply, by sequence number:
// each channel is buffered, so that the actor never waits on it.
type waitTable struct {
	session [8]byte // the Client's, first in every request id
	mu      sync.Mutex
	m       map[uint64]chan [][]byte
}

func (w *waitTable) put(seq uint64, ch chan [][]byte) {
	w.mu.Lock()
	w.m[seq] = ch
	w.mu.Unlock()
}

// seq returns the sequence number of a request id of this Client's.
func (w *waitTable) seq(id []byte) (uint64, bool) {
	if len(id) != 16 || [8]byte(id[:8]) != w.session {
		return 0, false
	}
	return binary.BigEndian.Uint64(id[8:]), true
}

// give hands body to the Request waiting under id, removing it, and
// reports whether one was. Its channel is buffered and gets one reply at
// most: give never blocks. It sends holding the lock, so that once a
// Request has left the table nothing more comes on its channel, which can
// then serve another Request (slots).
func (w *waitTable) give(id []byte, body [][]byte) bool {
	seq, ok := w.seq(id)
	if !ok {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.m[seq]
	if ch == nil {
		return false
	}
	delete(w.m, seq)
	ch <- body
	return true
}

// claim removes the Request waiting under seq, for that Request's own
// reply, and reports whether it waited: not if another reply to it came
// first.
func (w *waitTable) claim(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.m[seq]
	delete(w.m, seq)
	return ok
}

// slot is what a Request waits with: the channel its reply comes on and
// its attempts' context and clock. Requests come by the thousand a
// second, so their slots are used again rather than made each time.
type slot struct {
	ch  chan [][]byte
	att *attempt.Attempt
}

var slots sync.Pool

func getSlot() *slot {
	if s, ok := slots.Get().(*slot); ok {
		return s
	}
	return &slot{ch: make(chan [][]byte, 1), att: attempt.New()}
}

// putSlot gives back the slot of a Request that has left the table: a
// reply given to it but not taken (its ctx ended first) goes. A slot
// whose clock may still end an attempt is left to the collector.
func putSlot(s *slot) {
	if !s.att.Release() {
		return
	}
	select {
	case <-s.ch:
	default:
	}
	slots.Put(s)
}

// empty reports whether no Request waits.
func (w *waitTable) empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m) == 0
}

// leave removes id and reports whether the table is empty now.
func (w *waitTable) leave(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, seq)
	return len(w.m) == 0
}

// replies is the Client's actor: it counts and logs the replies no
// Request waits for.
type replies struct {
	waiting *waitTable
	counts  *clientCounts
	log     *zap.Logger
}

func (r *replies) Receive(_ context.Context, m socket.Msg) error {
	id, body, err := clientReply(m)
	if err != nil {
		r.log.Warn("reply dropped", zap.Error(err), zap.Stringer("msg", m))
		return nil
	}
	// The first reply to an id takes it from the table: a second one (to
	// a resend) finds nothing, and is late. (The feed passed it on when
	// it found nothing; a Request may have begun waiting since only if
	// the broker returned a reply before its request, a forgery.)
	if !r.waiting.give(id, body) {
		r.counts.late.Add(1)
		r.counts.publish()
	}
	return nil
}

// clientReply reads a reply as a Client receives it: the request's address
// stack, id and delimiter, then the body.
func clientReply(m [][]byte) (id []byte, body [][]byte, err error) {
	if len(m) < 2 || len(m[1]) != 0 {
		return nil, nil, fmt.Errorf("%w: reply of %d frames without a request id and delimiter", ErrMalformed, len(m))
	}
	return m[0], m[2:], nil
}
