package majordomo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
// worker", speaks MDP: its mailbox is fed by its socket and by a clock that
// ticks every heartbeat interval. The handler, "majordomo worker handler",
// runs the Handler for the requests the session hands it and tells it the
// replies, so that the session heartbeats while a request is handled.
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
	board   board.Board[WorkerStats]
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
	w := &Worker{service: service}
	shared := &workerShared{cfg: &cfg, service: service, board: &w.board, feed: newSessionFeed()}
	shared.endpoint = strings.TrimPrefix(endpoint, ">")
	var session *actor.Child[sessionMsg]
	handler := actor.NewChild("majordomo worker handler",
		func() actor.Behavior[job] { return handlerState{h: h, session: session.Ref()} })
	session = actor.NewChild("majordomo worker",
		func() actor.Behavior[sessionMsg] { return &sessionState{w: shared, handler: handler.Ref()} },
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
func (w *Worker) Stats() WorkerStats { return w.board.Get() }

// Close stops the worker: it sends DISCONNECT to the broker, cancels the
// handler's ctx, waits for the handler to return (its reply is dropped)
// and closes the socket. It returns after every goroutine of the worker
// has ended. Calls after the first return nil.
func (w *Worker) Close() error { return w.g.Close() }

// workerShared is what the session's incarnations share: the worker's
// settings, its counters' board, the feed that follows their sockets, and
// how many sessions there were. Incarnations run one after the other, so
// sessions needs no lock.
type workerShared struct {
	cfg      *opt.Config[extra]
	endpoint string
	service  string
	board    *board.Board[WorkerStats]
	feed     *sessionFeed
	sessions int
}

// sessionMsg is what the session handles: a message from the broker on
// the socket of session gen, that socket's failure, a tick, or a
// handler's result for a request of session gen.
type sessionMsg struct {
	kind   msgKind
	gen    uint64
	frames socket.Msg // msgBroker: the message; msgResult: the reply's body
	client []byte     // msgResult: the client the request came from
	err    error      // msgLost: the socket's error; msgResult: the handler's
	tick   time.Time
}

type msgKind uint8

const (
	msgBroker msgKind = iota
	msgLost
	msgTick
	msgResult
)

// job is a request for the handler, from session gen; sctx ends with the
// session.
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
// own: READY, then requests and heartbeats.
type sessionState struct {
	w       *workerShared
	handler actor.Ref[job]
	st      WorkerStats

	ctx     context.Context // the actor's
	sock    *socket.Socket
	gen     uint64
	sctx    context.Context // ends with the conversation, and with it a request's handler ctx
	scancel context.CancelFunc
	expiry  time.Time
	busy    bool
	ended   bool // on its own (the broker's silence or DISCONNECT): no DISCONNECT to send
}

func (s *sessionState) Start(ctx context.Context) error {
	s.ctx = ctx
	s.st = s.w.board.Get()
	return s.open()
}

func (s *sessionState) Stop() error {
	s.close(!s.ended)
	s.publish()
	return nil
}

// open starts a conversation: a new socket, READY.
func (s *sessionState) open() error {
	cfg := s.w.cfg
	// A short linger lets the DISCONNECT of Close and of a failed handler
	// leave; a broker that is gone costs Close at most that.
	sock, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(min(cfg.Interval, time.Second))}, cfg.SockOpts...)...)
	if err != nil {
		return fmt.Errorf("majordomo: worker: %w", err)
	}
	if err = sock.Connect(s.w.endpoint); err != nil {
		sock.Close()
		return fmt.Errorf("majordomo: worker: %w", err)
	}
	s.sock, s.gen = sock, s.w.feed.follow(sock)
	s.sctx, s.scancel = context.WithCancel(s.ctx)
	if s.w.sessions > 0 {
		s.st.Reconnects++
	}
	s.w.sessions++
	s.busy = false
	s.expiry = time.Now().Add(cfg.Expiry())
	s.send(mdpWorkerMsg(frameMDPReady, []byte(s.w.service)))
	return nil
}

