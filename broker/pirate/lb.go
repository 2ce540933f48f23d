package pirate

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/ppp"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// LoadBalancer is the guide's load-balancing broker (ch. 3 "A Load Balancing
// Message Broker") with the Paranoid Pirate queue's heartbeats (ch. 4,
// ppqueue; spec 6/PPP). Clients connect REQ or DEALER sockets to its
// frontend ROUTER. Workers connect to its backend ROUTER and speak either
// PPP from a DEALER (READY, then one REQUEST and one REPLY at a time, and
// HEARTBEAT both ways every interval: our Worker, the guide's ppworker) or
// lbbroker's protocol from a REQ socket ("READY", then one request and one
// reply at a time, no heartbeats: the guide's lbbroker workers). A worker
// sees each request as [address, "", body...], the address being one
// frame, a ticket that stands for the client's address stack: the worker
// copies it into its reply, and the load balancer puts the stack back.
//
// The least recently used idle worker gets the next request, and the
// frontend is read only while a worker is idle and no request waits for
// one, so requests wait in the clients' queues (and TCP) rather than in
// the broker: what was read when the last idle worker got its request (at
// most a mailbox, actor.DefaultMailboxSize) waits in the broker for the
// next. A request must have a body: one without is dropped as malformed,
// and never answered.
//
// A PPP worker that sends nothing for liveness intervals, or whose
// connection is gone, is dead; the request it held goes to the next idle
// worker, ahead of new requests (at-least-once: the dead worker may have
// done it). A REQ worker cannot heartbeat, so it is never buried for
// silence: it is found dead when a send to it fails (its connection is
// gone) or, as below, when it holds a request too long.
//
// A request held longer than WithHoldLimit (DefaultHoldLimit) is taken
// from its worker and goes to the next idle worker, as from a dead one.
// The PPP worker that held it stays registered, since its heartbeats say
// it is alive, but gets no new request until it replies or sends READY;
// its reply is passed on if the request is still unanswered, and dropped
// (LateReplies) if it is not. A REQ worker that held it is forgotten
// (Dead): nothing tells a stuck one from a dead one, and a live one that
// replies later is registered again, as lbbroker takes any message from
// a worker for readiness.
//
// Each request is known by its address stack, the client's routing id and
// what the client put before the empty delimiter (a Client puts a request
// id there), so a resent request that is still outstanding is dropped, and
// of the replies to one request only the first reaches the client.
//
// The load balancer is one actor, "pirate load balancer", under a
// supervisor: its mailbox is fed by both sockets and a clock (the
// heartbeat interval), and it holds all the state and does all the
// sending. A failure of the actor (a bug: a panic) restarts it with fresh
// state on the same sockets; the restart forgets the workers and the
// requests they hold, and the counters of Stats go on. Workers find the
// broker silent and send READY again (our Worker and the guide's ppworker
// do), and clients resend what they get no reply to (the Lazy Pirate's
// retries), which is what a restart of the broker's process asks of them
// too.
//
// Concurrency: a LoadBalancer is safe for concurrent use. It runs its
// actor's goroutine (which reads the frontend itself, patterns.Feed), one
// that reads the backend and one for its clock;
// NewLoadBalancer starts them and Close returns after they have ended and
// both sockets are closed. Stats and Wait may be called from any
// goroutine; Wait blocks until its condition holds, its ctx ends or the
// load balancer ends.
type LoadBalancer struct {
	g               *run.Group
	back            *socket.Socket // for BackendEvents
	frontEP, backEP string
	board           board.Board[Stats]
	ref             actor.Ref[lbMsg]
}

// Stats are a LoadBalancer's gauges (now) and counters (since it started).
type Stats struct {
	Workers  int // workers registered (READY and alive), late ones included
	Idle     int // of them, waiting for a request
	InFlight int // requests on a worker
	Pending  int // requests waiting for a worker (given back by a dead or late one)

	Requests    uint64 // requests taken from clients
	Replies     uint64 // replies passed to clients
	Duplicates  uint64 // resent requests dropped: the same request was outstanding
	LateReplies uint64 // replies dropped: their request was answered already, or is unknown
	Requeued    uint64 // requests handed back to the queue by a dead, failing or late worker
	Overdue     uint64 // requests taken from a worker that held them past WithHoldLimit
	Abandoned   uint64 // requests dropped after WithMaxDeliveries attempts
	Dead        uint64 // workers found dead: heartbeats missed, connection gone, or a REQ worker late
	Malformed   uint64 // messages dropped because they are not PPP (or lbbroker's), or a request without a body
}

// lbName is the load balancer's actor, as the observer knows it.
const lbName = "pirate load balancer"

