package pirate

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
// A Worker is two actors under a supervisor. The handler, "pirate worker
// handler", has the socket for its mailbox: it runs the Handler on one
// request at a time and sends the reply itself, so that a request costs no
// more hops between goroutines than in the guide's ppworker. The socket's
// feed notes when the broker was last heard from and keeps heartbeats out
// of the mailbox. The session, "pirate worker", owns the socket's life:
// its mailbox is a clock (the heartbeat interval); it sends HEARTBEAT at
// each tick, and fails when the broker has been silent too long. The
// supervisor's restart, after the reconnect back-off (actor.WithBackoff,
// for as many restarts as it takes), is the reconnect: a new socket, READY.
// Since the handler is an actor of its own, heartbeats go on while it
// works, and a request it is at survives a reconnect. Requests waiting for
// the handler are forgotten at a reconnect (the broker has given them to
// others, or forgotten them too).
//
// Concurrency: a Worker is safe for concurrent use. It runs the goroutines
// of its two actors, their supervisor's, one that reads the socket and one
// for the clock; NewWorker starts them, and Close cancels the handler's
// ctx and returns after all of them have ended.
type Worker struct {
	g      *run.Group
	shared *workerShared
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
	w := &Worker{shared: &workerShared{cfg: &cfg, endpoint: endpoint, feed: &sessionFeed{next: make(chan sessionSocket, 1)}}}
	shared := w.shared
	shared.feed.w = shared
	shared.board.Report(cfg.Observer, workerName)
	sess := actor.NewChild(workerName,
		func() actor.Behavior[time.Time] { return &session{w: shared, log: cfg.Log} },
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) time.Time { return t })))
	hand := actor.NewChild(handlerName,
		func() actor.Behavior[job] { return handlerActor{h: h, w: shared} },
		actor.WithFeed[job](shared.feed))
	// The handler's child comes last, so that Close stops it first: its
	// ctx is cancelled and its reply dropped.
	w.g, err = run.Start(context.Background(), workerName+" supervisor", nil, []actor.ChildSpec{sess, hand},
		cfg.Reconnecting()...)
	if err != nil {
		return nil, fmt.Errorf("pirate: worker: %w", err)
	}
	return w, nil
}

// Stats returns a snapshot of the worker's counters.
func (w *Worker) Stats() WorkerStats { return w.shared.stats() }

// Close stops the worker: it cancels the handler's ctx, waits for the
// handler to return (its reply is dropped) and closes the socket. It
// returns after every goroutine of the worker has ended. Calls after the
// first return nil.
func (w *Worker) Close() error { return w.g.Close() }

// workerShared is what a Worker's actors and the socket's feed share, and
// what outlives the session's restarts.
type workerShared struct {
	cfg      *config
	endpoint string
	feed     *sessionFeed
	board    board.Board[WorkerStats]

	// mu orders the session's socket changes with the handler's sends:
	// a reply goes out on the socket of the moment, or waits for the next.
	mu        sync.Mutex
	sock      *socket.Socket // the session's; nil between sessions
	gen       uint64         // the socket's generation, one per session
	handling  bool           // a request is with the Handler
	needReady bool           // READY is due after the Handler's reply
	pending   [][]byte       // a reply that found no socket: the next session sends it

	lastHeard                              atomic.Int64 // unix ns: when the broker last sent anything
	handled, failed, reconnects, malformed atomic.Uint64
}

func (w *workerShared) stats() WorkerStats {
	s := WorkerStats{
		Handled:    w.handled.Load(),
		Failed:     w.failed.Load(),
		Reconnects: w.reconnects.Load(),
		Malformed:  w.malformed.Load(),
	}
	if ns := w.lastHeard.Load(); ns != 0 {
		s.LastHeard = time.Unix(0, ns)
	}
	return s
}

// publish puts the counters on the board, for Wait and the observer. The
// last-heard time goes with them when something else changed, or at the
// session's tick: not at each heartbeat.
func (w *workerShared) publish() {
	w.board.PublishFrom(w.stats)
}

// send sends m to the broker within a heartbeat interval: a broker that
// cannot take it by then is as good as silent. Called with mu held.
func (w *workerShared) send(ctx context.Context, m [][]byte) {
	sctx, cancel := context.WithTimeout(ctx, w.cfg.Interval)
	defer cancel()
	if err := w.sock.Send(sctx, m); err != nil && ctx.Err() == nil {
		w.cfg.Log.Debug("worker send", zap.Error(err))
	}
}

// job is a request for the handler: its address stack, kept for the
// reply, its body, and the generation of the socket it came on.
type job struct {
	env, body [][]byte
	gen       uint64
}

// errSilent fails a session whose broker went silent: the restart is the
// reconnect.
var errSilent = errors.New("pirate: worker: heartbeat failure, can't reach broker; reconnecting")

