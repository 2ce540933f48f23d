package distributor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// Handler does one task: it gets the task's payload and returns its
// result. A Worker calls it from one goroutine, one task at a time, and
// cancels ctx when the worker is closed. The task bytes belong to the
// handler; the result belongs to the worker once returned. An error or a
// panic is sent back as the task's failure (ErrTaskFailed with the error
// text); the task is not retried.
type Handler func(ctx context.Context, task []byte) ([]byte, error)

// Worker is the guide's task worker (ch. 1 taskwork, ch. 2 taskwork2) for a
// Distributor: it takes tasks from the distributor's task endpoint, runs
// its handler on each, pushes the result to the sink, and ends when the
// control channel says KILL. Demand-driven, it connects a DEALER, says
// READY with its credit (WithCredit, DefaultCredit), and each result it
// sends returns one credit; round-robin, it connects a PULL and takes what
// comes, saying ACK for each task to a distributor that asks for it (see
// protocol.go), so that the tasks it holds stay with it when other peers
// go.
//
// On KILL the worker finishes the task in hand, says BYE to the sink,
// closes its sockets and ends (Done is closed); tasks queued behind the one
// in hand are dropped, as in the guide (the distributor gives them to
// other workers).
//
// Heartbeats (WithHeartbeat; see protocol.go): the worker sends one
// HEARTBEAT after READY, and one every interval, also while its handler
// runs, once it has heard the distributor's; a distributor older than
// heartbeats sends none, and the worker then speaks the old protocol. When
// a distributor it has heard falls silent for liveness intervals, the
// distributor has forgotten it (it restarted, or buried the worker after a
// stall or a partition): the worker says HELLO and READY again, on the same
// sockets, after WithReconnect's back-off.
//
// The worker is two actors under a supervisor. The session, "distributor
// worker", speaks the protocol: its mailbox is fed by the task socket (held
// back while more tasks wait than the credit), the control socket, the task
// socket's connection and a clock that ticks every heartbeat interval. The
// handler, "distributor worker handler", runs the Handler on the tasks the
// session hands it, one at a time, and tells it the results, so that the
// session hears the distributor and heartbeats while a task runs. The
// session fails when the distributor falls silent, and its supervisor
// starts a new one, which says HELLO and READY again: it waits first,
// WithReconnect's init doubling up to max with each loss within a window of
// four times the silence allowance plus max. The new session drops the
// tasks queued behind the one in hand (the distributor gave them to others
// when it buried the worker, or forgot them when it restarted); the one in
// hand runs on, and its result still goes to the sink, where it counts if
// it comes first.
//
// Concurrency: a Worker is safe for concurrent use. NewWorker starts its
// goroutines (the two actors', their supervisor's, the session's feeds
// but the tasks', which the session reads itself);
// Close cancels the handler's ctx and returns after all of them have ended.
// Close waits up to 1 s for results still queued to go out (socket
// linger). Stats may be called from any goroutine.
type Worker struct {
	g     *run.Group
	id    string
	board board.Board[WorkerStats]
	// started is closed once g is set, for the session that ends the
	// worker on KILL.
	started chan struct{}
}

// WorkerStats are a Worker's counters.
type WorkerStats struct {
	Handled   uint64 // tasks whose result was sent, failed ones included
	Failed    uint64 // of them, handler errors and panics
	Malformed uint64 // messages that were not tasks, dropped
	Killed    bool   // the worker ended on KILL
	// Reregistered counts the times the distributor fell silent and the
	// worker said HELLO and READY again.
	Reregistered uint64
	// AcksDelayed counts the ACKs (round-robin) that found no room on
	// the results channel, or failed: the worker does not wait for room,
	// and says the tasks they named with its next ACK, at the next task
	// or heartbeat. Meanwhile the distributor may send those tasks again
	// (see Distributor), and they run twice.
	AcksDelayed uint64
	// LastHeard is when the distributor last sent HEARTBEAT or a task;
	// zero while it has sent no HEARTBEAT (an older distributor).
	LastHeard time.Time
}

