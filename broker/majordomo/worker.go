package majordomo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/socket"
)

// Handler does the work of one request for a Worker's service: it gets the
// request's body frames and returns the reply's. A Worker calls it from
// one goroutine at a time, never concurrently, and cancels ctx when the
// Worker is closed or loses the broker the request came from. The request
// frames belong to the handler; the reply frames belong to the Worker once
// returned. An error, or a panic, gives the request back to the broker
// (see ErrHandler).
type Handler func(ctx context.Context, request [][]byte) ([][]byte, error)

// Worker is the guide's Majordomo worker API (ch. 4, mdwrkapi; spec
// 7/MDP, MDP/Worker) with a Go handler for one service. It connects a
// DEALER socket to a Majordomo broker (ours, or any MDP/0.1 broker such as
// the guide's mdbroker), sends READY with its service name, and handles one
// request at a time. It sends HEARTBEAT every interval, also while its
// handler runs.
//
// The worker is two actors under a supervisor. The session, "majordomo
// worker", speaks MDP: it owns the conversation's socket, its mailbox is a
// clock that ticks every heartbeat interval and the broker's DISCONNECT,
// and it sends READY and HEARTBEAT. The handler, "majordomo worker
// handler", runs the Handler one request at a time and sends the reply
// itself, so that the session heartbeats while a request is handled. The
// socket's feed hands each REQUEST straight to the handler, notes when the
// broker was last heard from, and keeps heartbeats out of both mailboxes:
// a request costs no more hops between goroutines than in the guide's
// mdworker.
//
// The session fails, and its supervisor starts a new one, on a new socket
// (a new routing id) with READY, when the broker has been silent for
// liveness intervals or sends DISCONNECT (the broker closing, restarting,
// or rejecting it). The supervisor waits first: WithReconnect's back-off,
// init doubling up to max with each loss within a window of four times the
// silence allowance plus max (so the wait grows while losses come close
// together, and starts again from init once they stop). A handler still
// running then has its ctx cancelled and its reply is dropped: the broker
// has given the request to another worker or forgotten it.
//
// A handler that fails (returns an error or panics; see ErrHandler) gives
// the request back: MDP has no command for it, so the worker sends
// DISCONNECT, which makes the broker hand the request to another worker,
// and registers again at once on a new socket. Close sends DISCONNECT too,
// so the broker forgets the worker at once.
//
// Concurrency: a Worker is safe for concurrent use. NewWorker starts its
// goroutines (the two actors', their supervisor's, the session's two
// feeds'); Close cancels the handler's ctx and returns after all of them
// have ended. Stats may be called from any goroutine.
type Worker struct {
	g       *run.Group
	service string
	shared  *workerShared
}

// WorkerStats are a Worker's counters.
type WorkerStats struct {
	Handled     uint64 // requests replied to
	Failed      uint64 // requests given back: the handler failed
	Dropped     uint64 // replies dropped: the broker was lost while the handler ran
	Disconnects uint64 // DISCONNECT commands from the broker
	Reconnects  uint64 // new conversations after the first
	Malformed   uint64 // messages from the broker that are not MDP, or a REQUEST while busy
}

// NewWorker starts a worker for service at a Majordomo broker's endpoint
// (connected; a leading '>' is allowed). The service name may not be empty
// nor start with "mmi." (ErrServiceName); h may not be nil (ErrBadOption).
// Options: WithHeartbeat (default DefaultHeartbeatInterval and
// DefaultLiveness, which leave room for the guide's mdbroker's 2.5 s
// heartbeats), WithReconnect, WithSocketOptions, WithLogger, WithObserver.
// When profiling is on (see the telemetry package), each request handled
// is a task named by the service on the profile's timeline, one row per
// Worker of the process.
func NewWorker(endpoint, service string, h Handler, opts ...Option) (*Worker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: NewWorker: nil Handler", ErrBadOption)
	}
	if service == "" || isMMI(service) {
		return nil, fmt.Errorf("%w: %q", ErrServiceName, service)
	}
	cfg, err := build(forWorker, "NewWorker", opts)
	if err != nil {
		return nil, err
	}
	shared := &workerShared{cfg: &cfg, service: service, tasks: run.NewTasks()}
	shared.endpoint = strings.TrimPrefix(endpoint, ">")
	shared.board.Report(cfg.Observer, "majordomo worker")
	w := &Worker{service: service, shared: shared}
	var session *actor.Child[sessionMsg]
	handler := actor.NewChild("majordomo worker handler",
		func() actor.Behavior[job] { return handlerState{h: h, w: shared, session: session.Ref()} })
	shared.feed = newSessionFeed(shared, handler.Ref())
	session = actor.NewChild("majordomo worker",
		func() actor.Behavior[sessionMsg] { return &sessionState{w: shared} },
		actor.WithFeed[sessionMsg](shared.feed),
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) sessionMsg { return sessionMsg{kind: msgTick, tick: t} })))
	// The session last: Close stops it first, and its DISCONNECT and the
	// end of its requests' ctx come before the handler is waited for.
	aopts := cfg.Reconnecting()
	w.g, err = run.Start(context.Background(), "majordomo worker supervisor", nil,
		[]actor.ChildSpec{handler, session}, aopts...)
	if err != nil {
		return nil, fmt.Errorf("majordomo: worker: %w", err)
	}
	return w, nil
}