// session is the Worker's protocol actor: one socket, from its start to
// its end. Its mailbox is the heartbeat clock.
type session struct {
	w       *workerShared
	log     *zap.Logger
	sock    *socket.Socket
	started time.Time
}

// Start opens a new socket to the broker and says READY, after the reply
// of a request whose socket was lost; unless the handler is still at that
// request: then READY follows its reply.
func (s *session) Start(ctx context.Context) error {
	w := s.w
	sock, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, w.cfg.SockOpts...)...)
	if err != nil {
		return fmt.Errorf("pirate: worker socket: %w", err)
	}
	if err := sock.Connect(w.endpoint); err != nil {
		sock.Close()
		return fmt.Errorf("pirate: worker socket: %w", err)
	}
	s.sock = sock
	s.started = time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sock = sock
	w.gen++
	w.feed.use(sessionSocket{sock, w.gen})
	if w.handling {
		w.needReady = true
		return nil
	}
	if w.pending != nil {
		w.send(ctx, w.pending)
		w.pending = nil
	}
	w.send(ctx, [][]byte{ppp.FrameReady})
	return nil
}

// Stop closes the socket, which ends the feed's reading of it; a reply
// from now on waits for the next session.
func (s *session) Stop() error {
	s.w.mu.Lock()
	s.w.sock = nil
	s.w.mu.Unlock()
	return s.sock.Close()
}

// Receive is a tick of the clock: HEARTBEAT, or the end of a session whose
// broker has been silent too long.
func (s *session) Receive(ctx context.Context, now time.Time) error {
	w := s.w
	defer w.publish()
	if now.Before(s.started) {
		return nil // queued while the session restarted
	}
	// Silent since this socket's start, or since the broker last spoke.
	if now.Sub(s.started) > w.cfg.Expiry() && now.Sub(time.Unix(0, w.lastHeard.Load())) > w.cfg.Expiry() {
		w.reconnects.Add(1)
		s.log.Warn("heartbeat failure, can't reach broker; reconnecting", zap.String("endpoint", w.endpoint))
		return errSilent
	}
	w.mu.Lock()
	w.send(ctx, [][]byte{ppp.FrameHeartbeat})
	w.mu.Unlock()
	return nil
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

// handlerActor runs the Handler, one request at a time, and sends the
// result: the reply, or READY to give the request back. It never fails:
// the handler's errors and panics are results.
type handlerActor struct {
	h Handler
	w *workerShared
}

func (a handlerActor) Receive(ctx context.Context, j job) error {
	w := a.w
	w.mu.Lock()
	if j.gen != w.gen || w.sock == nil {
		w.mu.Unlock()
		return nil // its socket is gone, and the broker has given it to another
	}
	w.handling = true
	w.mu.Unlock()

	reply, err := callHandler(ctx, a.h, j.body)
	if ctx.Err() != nil {
		return nil // the Worker is closing: the reply is dropped
	}
	// The count is published first: whoever sees the reply's effect sees
	// it counted.
	var out [][]byte
	if err != nil {
		w.failed.Add(1)
		w.cfg.Log.Warn("handler failed; request given back", zap.Error(err))
	} else {
		w.handled.Add(1)
		out = replyMsg(j.env, reply)
	}
	w.publish()

	w.mu.Lock()
	defer w.mu.Unlock()
	w.handling = false
	if w.sock == nil {
		w.pending = out // nil after a failure: READY alone gives it back
		return nil
	}
	if out != nil {
		w.send(ctx, out)
	}
	if out == nil || w.needReady {
		w.send(ctx, [][]byte{ppp.FrameReady})
	}
	w.needReady = false
	return nil
}

// replyMsg is the reply to a request: its address stack copied, then the
// handler's reply.
func replyMsg(env, reply [][]byte) [][]byte {
	return append(append(make([][]byte, 0, len(env)+len(reply)), env...), reply...)
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

// sessionFeed reads the socket of the session that runs now into the
// handler's mailbox. A session opens a socket at each start (a reconnect)
// and closes it at its end; the feed reads each in turn, tagging requests
// with the socket's generation, so that the handler drops what an earlier
// socket received. Each message is a sign of life from the broker;
// heartbeats are nothing more and stay out of the mailbox.
type sessionFeed struct {
	w    *workerShared
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

func (f *sessionFeed) Run(ctx context.Context, in actor.Inlet[job]) error {
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
			f.w.lastHeard.Store(time.Now().UnixNano())
			// READY is a worker's word, never a broker's.
			p, err := parsePPP(m)
			if err != nil || p.Cmd == ppp.Ready {
				f.w.malformed.Add(1)
				f.w.publish()
				continue
			}
			if p.Cmd == ppp.Heartbeat {
				continue
			}
			if in.Put(job{p.Env, p.Body, cur.gen}) != nil {
				return nil
			}
		}
	}
}

// Close does nothing: each session closes its socket.
func (f *sessionFeed) Close() error { return nil }