// resultLinger is how long a Worker's Close waits for results on their way
// to the sink.
const resultLinger = time.Second

// NewWorker connects a worker to a distributor's endpoints and starts it.
// h may not be nil (ErrBadOption). Options: WithCredit, WithHeartbeat,
// WithReconnect, WithSocketOptions, WithLogger, WithObserver.
func NewWorker(eps Endpoints, h Handler, opts ...Option) (*Worker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: NewWorker: nil Handler", ErrBadOption)
	}
	cfg, err := build(forWorker, "NewWorker", opts)
	if err != nil {
		return nil, err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	w := &Worker{id: "w" + hex.EncodeToString(rnd[:]), started: make(chan struct{})}
	var socks []*socket.Socket
	fail := func(err error) (*Worker, error) {
		run.CloseAll(socks)
		return nil, fmt.Errorf("distributor: worker: %w", err)
	}
	mk := func(typ socket.Type, extra ...socket.Option) (*socket.Socket, error) {
		s, err := socket.New(typ, append(extra, cfg.SockOpts...)...)
		if err == nil {
			socks = append(socks, s)
		}
		return s, err
	}
	sh := &workerShared{cfg: &cfg, eps: eps, id: []byte(w.id), board: &w.board, worker: w, gate: patterns.NewGate()}
	if cfg.Observer != nil {
		w.board.Report(cfg.Observer, workerFigures)
	}
	if eps.Dispatch == RoundRobin {
		sh.tasks, err = mk(socket.Pull, socket.WithLinger(0))
	} else {
		sh.tasks, err = mk(socket.Dealer, socket.WithLinger(0), socket.WithIdentity(sh.id))
	}
	if err != nil {
		return fail(err)
	}
	if sh.results, err = mk(socket.Push, socket.WithLinger(resultLinger)); err != nil {
		return fail(err)
	}
	if sh.control, err = mk(socket.Sub, socket.WithLinger(0)); err != nil {
		return fail(err)
	}
	if err := sh.control.Subscribe(wordKill); err != nil {
		return fail(err)
	}
	if eps.Dispatch == RoundRobin {
		for _, w := range [][]byte{wordHeartbeat, wordAck} {
			if err := sh.control.Subscribe(w); err != nil {
				return fail(err)
			}
		}
	}
	events := sh.tasks.Monitor()
	for _, c := range []struct {
		s  *socket.Socket
		ep string
	}{{sh.control, eps.Control}, {sh.results, eps.Results}, {sh.tasks, eps.Tasks}} {
		if err := c.s.Connect(c.ep); err != nil {
			return fail(err)
		}
	}

	var session *actor.Child[sessionMsg]
	handler := actor.NewChild("distributor worker handler",
		func() actor.Behavior[job] { return handlerState{h: h, session: session.Ref()} })
	session = actor.NewChild(workerFigures,
		func() actor.Behavior[sessionMsg] { return &sessionState{w: sh, handler: handler.Ref()} },
		actor.WithFeed(patterns.Feed(sh.tasks, func(m socket.Msg) sessionMsg { return sessionMsg{kind: msgTask, frames: m} }, sh.gate)),
		actor.WithFeed(patterns.Feed(sh.control, func(m socket.Msg) sessionMsg { return sessionMsg{kind: msgControl, frames: m} }, nil)),
		actor.WithFeed[sessionMsg](connectFeed{events}),
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) sessionMsg { return sessionMsg{kind: msgTick, tick: t} })))
	// The session last: Close stops it first, then the handler, whose
	// ctx ends.
	aopts := cfg.Reconnecting()
	w.g, err = run.Start(context.Background(), "distributor worker supervisor", socks,
		[]actor.ChildSpec{handler, session}, aopts...)
	close(w.started)
	if err != nil {
		return nil, fmt.Errorf("distributor: worker: %w", err)
	}
	return w, nil
}