// close ends the conversation, with DISCONNECT when bye.
func (s *sessionState) close(bye bool) {
	if s.sock == nil {
		return
	}
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

// send sends to the broker, after publishing the counters: whoever hears
// the broker's side of it finds them up to date.
func (s *sessionState) send(m [][]byte) {
	s.publish()
	// Bounded: with no broker connected, DEALER blocks.
	ctx, cancel := context.WithTimeout(s.ctx, s.w.cfg.Interval)
	defer cancel()
	if err := s.sock.Send(ctx, m); err != nil && s.ctx.Err() == nil {
		s.w.cfg.Log.Debug("majordomo worker send", zap.Error(err))
	}
}

func (s *sessionState) publish() { s.w.board.Publish(s.st) }

func (s *sessionState) Receive(ctx context.Context, m sessionMsg) error {
	defer s.publish()
	if m.kind != msgTick && m.gen != s.gen {
		if m.kind == msgResult {
			s.st.Dropped++ // for a conversation that ended
		}
		return nil // from a socket that is gone
	}
	switch m.kind {
	case msgBroker:
		return s.fromBroker(ctx, m.frames)
	case msgLost:
		s.ended = true
		return fmt.Errorf("majordomo: worker: %w", m.err)
	case msgTick:
		if m.tick.After(s.expiry) {
			s.ended = true
			s.w.cfg.Log.Warn("lost the broker; reconnecting", zap.String("endpoint", s.w.endpoint), zap.Duration("silent", s.w.cfg.Expiry()))
			return errSilent
		}
		s.send(mdpWorkerMsg(frameMDPHeartbeat))
	case msgResult:
		s.busy = false
		if m.err != nil {
			s.st.Failed++
			s.w.cfg.Log.Warn("handler failed; request given back", zap.Error(m.err))
			// The broker is there: register again at once.
			s.close(true)
			return s.open()
		}
		s.st.Handled++
		s.send(append(mdpWorkerMsg(frameMDPReply, m.client, frameEmpty), m.frames...))
	}
	return nil
}

func (s *sessionState) fromBroker(ctx context.Context, m socket.Msg) error {
	cmd, ok := mdpCut(m, WorkerHeader)
	if !ok || len(cmd) < 1 {
		s.st.Malformed++
		return nil
	}
	s.expiry = time.Now().Add(s.w.cfg.Expiry())
	switch string(cmd[0]) {
	case mdpRequest:
		client, body, ok := mdpAddressed(cmd[1:])
		if !ok || s.busy {
			s.st.Malformed++
			return nil
		}
		s.busy = true
		return s.handler.Tell(ctx, job{sctx: s.sctx, gen: s.gen, client: client, body: body})
	case mdpHeartbeat:
	case mdpDisconnect:
		s.st.Disconnects++
		s.ended = true
		s.w.cfg.Log.Warn("the broker disconnected; reconnecting", zap.String("endpoint", s.w.endpoint))
		return errDisconnected
	default:
		s.st.Malformed++
	}
	return nil
}

// handlerState runs the Handler, one request at a time, and tells the
// session the outcome.
type handlerState struct {
	h       Handler
	session actor.Ref[sessionMsg]
}

func (hs handlerState) Receive(ctx context.Context, j job) error {
	reply, err := [][]byte(nil), j.sctx.Err()
	if err == nil { // not for a conversation already over
		hctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(j.sctx, cancel)
		reply, err = callHandler(hctx, hs.h, j.body)
		stop()
		cancel()
	}
	// Refused only when the worker is closing: the reply goes nowhere.
	hs.session.Tell(ctx, sessionMsg{kind: msgResult, gen: j.gen, client: j.client, frames: reply, err: err})
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

// sessionFeed is the session's entrance from the broker: it receives from
// the socket of the conversation of the moment, which each one opens anew
// (a new routing id at the broker, as the spec wants) and hands over with
// follow, and tags each message with that conversation's number, so that
// what arrives from an old socket is told apart. It outlives the session's
// restarts, as a feed does, where patterns.Feed would read one socket for
// the actor's life; the sockets are the sessions'.
type sessionFeed struct {
	mu   sync.Mutex
	sock *socket.Socket
	gen  uint64
	next chan struct{} // closed when sock changes
}

func newSessionFeed() *sessionFeed { return &sessionFeed{next: make(chan struct{})} }

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
		if s != nil {
			m, err := s.Recv(ctx)
			if ctx.Err() != nil {
				return nil
			}
			msg := sessionMsg{kind: msgBroker, gen: gen, frames: m}
			if err != nil {
				// Closed by its session, or failed: the session hears of it
				// (and ignores it if it closed the socket itself).
				msg = sessionMsg{kind: msgLost, gen: gen, err: err}
			}
			if in.Put(msg) != nil {
				return nil // the worker is closing
			}
			if err == nil {
				continue
			}
		}
		select { // the next session's socket
		case <-next:
		case <-ctx.Done():
			return nil
		}
	}
}

func (f *sessionFeed) Close() error { return nil }
