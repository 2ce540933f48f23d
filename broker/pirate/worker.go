package pirate

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/ppp"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/socket"
)

// Handler does the work of one request: it gets the request's body frames
// (the address stack is the Worker's business) and returns the reply's.
// A Worker calls it from one goroutine at a time, never concurrently, and
// cancels ctx when the Worker is closed. The request frames belong to the
// handler; the reply frames belong to the Worker once returned. An error,
// or a panic, gives the request back to the broker (see ErrHandler).
type Handler func(ctx context.Context, request [][]byte) ([][]byte, error)

// Worker is the guide's Paranoid Pirate worker (ch. 4, ppworker; spec
// 6/PPP) with a Go handler. It connects a DEALER socket to a load
// balancer's backend (ours, or any PPP broker such as the guide's ppqueue),
// sends READY, and handles one request at a time. It sends HEARTBEAT every
// interval, also while its handler runs; when the broker has been silent for
// liveness intervals it closes the socket, waits (doubling the wait after
// each loss, WithReconnect), and opens a new socket with a new routing id
// and READY. That is also how it re-registers after a broker restart.
//
// A request that arrives while the handler runs (only a broker that takes
// any sign of life for READY sends one, as the guide's ppqueue does) waits
// its turn. A reply whose socket was lost while the handler ran goes out
// on the next socket, before READY: the broker passes it on if the request
// is still outstanding and drops it otherwise. A handler that runs longer
// than the LoadBalancer's WithHoldLimit has had its request handed to
// another worker meanwhile: its reply counts only if it comes first, and
// the load balancer gives the Worker no new request until it has sent it.
//
// A Worker is two actors under a supervisor. The session, "pirate worker",
// owns the socket: its mailbox is fed by the socket and a clock (the
// heartbeat interval), and it does all the sending. It fails when the
// broker has been silent too long, and the supervisor's restart, after
// the reconnect back-off (actor.WithBackoff, for as many restarts as it
// takes), is the reconnect: a new socket, READY. The handler, "pirate
// worker handler", runs one request at a time and tells the session its
// reply; since it is an actor of its own, the session's heartbeats go on
// while it works, and a request it is at survives a reconnect. Requests
// waiting for the handler are forgotten at a reconnect (the broker has
// given them to others, or forgotten them too).
//
// Concurrency: a Worker is safe for concurrent use. It runs the goroutines
// of its two actors, their supervisor's, one that reads the socket and one
// for the clock; NewWorker starts them, and Close cancels the handler's
// ctx and returns after all of them have ended.
type Worker struct {
	g     *run.Group
	board board.Board[WorkerStats]
}

// WorkerStats are a Worker's counters.
type WorkerStats struct {
	Handled    uint64    // requests replied to
	Failed     uint64    // requests given back: the handler failed
	Reconnects uint64    // broker connections given up for silence
	Malformed  uint64    // messages from the broker that are not PPP
	LastHeard  time.Time // when the broker last sent anything; zero: never
}

// The Worker's actors, as the observer knows them.
const (
	workerName  = "pirate worker"
	handlerName = "pirate worker handler"
)

// NewWorker starts a worker for a broker's backend endpoint, h handling
// the requests. Options: WithHeartbeat, WithReconnect, WithSocketOptions,
// WithLogger, WithObserver.
func NewWorker(endpoint string, h Handler, opts ...Option) (*Worker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: pirate.NewWorker: nil Handler", ErrBadOption)
	}
	cfg, err := build(forWorker, "NewWorker", opts)
	if err != nil {
		return nil, err
	}
	// Fail now on a bad endpoint or socket option rather than at each
	// reconnect.
	probe, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, cfg.SockOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("pirate: worker: %w", err)
	}
	err = probe.Connect(endpoint)
	probe.Close()
	if err != nil {
		return nil, fmt.Errorf("pirate: worker: %w", err)
	}
	w := &Worker{}
	w.board.Report(cfg.Observer, workerName)
	shared := &workerShared{cfg: &cfg, endpoint: endpoint, board: &w.board, feed: &sessionFeed{next: make(chan sessionSocket, 1)}}
	sess := actor.NewChild(workerName,
		func() actor.Behavior[wmsg] { return newSession(shared) },
		actor.WithFeed[wmsg](shared.feed),
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) wmsg { return wmsg{kind: wTick, now: t} })))
	hand := actor.NewChild(handlerName, func() actor.Behavior[job] { return handlerActor{h: h, session: sess.Ref()} })
	shared.handler = hand.Ref()
	// The handler's child comes last, so that Close stops it first: its
	// ctx is cancelled and the session drops what it returns.
	w.g, err = run.Start(context.Background(), workerName+" supervisor", nil, []actor.ChildSpec{sess, hand},
		cfg.Reconnecting()...)
	if err != nil {
		return nil, fmt.Errorf("pirate: worker: %w", err)
	}
	return w, nil
}