// ID returns the worker's id, as it says HELLO and BYE.
func (w *Worker) ID() string { return w.id }

// Done is closed when the worker has ended: after KILL, or Close.
func (w *Worker) Done() <-chan struct{} { return w.g.Done() }

// Stats returns a snapshot of the worker's counters.
func (w *Worker) Stats() WorkerStats { return w.board.Get() }

// Wait blocks until cond holds for the worker's stats, or ctx ends
// (ctx.Err()), or the worker has ended (ErrClosed); stats that met cond
// by then are reported (nil), even when they came with the end (a killed
// worker's Killed). cond is called with no lock held, from the calling
// goroutine only.
func (w *Worker) Wait(ctx context.Context, cond func(WorkerStats) bool) error {
	return w.board.Wait(ctx, w.g.Done(), ErrClosed, cond)
}

// Close stops the worker (cancelling its handler's ctx) and closes its
// sockets. It returns after the worker's goroutines have ended. Calls
// after the first, and after the worker ended on KILL, return nil.
func (w *Worker) Close() error {
	err := w.g.Close()
	w.board.Retire()
	return err
}

// workerFigures is the name of a Worker's session actor, which its counts
// (WorkerStats) reach an observer under, as figures.
const workerFigures = "distributor worker"

// closeAfterKill ends the worker once it said BYE: the session cannot close
// the supervisor it runs under from its own goroutine.
func (w *Worker) closeAfterKill() {
	<-w.started
	if w.g != nil {
		w.g.Close()
	}
}

// workerShared is what the session's incarnations share: the worker's
// settings and sockets, its counters' board, the gate of its task feed, and
// what outlives a session: whether it registered once, when it last heard
// the distributor, whether the handler holds a task, whether it was
// killed. Incarnations run one after the other, so it needs no lock.
type workerShared struct {
	cfg     *opt.Config[extra]
	eps     Endpoints
	id      []byte
	tasks   *socket.Socket // DEALER (demand-driven) or PULL (round-robin)
	results *socket.Socket // PUSH
	control *socket.Socket // SUB
	board   *board.Board[WorkerStats]
	worker  *Worker
	gate    *patterns.Gate // closed while more tasks wait than the credit

	registered bool      // said HELLO once
	heard      time.Time // the distributor's last HEARTBEAT or task; zero: it never sent HEARTBEAT
	busy       bool      // the handler holds a task
	inHand     header    // the task the handler holds, when busy
	killed     bool      // KILL came: no HEARTBEAT or HELLO after BYE, it would bring us back
	sessions   int
	// acks: round-robin, the distributor has published ACK, so it takes
	// ours: the worker says ACK for each task it gets, and reads them all
	// at once (they are acknowledged as held, not left in the socket).
	acks bool
}

// sessionMsg is what the session handles: a message from the task or
// control socket, the task socket's first connection, a tick, or the
// handler's result.
type sessionMsg struct {
	kind   msgKind
	frames socket.Msg // msgTask, msgControl
	tick   time.Time
	h      header // msgResult: the task's
	out    []byte // msgResult: the handler's result, or its error text
	err    error  // msgResult: the handler's error
}

type msgKind uint8

const (
	msgTask msgKind = iota
	msgControl
	msgConnected
	msgTick
	msgResult
)

// job is a task for the handler.
type job struct {
	h       header
	payload []byte
}

// errSilent is why a session ends on its own: the worker restarts it.
var errSilent = errors.New("distributor: worker: no word from the distributor for liveness intervals")

// sessionState is one conversation with the distributor: HELLO and READY,
// then tasks, results and heartbeats.
type sessionState struct {
	w       *workerShared
	handler actor.Ref[job]
	st      WorkerStats
	ctx     context.Context // the actor's
	queue   []job           // tasks waiting for the handler
	// unacked are the tickets of the tasks the worker holds and has not
	// said ACK for (round-robin, once the distributor asked): the next
	// ACK names them all. ackOwed: the distributor has not had our first
	// ACK yet, which tells it that we say ACK.
	unacked map[uint64]struct{}
	ackOwed bool
}