// NewLoadBalancer binds a load balancer's frontend (for clients) and
// backend (for workers) and starts it. Each endpoint is bound, or
// connected when written with a leading '>' (CZMQ's convention; a leading
// '@' means bind); tcp port "*" picks a free one (see Frontend and
// Backend). Options: WithHeartbeat, WithHoldLimit, WithMaxDeliveries,
// WithAbandoned, WithRequeued, WithSocketOptions, WithLogger, WithObserver.
func NewLoadBalancer(frontend, backend string, opts ...Option) (*LoadBalancer, error) {
	cfg, err := build(forLoadBalancer, "NewLoadBalancer", opts)
	if err != nil {
		return nil, err
	}
	b := &LoadBalancer{}
	// Replies to clients that left are dropped, as in the guide; workers
	// are sent with mandatory routing so that a vanished worker is found
	// at the next send instead of after its heartbeats expire.
	base := append([]socket.Option{socket.WithLinger(0)}, cfg.SockOpts...)
	front, fep, err := run.Open(socket.Router, frontend, base)
	if err != nil {
		return nil, fmt.Errorf("pirate: load balancer frontend: %w", err)
	}
	back, bep, err := run.Open(socket.Router, backend, append([]socket.Option{socket.WithRouterMandatory()}, base...))
	if err != nil {
		front.Close()
		return nil, fmt.Errorf("pirate: load balancer backend: %w", err)
	}
	b.back, b.frontEP, b.backEP = back, fep, bep
	b.board.Report(cfg.Observer, lbName)

	// Closed until a worker is idle: the frontend is read only then.
	gate := patterns.NewGate()
	gate.Close()
	child := actor.NewChild(lbName,
		func() actor.Behavior[lbMsg] { return newBalancer(&cfg, front, back, gate, &b.board) },
		actor.WithFeed(patterns.Feed(front, func(m socket.Msg) lbMsg { return lbMsg{from: fromClient, m: m} }, gate)),
		actor.WithFeed(patterns.Feed(back, func(m socket.Msg) lbMsg { return lbMsg{from: fromWorker, m: m} }, nil)),
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) lbMsg { return lbMsg{from: fromClock, now: t} })))
	b.ref = child.Ref()
	b.g, err = run.Start(context.Background(), lbName+" supervisor", []*socket.Socket{front, back},
		[]actor.ChildSpec{child}, cfg.Supervision()...)
	if err != nil {
		return nil, fmt.Errorf("pirate: load balancer: %w", err)
	}
	return b, nil
}

// Frontend returns the endpoint clients connect to, as bound (port
// resolved) or connected.
func (b *LoadBalancer) Frontend() string { return b.frontEP }

// Backend returns the endpoint workers connect to, as bound or connected.
func (b *LoadBalancer) Backend() string { return b.backEP }

// BackendEvents returns the monitor events of the backend socket
// (socket.Socket.Monitor): workers' connections, their handshakes, failed
// ones included (a worker refused by WithSocketOptions' CURVE options), and
// disconnections. Every call returns the same channel, for one reader; it
// is closed when the load balancer has closed. An event that finds it full
// is dropped and counted, as the socket's monitor does.
func (b *LoadBalancer) BackendEvents() <-chan socket.Event { return b.back.Monitor() }

// Stats returns a snapshot of the load balancer's gauges and counters.
func (b *LoadBalancer) Stats() Stats { return b.board.Get() }

// Wait blocks until cond holds for the load balancer's stats (nil), or
// ctx ends (ctx.Err()), or the load balancer ends (ErrClosed); stats that
// met cond by then are reported (nil), even when they came with the end.
// cond is called with no lock held, from the calling goroutine only.
func (b *LoadBalancer) Wait(ctx context.Context, cond func(Stats) bool) error {
	return b.board.Wait(ctx, b.g.Done(), ErrClosed, cond)
}

// Done is closed when the load balancer has ended: closed, or failed for
// good (its actor kept failing), when Err says why.
func (b *LoadBalancer) Done() <-chan struct{} { return b.g.Done() }