// Service returns the service the worker registers for.
func (w *Worker) Service() string { return w.service }

// Stats returns a snapshot of the worker's counters.
func (w *Worker) Stats() WorkerStats { return w.shared.stats() }

// Close stops the worker: it sends DISCONNECT to the broker, cancels the
// handler's ctx, waits for the handler to return (its reply is dropped)
// and closes the socket. It returns after every goroutine of the worker
// has ended. Calls after the first return nil.
func (w *Worker) Close() error { return w.g.Close() }

// workerShared is what the worker's actors and the socket's feed share,
// and what outlives the session's restarts.
type workerShared struct {
	cfg      *opt.Config[extra]
	endpoint string
	service  string
	tasks    *run.Tasks // the requests handled, on the profile's timeline
	feed     *sessionFeed
	board    board.Board[WorkerStats]
	sessions int // the session's incarnations run one after the other

	// mu orders the session's socket changes with the handler's reply:
	// a reply goes out on the socket its request came by, or nowhere.
	mu   sync.Mutex
	sock *socket.Socket  // the conversation's; nil between conversations
	gen  uint64          // the conversation's number (the feed's)
	sctx context.Context // ends with the conversation, and with it a request's handler ctx
	busy bool            // a request of this conversation is with the handler

	lastHeard                                                    atomic.Int64 // unix ns: the broker's last MDP message
	handled, failed, dropped, disconnects, reconnects, malformed atomic.Uint64
}

func (w *workerShared) stats() WorkerStats {
	return WorkerStats{
		Handled:     w.handled.Load(),
		Failed:      w.failed.Load(),
		Dropped:     w.dropped.Load(),
		Disconnects: w.disconnects.Load(),
		Reconnects:  w.reconnects.Load(),
		Malformed:   w.malformed.Load(),
	}
}

// publish puts the counters on the board, for the observer.
func (w *workerShared) publish() {
	w.board.PublishFrom(w.stats)
}

// send sends to the broker, after publishing the counters: whoever hears
// the broker's side of it finds them up to date. Called with mu held.
func (w *workerShared) send(ctx context.Context, m [][]byte) {
	w.publish()
	// Most often there is room: no clock for the deadline then.
	if err := w.sock.TrySend(m); !errors.Is(err, socket.ErrWouldBlock) {
		if err != nil && ctx.Err() == nil {
			w.cfg.Log.Debug("majordomo worker send", zap.Error(err))
		}
		return
	}
	// Bounded: with no broker connected, DEALER blocks.
	sctx, cancel := context.WithTimeout(ctx, w.cfg.Interval)
	defer cancel()
	if err := w.sock.Send(sctx, m); err != nil && ctx.Err() == nil {
		w.cfg.Log.Debug("majordomo worker send", zap.Error(err))
	}
}

// sessionMsg is what the session handles: a tick, or news of the
// conversation gen from the feed (the broker's DISCONNECT, the socket's
// failure) or from the handler (it failed on a request).
type sessionMsg struct {
	kind msgKind
	gen  uint64
	err  error // msgLost: the socket's error; msgFailed: the handler's
	tick time.Time
}

type msgKind uint8

const (
	msgTick msgKind = iota
	msgLost
	msgDisconnect
	msgFailed
)

// job is a request for the handler, from conversation gen; sctx ends with
// the conversation.
type job struct {
	sctx   context.Context
	gen    uint64
	client []byte
	body   [][]byte
}