// Stats returns a snapshot of the worker's counters.
func (w *Worker) Stats() WorkerStats { return w.board.Get() }

// Close stops the worker: it cancels the handler's ctx, waits for the
// handler to return (its reply is dropped) and closes the socket. It
// returns after every goroutine of the worker has ended. Calls after the
// first return nil.
func (w *Worker) Close() error { return w.g.Close() }

// workerShared is what a Worker's actors share, and what outlives the
// session's restarts: the handler's state among it.
type workerShared struct {
	cfg      *config
	endpoint string
	board    *board.Board[WorkerStats]
	feed     *sessionFeed
	handler  actor.Ref[job]
	// Written by the session's incarnations only, one after the other.
	gen      atomic.Uint64 // the socket's generation, one per session
	handling atomic.Bool   // a request is with the handler
}

// wmsg is what the session receives: a message from the broker, a tick
// of its clock, or the handler's result.
type wmsg struct {
	kind wkind
	gen  uint64     // wBroker: the generation of the socket it came on
	m    socket.Msg // wBroker
	now  time.Time  // wTick
	res  handled    // wResult
}

type wkind uint8

const (
	wBroker wkind = iota + 1
	wTick
	wResult
)

// job is a request for the handler: its address stack, kept for the
// reply, and its body.
type job struct{ env, body [][]byte }

type handled struct {
	env, reply [][]byte
	err        error
}

// errSilent fails a session whose broker went silent: the restart is the
// reconnect.
var errSilent = errors.New("pirate: worker: heartbeat failure, can't reach broker; reconnecting")

// session is the Worker's protocol actor: one socket, from its start to
// its end.
type session struct {
	w         *workerShared
	log       *zap.Logger
	sock      *socket.Socket
	gen       uint64
	started   time.Time
	expiry    time.Time
	needReady bool       // READY is due once the handler is done
	waiting   [][][]byte // requests waiting for the handler (only a ppqueue sends them)
	st        WorkerStats
}

func newSession(w *workerShared) *session {
	return &session{w: w, log: w.cfg.Log, st: w.board.Get()}
}

// Start opens a new socket to the broker and says READY, unless the
// handler is at a request from an earlier socket: then READY follows its
// reply.
func (s *session) Start(ctx context.Context) error {
	cfg := s.w.cfg
	sock, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, cfg.SockOpts...)...)
	if err != nil {
		return fmt.Errorf("pirate: worker socket: %w", err)
	}
	if err := sock.Connect(s.w.endpoint); err != nil {
		sock.Close()
		return fmt.Errorf("pirate: worker socket: %w", err)
	}
	s.sock = sock
	s.gen = s.w.gen.Add(1)
	s.w.feed.use(sessionSocket{sock, s.gen})
	s.started = time.Now()
	s.expiry = s.started.Add(cfg.Expiry())
	if s.w.handling.Load() {
		s.needReady = true
	} else {
		s.send(ctx, [][]byte{ppp.FrameReady})
	}
	return nil
}

// Stop closes the socket, which ends the feed's reading of it.
func (s *session) Stop() error {
	return s.sock.Close()
}

func (s *session) Receive(ctx context.Context, m wmsg) error {
	defer func() { s.w.board.Publish(s.st) }()
	switch m.kind {
	case wBroker:
		if m.gen == s.gen {
			s.fromBroker(ctx, m.m)
		}
	case wTick:
		if m.now.Before(s.started) {
			return nil // queued while the session restarted
		}
		if m.now.After(s.expiry) {
			s.st.Reconnects++
			s.log.Warn("heartbeat failure, can't reach broker; reconnecting", zap.String("endpoint", s.w.endpoint))
			return errSilent
		}
		s.send(ctx, [][]byte{ppp.FrameHeartbeat})
	case wResult:
		s.result(ctx, m.res)
	default:
		return fmt.Errorf("pirate: worker: a message from nowhere (%d)", m.kind)
	}
	return nil
}

func (s *session) fromBroker(ctx context.Context, m socket.Msg) {
	now := time.Now()
	s.expiry = now.Add(s.w.cfg.Expiry())
	s.st.LastHeard = now
	// READY is a worker's word, never a broker's.
	p, err := parsePPP(m)
	if err != nil || p.Cmd == ppp.Ready {
		s.st.Malformed++
		return
	}
	if p.Cmd == ppp.Heartbeat {
		return
	}
	if s.w.handling.Load() {
		s.waiting = append(s.waiting, m)
		return
	}
	s.handle(ctx, m)
}