// Err is nil while the load balancer runs and after Close; otherwise why
// it failed.
func (b *LoadBalancer) Err() error {
	if err := b.g.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// Close stops the load balancer and closes its sockets, dropping requests
// and replies on their way. It returns after its goroutines have ended,
// with the error that ended it early, if one did. Calls after the first
// return nil.
func (b *LoadBalancer) Close() error {
	err := b.g.Close()
	b.board.Retire()
	return err
}

// source is where a message of the load balancer's mailbox came from.
type source uint8

const (
	fromClient source = iota + 1 // the frontend
	fromWorker                   // the backend
	fromClock                    // the heartbeat clock
)

// lbMsg is what the load balancer's actor receives: a message from a
// socket, or a tick of its clock.
type lbMsg struct {
	from source
	m    socket.Msg // fromClient, fromWorker
	now  time.Time  // fromClock
}

// lbWorker is a worker as the balancer sees it: idle (on the idle list),
// holding a request (req), or late (still at a request that was taken
// from it or answered by another worker; it gets no request meanwhile).
type lbWorker struct {
	id        string
	reqSocket bool // a REQ socket, the guide's lbbroker worker: no heartbeats
	expiry    time.Time
	req       *lbRequest // the request it holds, or nil
	since     time.Time  // when it was given req (or the request it is late with)
	late      string     // the ticket it is late with, or ""
	idle      bool       // on the idle list
}

// lbRequest is an outstanding request: taken from a client, not answered.
type lbRequest struct {
	key        string     // its address stack, for telling resends
	ticket     string     // its address at the workers (lb_wire.go)
	msg        socket.Msg // client routing id, rest of the address stack, delimiter, body
	envLen     int        // frames of msg up to and including the delimiter
	worker     *lbWorker  // holding it, or nil while pending
	deliveries int
}

// balancer is the load balancer's actor: the state, owned by its
// goroutine, and the sending.
type balancer struct {
	cfg         *config
	front, back *socket.Socket
	gate        *patterns.Gate
	board       *board.Board[Stats]
	log         *zap.Logger
	workers     map[string]*lbWorker
	idle        []*lbWorker // least recently used first
	pending     []*lbRequest
	outstanding map[string]*lbRequest // by key
	tickets     map[string]*lbRequest // the same requests, by ticket
	session     [8]byte               // the random half of tickets, new at each start
	seq         uint64                // the counting half
	st          Stats
	sendCtx     context.Context
	sendCancel  context.CancelFunc
}

// newBalancer makes the actor's state for a start or a restart: no
// workers and no requests, the counters as the last incarnation left
// them.
func newBalancer(cfg *config, front, back *socket.Socket, gate *patterns.Gate, b *board.Board[Stats]) *balancer {
	st := b.Get()
	st.Workers, st.Idle, st.InFlight, st.Pending = 0, 0, 0, 0
	return &balancer{cfg: cfg, front: front, back: back, gate: gate, board: b, log: cfg.Log,
		workers: map[string]*lbWorker{}, outstanding: map[string]*lbRequest{}, tickets: map[string]*lbRequest{}, st: st}
}

// Start draws the tickets' session number: a reply that a worker kept
// across a restart of the actor (or of the broker) cannot be taken for a
// new request's.
func (l *balancer) Start(ctx context.Context) error {
	rand.Read(l.session[:])
	l.sendCtx, l.sendCancel = context.WithTimeout(ctx, 2*l.cfg.Interval)
	l.flow()
	return nil
}

// Stop releases the send ctx of the tick.
func (l *balancer) Stop() error {
	l.sendCancel()
	return nil
}

func (l *balancer) Receive(ctx context.Context, m lbMsg) error {
	switch m.from {
	case fromClient:
		l.fromClient(ctx, m.m)
	case fromWorker:
		l.fromWorker(ctx, m.m)
	case fromClock:
		l.newSendCtx(ctx)
		l.heartbeat(ctx, m.now)
	default:
		return fmt.Errorf("pirate: load balancer: a message from nowhere (%d)", m.from)
	}
	l.flow()
	return nil
}

// flow opens the frontend while a worker is idle and no request waits for
// one, and closes it otherwise (lbbroker's rule), and publishes the stats.
func (l *balancer) flow() {
	if len(l.idle) > 0 && len(l.pending) == 0 {
		l.gate.Open()
	} else {
		l.gate.Close()
	}
	l.st.Workers = len(l.workers)
	l.st.Idle = len(l.idle)
	l.st.Pending = len(l.pending)
	l.st.InFlight = len(l.outstanding) - len(l.pending)
	l.board.Publish(l.st)
}

func (l *balancer) fromClient(ctx context.Context, m socket.Msg) {
	env, body, ok := ppp.SplitEnvelope(m)
	if !ok {
		l.st.Malformed++
		l.log.Warn("request without an address stack dropped", zap.Error(ErrMalformed), zap.Stringer("msg", m))
		return
	}
	if len(body) == 0 {
		// Nothing to do, and a worker would take it for something else
		// (ppworker rejects it; a REQ worker gets two frames).
		l.st.Malformed++
		l.log.Warn("request without a body dropped", zap.Error(ErrMalformed), zap.Stringer("msg", m))
		return
	}
	key := ppp.EnvelopeKey(env)
	if _, dup := l.outstanding[key]; dup {
		l.st.Duplicates++
		return
	}
	r := &lbRequest{key: key, ticket: l.newTicket(), msg: m, envLen: len(env)}
	l.outstanding[key] = r
	l.tickets[r.ticket] = r
	l.st.Requests++
	l.pending = append(l.pending, r)
	l.dispatch(ctx)
}

// newTicket names a new request at the workers.
func (l *balancer) newTicket() string {
	var t [ticketLen]byte
	copy(t[:8], l.session[:])
	l.seq++
	binary.BigEndian.PutUint64(t[8:], l.seq)
	return string(t[:])
}

func (l *balancer) fromWorker(ctx context.Context, m socket.Msg) {
	id := string(m[0])
	w := l.workers[id]
	if w != nil {
		w.expiry = time.Now().Add(l.cfg.Expiry())
	}
	p, err := parseWorkerMsg(m[1:])
	if err == nil && w != nil && p.req != w.reqSocket {
		err = fmt.Errorf("%w: a worker's messages came with and without a REQ socket's delimiter", ErrMalformed)
	}
	if err != nil {
		l.st.Malformed++
		l.log.Warn("bad message from worker dropped", zap.Binary("worker", m[0]), zap.Error(err))
		return
	}
	switch p.cmd {
	case ppp.Ready:
		l.ready(ctx, id, w, p.req)
	case ppp.Heartbeat:
		// A HEARTBEAT only keeps a known worker alive. One from a worker
		// we do not know (it outlived our restart, or we buried it) is
		// ignored: PPP conversations start with READY, and the worker
		// sends it once it misses our heartbeats.
	default:
		l.reply(ctx, id, w, p)
	}
}

// reply passes a worker's reply on to the client if its request is
// outstanding (the first reply wins) and drops it otherwise. A worker that
// replies with the ticket it is late with is idle again. One we do not
// know is registered if it is a REQ worker, as lbbroker does with every
// message from a worker: it is one we forgot for holding a request too
// long, and it waits for the next. A PPP worker we do not know (its reply
// was kept across a reconnect) sends READY next.
func (l *balancer) reply(ctx context.Context, id string, w *lbWorker, p workerMsg) {
	t := string(p.ticket)
	if r := l.tickets[t]; r != nil {
		l.answered(r)
		l.st.Replies++
		out := make(socket.Msg, 0, r.envLen+len(p.body))
		out = append(append(out, r.msg[:r.envLen]...), p.body...)
		if err := l.front.Send(ctx, out); err != nil && ctx.Err() == nil {
			l.log.Debug("reply not sent", zap.Error(err))
		}
	} else {
		l.st.LateReplies++
	}
	switch {
	case w != nil && w.late == t:
		w.late = ""
		l.makeIdle(w)
	case w == nil && p.req:
		l.makeIdle(l.register(id, true))
	default:
		return
	}
	l.dispatch(ctx)
}

// answered forgets a request that has its reply. A worker still at it
// (the reply came from one it was taken from) is late with it.
func (l *balancer) answered(r *lbRequest) {
	delete(l.outstanding, r.key)
	delete(l.tickets, r.ticket)
	if h := r.worker; h != nil {
		h.req, r.worker = nil, nil
		h.late = r.ticket
	} else {
		l.unpend(r)
	}
}

// register adds a worker.
func (l *balancer) register(id string, reqSocket bool) *lbWorker {
	w := &lbWorker{id: id, reqSocket: reqSocket, expiry: time.Now().Add(l.cfg.Expiry())}
	l.workers[id] = w
	l.log.Debug("worker ready", zap.String("worker", id), zap.Bool("req", reqSocket))
	return w
}

// makeIdle puts a worker at the back of the idle list.
func (l *balancer) makeIdle(w *lbWorker) {
	if !w.idle {
		w.idle = true
		l.idle = append(l.idle, w)
	}
}

// ready registers a worker that sent READY. A known worker that held a
// request has started a new conversation without replying: it gave the
// request back (its handler failed, or it restarted), so the request goes
// to another worker. One that was late has given up its request.
func (l *balancer) ready(ctx context.Context, id string, w *lbWorker, reqSocket bool) {
	if w == nil {
		w = l.register(id, reqSocket)
	}
	if r := w.req; r != nil {
		w.req, r.worker = nil, nil
		l.requeue(r)
	}
	w.late = ""
	l.makeIdle(w)
	l.dispatch(ctx)
}

// dispatch hands pending requests to idle workers, least recently used first.
func (l *balancer) dispatch(ctx context.Context) {
	for len(l.pending) > 0 && len(l.idle) > 0 {
		r, w := l.pending[0], l.idle[0]
		l.pending, l.idle = l.pending[1:], l.idle[1:]
		w.idle = false
		if err := l.sendWorker(toWorker([]byte(w.id), w.reqSocket, r.ticket, r.msg[r.envLen:])); err != nil {
			l.pending = append([]*lbRequest{r}, l.pending...)
			l.dead(w, err)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		w.req, r.worker = r, w
		w.since = time.Now()
		r.deliveries++
	}
}

// newSendCtx makes the ctx that bounds sends to workers until the next
// tick: a worker that cannot take a message (mandatory routing blocks at
// its high-water mark) within two heartbeat intervals is as good as dead.
// One ctx a tick rather than one a message: this is the broker's hot path.
func (l *balancer) newSendCtx(ctx context.Context) {
	l.sendCancel()
	l.sendCtx, l.sendCancel = context.WithTimeout(ctx, 2*l.cfg.Interval)
}

// sendWorker sends to a worker within the tick's send ctx.
func (l *balancer) sendWorker(m socket.Msg) error {
	return l.back.Send(l.sendCtx, m)
}

// heartbeat buries the workers that have been silent too long and sends
// HEARTBEAT to the others, burying those whose connection is gone, and
// takes requests back from workers that have held them too long. REQ
// workers are neither sent HEARTBEAT nor expected to send it.
func (l *balancer) heartbeat(ctx context.Context, now time.Time) {
	for _, w := range l.workers {
		if w.reqSocket {
			continue
		}
		if now.After(w.expiry) {
			l.dead(w, fmt.Errorf("no heartbeat for %v", l.cfg.Expiry()))
			continue
		}
		if err := l.sendWorker(socket.Msg{[]byte(w.id), ppp.FrameHeartbeat}); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.dead(w, err)
		}
	}
	l.holdCheck(now)
	l.dispatch(ctx)
}

// holdCheck takes each request held longer than the hold limit from its
// worker and queues it for another, as if the worker had died. A PPP
// worker stays, late: its heartbeats say it is alive, and it gets no new
// request until it replies (the reply is passed on if the request is still
// unanswered, else dropped) or sends READY. A REQ worker is forgotten, as
// a dead one: without heartbeats nothing tells a stuck worker from a dead
// one, and a live one comes back with its late reply.
func (l *balancer) holdCheck(now time.Time) {
	limit := l.cfg.X.holdLimit
	if limit == 0 {
		return
	}
	for _, w := range l.workers {
		if (w.req == nil && w.late == "") || now.Sub(w.since) < limit {
			continue
		}
		if r := w.req; r != nil {
			w.req, r.worker = nil, nil
			w.late = r.ticket
			l.st.Overdue++
			l.log.Warn("request held too long; handing it to another worker", zap.String("worker", w.id), zap.Duration("limit", limit))
			l.requeue(r)
		}
		if w.reqSocket {
			l.dead(w, fmt.Errorf("a REQ worker held a request for %v", limit))
		}
	}
}

// dead forgets a worker and gives back the request it held.
func (l *balancer) dead(w *lbWorker, why error) {
	l.st.Dead++
	l.log.Warn("worker dead", zap.String("worker", w.id), zap.Error(why))
	delete(l.workers, w.id)
	if w.idle {
		for i, x := range l.idle {
			if x == w {
				l.idle = append(l.idle[:i], l.idle[i+1:]...)
				break
			}
		}
		w.idle = false
	}
	if r := w.req; r != nil {
		w.req, r.worker = nil, nil
		l.requeue(r)
	}
}

// requeue puts a request given back by a worker at the head of the queue,
// or drops it after too many deliveries.
func (l *balancer) requeue(r *lbRequest) {
	if r.deliveries >= l.cfg.MaxDeliveries {
		delete(l.outstanding, r.key)
		delete(l.tickets, r.ticket)
		l.st.Abandoned++
		l.log.Warn("request abandoned", zap.Int("deliveries", r.deliveries))
		if f := l.cfg.Abandoned; f != nil {
			f(r.msg[r.envLen:])
		}
		return
	}
	l.st.Requeued++
	if f := l.cfg.X.requeued; f != nil {
		f(r.msg[r.envLen:])
	}
	l.pending = append([]*lbRequest{r}, l.pending...)
}

// unpend takes an answered request off the pending queue.
func (l *balancer) unpend(r *lbRequest) {
	for i, x := range l.pending {
		if x == r {
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			return
		}
	}
}
