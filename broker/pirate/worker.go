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
// handler", has the socket for its mailbox and reads it from its own
// goroutine between requests (actor.PolledFeed): it runs the Handler on
// one request at a time and sends the reply itself, so that a request
// costs no hand-over between goroutines, as in the guide's ppworker loop.
// Whoever reads the socket notes when the broker was last heard from, and
// heartbeats never reach the Handler. The session, "pirate worker", owns
// the socket's life: its mailbox is a clock (the heartbeat interval); at
// each tick it reads what the socket holds (the handler, at a long
// request, does not; requests it finds wait for the handler, up to a
// thousand), sends HEARTBEAT, and fails when the broker has been silent
// too long. The supervisor's restart, after the reconnect back-off
// (actor.WithBackoff, for as many restarts as it takes), is the
// reconnect: a new socket, READY.
// Since the handler is an actor of its own, heartbeats go on while it
// works, and a request it is at survives a reconnect. Requests waiting for
// the handler are forgotten at a reconnect (the broker has given them to
// others, or forgotten them too).
//
// Concurrency: a Worker is safe for concurrent use. It runs the goroutines
// of its two actors (the handler's reads the socket), their supervisor's,
// and one for the clock; NewWorker starts them, and Close cancels the
// handler's ctx and returns after all of them have ended.
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
// WithLogger, WithObserver, WithoutTaskSpans. When profiling is on (see the
// telemetry package), each request handled is a task on the profile's
// timeline, one row per Worker of the process.
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
	w := &Worker{shared: &workerShared{cfg: &cfg, endpoint: endpoint, fresh: make(chan struct{})}}
	if !cfg.X.noTaskSpans {
		w.shared.tasks = run.NewTasks()
	}
	shared := w.shared
	shared.board.Report(cfg.Observer, workerName)
	sess := actor.NewChild(workerName,
		func() actor.Behavior[time.Time] { return &session{w: shared, log: cfg.Log} },
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) time.Time { return t })))
	hand := actor.NewChild(handlerName,
		func() actor.Behavior[job] { return handlerActor{h: h, w: shared} },
		actor.WithFeed[job](&sessionFeed{w: shared}))
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
	board    board.Board[WorkerStats]
	tasks    *run.Tasks // the requests handled, on the profile's timeline; nil: WithoutTaskSpans

	// mu orders the session's socket changes with the handler's sends
	// and with the reads of the handler and the session: a reply goes
	// out on the socket of the moment, or waits for the next.
	mu         sync.Mutex
	sock       *socket.Socket // the session's; nil between sessions
	gen        uint64         // the socket's generation, one per session
	fresh      chan struct{}  // closed when a session's socket comes; nil while one is read
	unreadable bool           // the session's socket failed to receive
	backlog    []job          // requests the session read while the handler was busy
	handling   bool           // a request is with the Handler
	needReady  bool           // READY is due after the Handler's reply
	pending    [][]byte       // a reply that found no socket: the next session sends it

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
	// Most often there is room: no clock for the deadline then.
	if err := w.sock.TrySend(m); !errors.Is(err, socket.ErrWouldBlock) {
		if err != nil && ctx.Err() == nil {
			w.cfg.Log.Debug("worker send", zap.Error(err))
		}
		return
	}
	sctx, cancel := context.WithTimeout(ctx, w.cfg.Interval)
	defer cancel()
	if err := w.sock.Send(sctx, m); err != nil && ctx.Err() == nil {
		w.cfg.Log.Debug("worker send", zap.Error(err))
	}
}

// maxBacklog bounds the requests the session reads for a busy handler;
// beyond it they wait in the socket, under its high-water mark. Only a
// broker that sends requests to a busy worker (the guide's ppqueue takes
// any sign of life for READY) fills it.
const maxBacklog = 1000

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
	w.unreadable = false
	if w.fresh != nil {
		close(w.fresh) // the handler may wait for it
		w.fresh = nil
	}
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

// Stop lets go of the socket and closes it; a reply from now on waits for
// the next session, and the requests in the backlog are forgotten (the
// broker gives them to others).
func (s *session) Stop() error {
	w := s.w
	w.mu.Lock()
	w.letGoLocked()
	w.mu.Unlock()
	return s.sock.Close()
}

// letGoLocked takes the session's socket away from the handler: a reply
// finished from now on waits for the next socket, and the backlog is
// forgotten. Called with mu held.
func (w *workerShared) letGoLocked() {
	w.sock = nil
	w.waitFresh()
	clear(w.backlog)
	w.backlog = w.backlog[:0]
}