// parsePPP reads a message from the broker (ppp.Parse), its error
// wrapping ErrMalformed.
func parsePPP(m [][]byte) (ppp.Msg, error) {
	p, err := ppp.Parse(m)
	if err != nil {
		return p, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return p, nil
}

// handle gives a request to the handler.
func (s *session) handle(ctx context.Context, m [][]byte) {
	env, body, _ := ppp.SplitEnvelope(m)
	s.w.handling.Store(true)
	if err := s.w.handler.Tell(ctx, job{env, body}); err != nil {
		s.w.handling.Store(false) // the Worker is closing
	}
}

// result sends the handler's reply, or READY to give the request back,
// and READY after the reply if a new socket is waiting for it. The count
// is published first: whoever sees the reply's effect sees it counted.
func (s *session) result(ctx context.Context, r handled) {
	s.w.handling.Store(false)
	out := s.replyFor(r)
	s.w.board.Publish(s.st)
	for _, m := range out {
		s.send(ctx, m)
	}
	if s.needReady && r.err == nil {
		s.send(ctx, [][]byte{ppp.FrameReady})
	}
	s.needReady = false
	if len(s.waiting) > 0 {
		m := s.waiting[0]
		s.waiting = s.waiting[1:]
		s.handle(ctx, m)
	}
}

// replyFor turns a handler's result into what goes to the broker: the
// reply, or READY to give the request back.
func (s *session) replyFor(r handled) [][][]byte {
	if r.err != nil {
		s.st.Failed++
		s.log.Warn("handler failed; request given back", zap.Error(r.err))
		return [][][]byte{{ppp.FrameReady}}
	}
	s.st.Handled++
	return [][][]byte{append(append(make([][]byte, 0, len(r.env)+len(r.reply)), r.env...), r.reply...)}
}

// send sends to the broker within a heartbeat interval: a broker that
// cannot take it by then is as good as silent.
func (s *session) send(ctx context.Context, m [][]byte) {
	sctx, cancel := context.WithTimeout(ctx, s.w.cfg.Interval)
	defer cancel()
	if err := s.sock.Send(sctx, m); err != nil && ctx.Err() == nil {
		s.log.Debug("worker send", zap.Error(err))
	}
}

// handlerActor runs the Handler, one request at a time, and tells the
// session the result. It never fails: the handler's errors and panics
// are results.
type handlerActor struct {
	h       Handler
	session actor.Ref[wmsg]
}

func (a handlerActor) Receive(ctx context.Context, j job) error {
	reply, err := callHandler(ctx, a.h, j.body)
	if ctx.Err() != nil {
		return nil // the Worker is closing: the reply is dropped
	}
	// The session's mailbox keeps it across a reconnect: the reply goes
	// out on the next socket.
	a.session.Tell(ctx, wmsg{kind: wResult, res: handled{j.env, reply, err}})
	return nil
}

// callHandler runs h, turning an error or a panic into one wrapping
// ErrHandler.
func callHandler(ctx context.Context, h Handler, body [][]byte) ([][]byte, error) {
	reply, err := run.Call(ctx, h, body)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrHandler, err)
	}
	return reply, err
}

// sessionFeed reads the socket of the session that runs now. A session
// opens a socket at each start (a reconnect) and closes it at its end; the
// feed reads each in turn, tagging what it reads with the socket's
// generation, so that a session drops what an earlier socket received.
type sessionFeed struct {
	next chan sessionSocket // capacity 1: the socket to read next
}

type sessionSocket struct {
	s   *socket.Socket
	gen uint64
}

// use hands the feed the socket of a new session. Only sessions call it,
// one after the other, so after the drain there is room.
func (f *sessionFeed) use(s sessionSocket) {
	select {
	case <-f.next: // a socket closed before the feed read it
	default:
	}
	f.next <- s
}

func (f *sessionFeed) Run(ctx context.Context, in actor.Inlet[wmsg]) error {
	for {
		var cur sessionSocket
		select {
		case cur = <-f.next:
		case <-ctx.Done():
			return nil
		}
		for {
			m, err := cur.s.Recv(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				break // its session closed it: on to the next
			}
			if in.Put(wmsg{kind: wBroker, gen: cur.gen, m: m}) != nil {
				return nil
			}
		}
	}
}

// Close does nothing: each session closes its socket.
func (f *sessionFeed) Close() error { return nil }