// Start begins a session. The first says HELLO once the task socket is
// connected (msgConnected); a later one follows a silence of the
// distributor, and says HELLO and READY again at once.
func (s *sessionState) Start(ctx context.Context) error {
	s.ctx = ctx
	s.st = s.w.board.Get()
	s.w.gate.Open() // the queue is empty
	// The distributor may have restarted as an older one: ACK again once
	// it says so.
	s.w.acks = false
	defer func() { s.w.sessions++ }()
	if s.w.sessions == 0 || s.w.killed || !s.w.registered {
		return nil
	}
	s.st.Reregistered++
	if !s.w.heard.IsZero() {
		s.w.heard = time.Now() // the distributor gets a new liveness
	}
	s.publish()
	// Each send waits at most an interval: the distributor may be gone,
	// and the next session says it all again.
	sctx, cancel := context.WithTimeout(ctx, s.w.cfg.Interval)
	defer cancel()
	if err := s.register(sctx); err != nil && ctx.Err() == nil {
		s.w.cfg.Log.Debug("distributor worker: register again", zap.Error(err))
	}
	return nil
}

func (s *sessionState) publish() { s.w.board.Publish(s.st) }

func (s *sessionState) Receive(_ context.Context, m sessionMsg) error {
	defer s.publish()
	switch m.kind {
	case msgConnected:
		// HELLO once the task socket is connected, so that a distributor
		// that counts its workers before a round-robin batch sees them all
		// on its PUSH socket. Not bounded: HELLO waits for the sink.
		if s.w.registered || s.w.killed {
			return nil
		}
		s.w.registered = true
		return s.register(s.ctx)
	case msgTask:
		s.fromTasks(m.frames)
	case msgControl:
		switch {
		case len(m.frames) == 1 && bytes.Equal(m.frames[0], wordKill):
			s.kill()
		case len(m.frames) == 1 && bytes.Equal(m.frames[0], wordHeartbeat):
			s.hear()
		case len(m.frames) == 1 && bytes.Equal(m.frames[0], wordAck):
			s.acksHeard()
		}
	case msgTick:
		if s.w.killed || s.w.heard.IsZero() {
			return nil // no word after BYE; an older distributor has no heartbeats
		}
		if m.tick.Sub(s.w.heard) > s.w.cfg.Expiry() {
			s.w.cfg.Log.Warn("distributor silent; saying HELLO and READY again", zap.Duration("silent", s.w.cfg.Expiry()))
			return errSilent
		}
		// A send waits at most an interval: the distributor may be gone,
		// and the next tick has the next word. The ACKs that found no
		// room go first, in one message, waiting for room as the
		// HEARTBEAT does.
		sctx, cancel := context.WithTimeout(s.ctx, s.w.cfg.Interval)
		s.ackWithin(sctx)
		err := s.heartbeat(sctx)
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.w.cfg.Log.Debug("distributor worker heartbeat", zap.Error(err))
		}
	case msgResult:
		return s.result(m)
	}
	return nil
}

// hear notes a word from the distributor.
func (s *sessionState) hear() {
	now := time.Now()
	s.w.heard, s.st.LastHeard = now, now
}