// Receive is a tick of the clock: HEARTBEAT, or the end of a session whose
// broker has been silent too long. The handler reads the socket only
// between requests, so the session reads it first: a broker that goes
// silent while the handler is at a long request is noticed all the same.
func (s *session) Receive(ctx context.Context, now time.Time) error {
	w := s.w
	defer w.publish()
	if now.Before(s.started) {
		return nil // queued while the session restarted
	}
	w.mu.Lock()
	if len(w.backlog) < maxBacklog {
		w.backlog = w.readLocked(w.backlog, maxBacklog-len(w.backlog))
	}
	w.mu.Unlock()
	// Silent since this socket's start, or since the broker last spoke.
	if now.Sub(s.started) > w.cfg.Expiry() && now.Sub(time.Unix(0, w.lastHeard.Load())) > w.cfg.Expiry() {
		w.reconnects.Add(1)
		s.log.Warn("heartbeat failure, can't reach broker; reconnecting", zap.String("endpoint", w.endpoint))
		// Let go of the socket before failing, not only in Stop after:
		// whoever sees the failure sees a reply finished after it wait
		// for the next socket.
		w.mu.Lock()
		w.letGoLocked()
		w.mu.Unlock()
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

	start := w.tasks.Start()
	reply, err := callHandler(ctx, a.h, j.body)
	if ctx.Err() != nil {
		return nil // the Worker is closing: the reply is dropped
	}
	w.tasks.Done("request", start, err)
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

// sessionFeed is the handler's mailbox: the socket of the session that
// runs now, which the handler's own goroutine reads between requests
// (actor.PolledFeed), so that a request reaches the Handler with no
// hand-over between goroutines, as in the guide's ppworker loop. A session
// opens a socket at each start (a reconnect) and closes it at its end; the
// feed reads whichever is the session's (workerShared.sock), tagging
// requests with its generation, so that the handler drops what an earlier
// socket received. Each message is a sign of life from the broker;
// heartbeats are nothing more and never reach the handler. While the
// handler is at a request nobody polls, so the session reads at each tick
// too (readLocked), holding the requests it finds in the backlog.
type sessionFeed struct {
	w *workerShared
}

// Attach: the handler polls the feed.
func (f *sessionFeed) Attach(context.Context, actor.Inlet[job]) (bool, error) { return true, nil }

// Ready is closed once Poll has something: a request the session put in
// the backlog, a message on the socket, or, between sessions, the next
// session's socket.
func (f *sessionFeed) Ready() <-chan struct{} {
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case len(w.backlog) > 0:
		return closedChan
	case w.sock == nil || w.unreadable:
		return w.fresh
	}
	return w.sock.Readable()
}

// Poll takes up to max requests: the backlog's first, then the socket's.
func (f *sessionFeed) Poll(_ actor.Inlet[job], dst []job, max int) ([]job, error) {
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(max, len(w.backlog))
	dst = append(dst, w.backlog[:n]...)
	w.backlog = append(w.backlog[:0], w.backlog[n:]...)
	clear(w.backlog[len(w.backlog):cap(w.backlog)])
	return w.readLocked(dst, max-n), nil
}

// Run feeds the mailbox when the actor does not poll the feed.
func (f *sessionFeed) Run(ctx context.Context, in actor.Inlet[job]) error {
	var buf []job
	for {
		select {
		case <-f.Ready():
		case <-ctx.Done():
			return nil
		}
		buf, _ = f.Poll(in, buf[:0], maxBacklog)
		if len(buf) > 0 && in.PutAll(buf) != nil {
			return nil // the actor is stopping
		}
		clear(buf)
	}
}

// Close does nothing: each session closes its socket.
func (f *sessionFeed) Close() error { return nil }

// closedChan is a Ready that is ready now.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// waitFresh makes the channel that the next session's socket closes, for
// the handler to wait on until then. Called with mu held.
func (w *workerShared) waitFresh() {
	if w.fresh == nil {
		w.fresh = make(chan struct{})
	}
}

// readLocked appends to dst up to max requests that the session's socket
// holds now, without waiting, and notes when the broker was last heard
// from. Called with mu held.
func (w *workerShared) readLocked(dst []job, max int) []job {
	for n := 0; n < max && w.sock != nil && !w.unreadable; {
		m, err := w.sock.TryRecv()
		if errors.Is(err, socket.ErrWouldBlock) {
			break
		}
		if err != nil {
			// A session closes its socket only after letting go of it
			// (Stop): this one failed. Nothing more comes, so the
			// session finds the broker silent and reconnects.
			w.unreadable = true
			w.waitFresh()
			w.cfg.Log.Warn("worker receive", zap.Error(err))
			break
		}
		w.lastHeard.Store(time.Now().UnixNano())
		// READY is a worker's word, never a broker's.
		p, err := parsePPP(m)
		if err != nil || p.Cmd == ppp.Ready {
			w.malformed.Add(1)
			w.publish()
			continue
		}
		if p.Cmd == ppp.Heartbeat {
			continue
		}
		dst = append(dst, job{p.Env, p.Body, w.gen})
		n++
	}
	return dst
}