// Why a session ends on its own: the worker restarts it.
var (
	errSilent       = errors.New("majordomo: worker: no word from the broker for liveness intervals")
	errDisconnected = errors.New("majordomo: worker: the broker sent DISCONNECT")
)

// sessionState is one conversation with the broker, on a socket of its
// own: READY, then heartbeats both ways while the handler takes requests.
type sessionState struct {
	w       *workerShared
	ctx     context.Context // the actor's
	sock    *socket.Socket
	gen     uint64
	scancel context.CancelFunc
	started time.Time
	ended   bool // on its own (the broker's silence or DISCONNECT): no DISCONNECT to send
}

func (s *sessionState) Start(ctx context.Context) error {
	s.ctx = ctx
	return s.open()
}

func (s *sessionState) Stop() error {
	s.close(!s.ended)
	s.w.publish()
	return nil
}

// open starts a conversation: a new socket, READY.
func (s *sessionState) open() error {
	w := s.w
	cfg := w.cfg
	// A short linger lets the DISCONNECT of Close and of a failed handler
	// leave; a broker that is gone costs Close at most that.
	sock, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(min(cfg.Interval, time.Second))}, cfg.SockOpts...)...)
	if err != nil {
		return fmt.Errorf("majordomo: worker: %w", err)
	}
	if err = sock.Connect(w.endpoint); err != nil {
		sock.Close()
		return fmt.Errorf("majordomo: worker: %w", err)
	}
	if w.sessions > 0 {
		w.reconnects.Add(1)
	}
	w.sessions++
	s.sock, s.started = sock, time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	var sctx context.Context
	sctx, s.scancel = context.WithCancel(s.ctx)
	w.sock, w.sctx, w.busy = sock, sctx, false
	s.gen = w.feed.follow(sock)
	w.gen = s.gen
	w.send(s.ctx, mdpWorkerMsg(frameMDPReady, []byte(w.service)))
	return nil
}

// close ends the conversation, with DISCONNECT when bye. A reply the
// handler has not sent by then is dropped.
func (s *sessionState) close(bye bool) {
	if s.sock == nil {
		return
	}
	s.w.mu.Lock()
	s.w.sock = nil
	s.w.mu.Unlock()
	if bye {
		// On a ctx of its own: the actor's may be done (Close).
		ctx, cancel := context.WithTimeout(context.Background(), min(s.w.cfg.Interval, time.Second))
		s.sock.Send(ctx, mdpWorkerMsg(frameMDPDisconnect))
		cancel()
	}
	s.scancel()
	s.sock.Close()
	s.sock = nil
}

func (s *sessionState) Receive(ctx context.Context, m sessionMsg) error {
	w := s.w
	if m.kind != msgTick && m.gen != s.gen {
		return nil // from a conversation that is over
	}
	switch m.kind {
	case msgLost:
		s.ended = true
		return fmt.Errorf("majordomo: worker: %w", m.err)
	case msgDisconnect:
		w.disconnects.Add(1)
		w.publish()
		s.ended = true
		w.cfg.Log.Warn("the broker disconnected; reconnecting", zap.String("endpoint", w.endpoint))
		return errDisconnected
	case msgTick:
		if m.tick.Before(s.started) {
			return nil // queued while the session restarted
		}
		expiry := w.cfg.Expiry()
		if m.tick.Sub(s.started) > expiry && m.tick.Sub(time.Unix(0, w.lastHeard.Load())) > expiry {
			s.ended = true
			w.cfg.Log.Warn("lost the broker; reconnecting", zap.String("endpoint", w.endpoint), zap.Duration("silent", expiry))
			return errSilent
		}
		w.mu.Lock()
		w.send(ctx, mdpWorkerMsg(frameMDPHeartbeat))
		w.mu.Unlock()
	case msgFailed:
		w.failed.Add(1)
		w.cfg.Log.Warn("handler failed; request given back", zap.Error(m.err))
		// The broker is there: register again at once.
		s.close(true)
		return s.open()
	}
	return nil
}

// handlerState runs the Handler, one request at a time, and sends the
// reply on the socket the request came by, if its conversation goes on.
type handlerState struct {
	h       Handler
	w       *workerShared
	session actor.Ref[sessionMsg]
}