// fromTasks takes a task, or the distributor's HEARTBEAT, read at once
// also while the handler runs: unread, they would fill our queue, and the
// distributor would find us stuck.
func (s *sessionState) fromTasks(m socket.Msg) {
	if len(m) == 1 && bytes.Equal(m[0], wordHeartbeat) {
		s.hear()
		return
	}
	if !s.w.heard.IsZero() {
		s.hear() // a task is a sign of life too
	}
	if s.w.killed {
		return // KILL wins over a task that came with it
	}
	h, payload, ok := parseTask(m)
	if !ok {
		s.st.Malformed++
		s.w.cfg.Log.Warn("malformed task dropped", zap.Stringer("msg", m))
		return
	}
	s.queue = append(s.queue, job{h: h, payload: payload})
	if !s.w.acks && len(s.queue) > s.w.cfg.X.credit {
		// A distributor sends no more than the credit (a READY again
		// aside, while a task of before runs): past that the task socket
		// waits, and its high-water mark holds the distributor back.
		// Round-robin with ACK, the window alone bounds what comes.
		s.w.gate.Close()
	}
	s.next()
	if s.w.acks {
		s.unacked[h.ticket] = struct{}{}
		s.ackNow()
	}
}

// acksHeard takes the distributor's ACK (round-robin): from now on the
// worker says ACK for each task it gets, and says it now for those it
// holds.
func (s *sessionState) acksHeard() {
	if s.w.acks || s.w.eps.Dispatch != RoundRobin || s.w.killed {
		return
	}
	s.w.acks, s.ackOwed = true, true
	s.w.gate.Open()
	s.unacked = map[uint64]struct{}{}
	if s.w.busy {
		s.unacked[s.w.inHand.ticket] = struct{}{}
	}
	for _, j := range s.queue {
		s.unacked[j.h.ticket] = struct{}{}
	}
	s.ackNow() // with none, the distributor learns that we say ACK
}

// ackNow says ACK for the tasks the worker holds and has not said ACK
// for (round-robin): the distributor gives them to others only if the
// worker leaves. It does not wait for room on the results channel, so
// that a full one holds up neither the tasks nor what the distributor
// says; ackWithin, at a tick, waits within its bound. An ACK that does
// not go is counted (AcksDelayed) and its tickets go with the next: late,
// it costs a task run twice, not lost.
func (s *sessionState) ackNow() { s.sayAck(s.w.results.TrySend) }

func (s *sessionState) ackWithin(ctx context.Context) {
	s.sayAck(func(m socket.Msg) error { return s.w.results.Send(ctx, m) })
}

func (s *sessionState) sayAck(send func(socket.Msg) error) {
	if !s.w.acks || s.w.killed || len(s.unacked) == 0 && !s.ackOwed {
		return
	}
	tickets := make([]byte, 0, 8*len(s.unacked))
	for t := range s.unacked {
		tickets = appendAck(tickets, t)
	}
	if err := send(socket.Msg{wordAck, s.w.id, tickets}); err != nil {
		if s.ctx.Err() == nil {
			s.st.AcksDelayed++
			s.w.cfg.Log.Warn("distributor worker: ACK not sent; its tasks go with the next, and may be sent again meanwhile",
				zap.Int("tasks", len(s.unacked)), zap.Error(err))
		}
		return
	}
	clear(s.unacked)
	s.ackOwed = false
}

// next hands the handler the next task, when it is idle.
func (s *sessionState) next() {
	if s.w.busy || s.w.killed || len(s.queue) == 0 {
		return
	}
	j := s.queue[0]
	s.queue[0] = job{}
	s.queue = s.queue[1:]
	if len(s.queue) <= s.w.cfg.X.credit {
		s.w.gate.Open()
	}
	// The handler's mailbox is empty: it is idle.
	if s.handler.Tell(s.ctx, j) == nil {
		s.w.busy, s.w.inHand = true, j.h
	}
}

// result sends the handler's result to the sink (it returns the credit,
// demand-driven), and after KILL says BYE.
func (s *sessionState) result(m sessionMsg) error {
	s.w.busy = false
	delete(s.unacked, m.h.ticket) // the result says more
	status := []byte{0}
	if m.err != nil {
		status[0] = 1
	}
	out := append(socket.Msg{wordResult, s.w.id}, m.h.frames()...)
	out = append(out, status, m.out)
	// Not bounded: the result waits for the sink, as in the guide.
	if err := s.w.results.Send(s.ctx, out); err != nil {
		if s.ctx.Err() != nil {
			return nil // closing
		}
		return fmt.Errorf("distributor: worker: send result: %w", err)
	}
	s.st.Handled++
	if m.err != nil {
		s.st.Failed++
	}
	if s.w.killed {
		s.bye()
		return nil
	}
	s.next()
	s.ackNow() // ACKs held back by a full results channel: it had room now
	return nil
}

// kill ends the worker: after the task in hand, if any, BYE.
func (s *sessionState) kill() {
	if s.w.killed {
		return
	}
	s.w.killed = true
	clear(s.queue)
	s.queue = nil
	if !s.w.busy {
		s.bye()
	}
}

// bye says BYE, and ends the worker.
func (s *sessionState) bye() {
	s.st.Killed = true
	s.publish()
	if err := s.w.results.Send(s.ctx, socket.Msg{wordBye, s.w.id}); err != nil && s.ctx.Err() == nil {
		s.w.cfg.Log.Warn("distributor worker: bye", zap.Error(err))
	}
	go s.w.worker.closeAfterKill()
}

// register says HELLO and (demand-driven) READY, then HEARTBEAT, which
// tells a distributor with heartbeats that this worker has them too.
func (s *sessionState) register(ctx context.Context) error {
	if err := s.w.results.Send(ctx, socket.Msg{wordHello, s.w.id}); err != nil {
		return fmt.Errorf("distributor: worker: hello: %w", err)
	}
	if s.w.eps.Dispatch == DemandDriven {
		credit := binary.BigEndian.AppendUint32(nil, uint32(s.w.cfg.X.credit))
		if err := s.w.tasks.Send(ctx, socket.Msg{wordReady, credit}); err != nil {
			return fmt.Errorf("distributor: worker: ready: %w", err)
		}
	}
	return s.heartbeat(ctx)
}

// heartbeat sends HEARTBEAT: on the DEALER demand-driven (the distributor
// knows us by its routing id), else on the results channel with our id.
func (s *sessionState) heartbeat(ctx context.Context) error {
	var err error
	if s.w.eps.Dispatch == DemandDriven {
		err = s.w.tasks.Send(ctx, socket.Msg{wordHeartbeat})
	} else {
		err = s.w.results.Send(ctx, socket.Msg{wordHeartbeat, s.w.id})
	}
	if err != nil {
		return fmt.Errorf("distributor: worker: heartbeat: %w", err)
	}
	return nil
}

// handlerState runs the Handler, one task at a time, and tells the session
// the result.
type handlerState struct {
	h       Handler
	session actor.Ref[sessionMsg]
}

func (hs handlerState) Receive(ctx context.Context, j job) error {
	out, err := runHandler(ctx, hs.h, j.payload)
	if ctx.Err() != nil {
		return nil // closed: the result may be partial
	}
	if err != nil {
		out = []byte(err.Error())
	}
	// Refused only when the worker is closing: the result goes nowhere.
	hs.session.Tell(ctx, sessionMsg{kind: msgResult, h: j.h, out: out, err: err})
	return nil
}

// runHandler runs h, turning a panic into an error.
func runHandler(ctx context.Context, h Handler, task []byte) ([]byte, error) {
	out, err := run.Call(ctx, h, task)
	if out == nil && err == nil {
		out = []byte{}
	}
	return out, err
}

// connectFeed tells the session when the task socket has first connected:
// the first HELLO waits for it.
type connectFeed struct{ events <-chan socket.Event }

func (f connectFeed) Run(ctx context.Context, in actor.Inlet[sessionMsg]) error {
	for {
		select {
		case e, ok := <-f.events:
			if !ok || e.Kind == socket.EventHandshakeOK {
				in.Put(sessionMsg{kind: msgConnected})
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (connectFeed) Close() error { return nil }