func (hs handlerState) Receive(ctx context.Context, j job) error {
	w := hs.w
	reply, err := [][]byte(nil), j.sctx.Err()
	if err == nil { // not for a conversation already over
		hctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(j.sctx, cancel)
		start := w.tasks.Start()
		reply, err = callHandler(hctx, hs.h, j.body)
		stop()
		cancel()
		w.tasks.Done(w.service, start, err)
	}
	w.mu.Lock()
	switch {
	case j.gen != w.gen || w.sock == nil || j.sctx.Err() != nil:
		w.mu.Unlock()
		w.dropped.Add(1) // for a conversation that ended
		w.publish()
	case err != nil:
		w.mu.Unlock()
		// MDP cannot give a request back but by DISCONNECT: the session
		// says it and registers again. Busy until then. Refused only when
		// the worker is closing.
		hs.session.Tell(ctx, sessionMsg{kind: msgFailed, gen: j.gen, err: err})
	default:
		w.handled.Add(1)
		w.send(ctx, append(mdpWorkerMsg(frameMDPReply, j.client, frameEmpty), reply...))
		w.busy = false
		w.mu.Unlock()
	}
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

// sessionFeed reads the broker's messages: it receives from the socket of
// the conversation of the moment, which each one opens anew (a new routing
// id at the broker, as the spec wants) and hands over with follow. A
// REQUEST goes straight to the handler, tagged with its conversation's
// number so that its reply goes nowhere once that conversation is over;
// DISCONNECT and the socket's failure go to the session; a heartbeat only
// notes that the broker is alive. It outlives the session's restarts, as a
// feed does, where patterns.Feed would read one socket for the actor's
// life; the sockets are the sessions'.
type sessionFeed struct {
	w       *workerShared
	handler actor.Ref[job]

	mu   sync.Mutex
	sock *socket.Socket
	gen  uint64
	next chan struct{} // closed when sock changes
}

func newSessionFeed(w *workerShared, handler actor.Ref[job]) *sessionFeed {
	return &sessionFeed{w: w, handler: handler, next: make(chan struct{})}
}

// follow makes s the socket to receive from and returns its number.
func (f *sessionFeed) follow(s *socket.Socket) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sock = s
	f.gen++
	close(f.next)
	f.next = make(chan struct{})
	return f.gen
}

func (f *sessionFeed) Run(ctx context.Context, in actor.Inlet[sessionMsg]) error {
	for {
		f.mu.Lock()
		s, gen, next := f.sock, f.gen, f.next
		f.mu.Unlock()
		for s != nil {
			m, err := s.Recv(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				// Closed by its session, or failed: the session hears of it
				// (and ignores it if it closed the socket itself).
				if in.Put(sessionMsg{kind: msgLost, gen: gen, err: err}) != nil {
					return nil // the worker is closing
				}
				break
			}
			if f.fromBroker(ctx, in, gen, m) != nil {
				return nil
			}
		}
		select { // the next session's socket
		case <-next:
		case <-ctx.Done():
			return nil
		}
	}
}

// fromBroker passes a message of conversation gen on; an error only when
// the worker is closing.
func (f *sessionFeed) fromBroker(ctx context.Context, in actor.Inlet[sessionMsg], gen uint64, m socket.Msg) error {
	w := f.w
	cmd, ok := mdpCut(m, WorkerHeader)
	if !ok || len(cmd) < 1 {
		w.malformed.Add(1)
		w.publish()
		return nil
	}
	w.lastHeard.Store(time.Now().UnixNano())
	switch string(cmd[0]) {
	case mdpRequest:
		client, body, ok := mdpAddressed(cmd[1:])
		w.mu.Lock()
		if gen != w.gen || w.sock == nil {
			w.mu.Unlock()
			return nil // its conversation is over
		}
		if !ok || w.busy {
			w.mu.Unlock()
			w.malformed.Add(1)
			w.publish()
			return nil
		}
		w.busy = true
		sctx := w.sctx
		w.mu.Unlock()
		return f.handler.Tell(ctx, job{sctx: sctx, gen: gen, client: client, body: body})
	case mdpHeartbeat:
	case mdpDisconnect:
		return in.Put(sessionMsg{kind: msgDisconnect, gen: gen})
	default:
		w.malformed.Add(1)
		w.publish()
	}
	return nil
}

func (f *sessionFeed) Close() error { return nil }
