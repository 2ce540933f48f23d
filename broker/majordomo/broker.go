package majordomo

import (
	"context"
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

// Broker is the guide's Majordomo broker (ch. 4 "Service-Oriented Reliable
// Queuing (Majordomo Pattern)", mdbroker; spec 7/MDP 0.1) with the
// Majordomo Management Interface (ch. 4 "Service Discovery"; spec 8/MMI).
// It has one ROUTER socket, for clients and workers alike; the protocol
// header of each message (MDPC01 or MDPW01) tells them apart.
//
// Workers register for one service each with READY. Each service has a
// queue of requests and a list of idle workers; a request goes to the
// service's least recently used idle worker, and waits in the queue while
// there is none, at most WithServiceQueue of them (default
// DefaultServiceQueue): past that, the oldest waiting request of the
// service is dropped and counted in Stats.Overflow, so that a service
// whose workers cannot keep up costs bounded memory and holds up no other
// service. Requests for a service no worker has registered wait too
// (the spec's SHOULD), but not for ever: while its service has no worker,
// a request older than WithTimeout (default DefaultTimeout, the Client's
// wait for a reply; set both alike) is dropped and counted in
// Stats.Expired, since by then its client (a Client, or the guide's
// mdcliapi) has given it up and resent it on a new socket. A client that
// wants to know first asks mmi.service (see Client.ServiceExists); a
// client that does not, gets ErrNoReply after its retries. The broker
// holds at most WithMaxServices services (default DefaultMaxServices): a
// request naming yet another is dropped and counted in Stats.NoRoom, so
// that a client inventing names cannot grow it. Its queues hold at most
// WithQueueBytes bytes of requests together (default DefaultQueueBytes):
// a request past that is dropped and counted in Stats.OverBudget, so that
// clients sending large requests to many services cannot either. Requests
// waiting for busy workers of their service do not expire, as in the
// guide's mdbroker, and neither does a request on a worker: a worker that
// heartbeats but never replies keeps its request (its client gives up
// after its timeout) until the worker dies or disconnects, and the
// requests behind it wait, up to the queue's bound. Services named "mmi."
// are answered by the broker itself: mmi.service replies "200" when at
// least one worker is registered for the service named in the request
// body and "404" otherwise; any other "mmi." service replies "501".
//
// Heartbeats go both ways, every WithHeartbeat interval (default
// DefaultHeartbeatInterval and DefaultLiveness, 1 s and 10 s of silence,
// with room for the guide's workers' 2.5 s heartbeats): the broker sends
// HEARTBEAT to every registered worker, idle or busy, and a worker it has
// not heard from for liveness intervals is dead. It is sent DISCONNECT (in
// case it is alive but slow), and the request it held goes back to the
// head of its service's queue (at-least-once: MDP workers must be
// idempotent), at most WithMaxDeliveries times, and unless the queue is
// full (it would be the oldest there: it overflows). A worker that breaks
// the protocol (READY twice, a REPLY it owes no one, a HEARTBEAT or REPLY
// before READY, an unknown command, a service in "mmi.") is sent
// DISCONNECT and forgotten; a HEARTBEAT from an unknown worker is how a
// worker that outlived a broker restart learns it must register again.
// Close sends DISCONNECT to every worker, so that they reconnect at once.
//
// MDP carries no request ids: a request resent by its client after a
// timeout may be done twice, and a reply to a client that has gone (or
// reconnected with a new socket) is dropped by the ROUTER.
//
// The broker is one actor, "majordomo broker", under a supervisor: its
// mailbox is fed by the ROUTER socket and by a clock that ticks every
// heartbeat interval, and its behaviour holds all the state and does all
// the sending. If the behaviour panics, the supervisor restarts it with
// fresh state on the same socket and mailbox (at most 3 times in 5
// seconds; then the broker fails, see Err). A restart loses the registered
// workers, the queued requests and those on workers, and the counts of the
// message that failed; the other counters of Stats go on. The broker that ends sends DISCONNECT to the workers it knew, and
// a worker it did not hear of is told DISCONNECT at its next HEARTBEAT:
// the workers register again, and clients resend what got no reply.
//
// Concurrency: a Broker is safe for concurrent use. Its goroutines (the
// actor's, which reads the socket itself, its supervisor's and its
// clock's) start in NewBroker and end in Close, which returns after they
// have ended and the socket is closed.
// Stats, Wait, Done and Err may be called from any goroutine; Wait blocks
// until its condition holds or its ctx ends.
type Broker struct {
	g     *run.Group
	ep    string
	board board.Board[Stats]
}

// Stats are a Broker's gauges (now) and counters (since it started).
type Stats struct {
	Services int // services with a registered worker or a queued request
	Workers  int // workers registered (READY and alive)
	Idle     int // of them, waiting for a request
	InFlight int // requests on a worker
	Queued   int // requests waiting for a worker of their service
	// QueuedBytes is what the Queued requests cost, as WithQueueBytes
	// counts it.
	QueuedBytes int

	Requests    uint64 // requests taken from clients, mmi ones included
	Replies     uint64 // worker replies passed to clients
	MMI         uint64 // requests the broker answered itself (spec 8/MMI)
	Expired     uint64 // requests dropped after WithTimeout in their service's queue
	Requeued    uint64 // requests given back by a dead or disconnecting worker
	Abandoned   uint64 // requests dropped after WithMaxDeliveries deliveries
	Dead        uint64 // workers whose heartbeats stopped
	Disconnects uint64 // DISCONNECT commands sent to workers
	Malformed   uint64 // messages dropped because they are not MDP (a REQUEST without a body, too)
	WorkerQuits uint64 // DISCONNECT commands received from workers
	Overflow    uint64 // requests dropped because their service's queue was full (WithServiceQueue)
	NoRoom      uint64 // requests dropped because they named a new service with WithMaxServices held
	OverBudget  uint64 // requests dropped because the queues held WithQueueBytes bytes
}

// NewBroker binds a Majordomo broker's ROUTER socket at endpoint (as
// socket.Bind takes it, tcp port "*" picking a free one, see Endpoint; or
// connects it, written with a leading '>') and starts the broker.
// Options: WithHeartbeat, WithTimeout (how long a request may wait for a
// service without workers), WithServiceQueue, WithMaxDeliveries,
// WithMaxServices, WithQueueBytes, WithSocketOptions, WithLogger, WithObserver.
func NewBroker(endpoint string, opts ...Option) (*Broker, error) {
	cfg, err := build(forBroker, "NewBroker", opts)
	if err != nil {
		return nil, err
	}
	b := &Broker{}
	// Not mandatory routing: a reply to a client that left, or a message
	// to a worker at its high-water mark, is dropped rather than stalling
	// every other peer of the one socket; a worker gone without a word is
	// found by its heartbeats. The linger lets the last DISCONNECTs out.
	sockOpts := append([]socket.Option{socket.WithLinger(min(cfg.Interval, time.Second))}, cfg.SockOpts...)
	sock, ep, err := run.Open(socket.Router, endpoint, sockOpts)
	if err != nil {
		return nil, fmt.Errorf("majordomo: broker: %w", err)
	}
	b.ep = ep
	if cfg.Observer != nil {
		b.board.Report(cfg.Observer, "majordomo broker")
	}
	child := actor.NewChild("majordomo broker",
		func() actor.Behavior[brokerMsg] { return &brokerState{cfg: &cfg, sock: sock, board: &b.board} },
		actor.WithFeed(patterns.Feed(sock, func(m socket.Msg) brokerMsg { return brokerMsg{frames: m} }, nil)),
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) brokerMsg { return brokerMsg{tick: t} })))
	b.g, err = run.Start(context.Background(), "majordomo broker supervisor", []*socket.Socket{sock},
		[]actor.ChildSpec{child}, cfg.Supervision()...)
	if err != nil {
		return nil, fmt.Errorf("majordomo: broker: %w", err)
	}
	return b, nil
}

// Endpoint returns the endpoint clients and workers connect to, as bound
// (the port resolved), or as connected.
func (b *Broker) Endpoint() string { return b.ep }

// Stats returns a snapshot of the broker's gauges and counters, as of the
// last message the broker handled.
func (b *Broker) Stats() Stats { return b.board.Get() }

// Wait blocks until cond holds for the broker's stats, or ctx ends
// (ctx.Err()), or the broker is closed or failed (ErrClosed); stats that
// met cond by then are reported (nil), even when they came with the end.
// cond is called with no lock held, from the calling goroutine only.
func (b *Broker) Wait(ctx context.Context, cond func(Stats) bool) error {
	return b.board.Wait(ctx, b.g.Done(), ErrClosed, cond)
}

// Done is closed when the broker has ended: closed, or failed for good
// (its socket failed, or its behaviour kept failing), when Err says why.
func (b *Broker) Done() <-chan struct{} { return b.g.Done() }

// Err is nil while the broker runs and after Close; otherwise why it
// failed, wrapping ErrClosed.
func (b *Broker) Err() error {
	if err := b.g.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// Close sends DISCONNECT to every registered worker, drops the queued
// requests, and closes the socket, waiting at most a heartbeat interval
// (and at most a second, unless WithSocketOptions set a linger) for the
// DISCONNECTs to leave. It returns after the broker's goroutines have
// ended, with the failure that ended the broker early, if one did. Calls
// after the first return nil.
func (b *Broker) Close() error {
	err := b.g.Close()
	b.board.Retire()
	return err
}

// brokerMsg is what the broker's actor handles: a message its ROUTER
// received (frames), or a tick of its clock.
type brokerMsg struct {
	frames socket.Msg
	tick   time.Time
}

type mdpService struct {
	name     string
	requests []*mdpReq    // oldest first; given-back requests at the head
	waiting  []*mdpWorker // idle workers, least recently used first
	workers  int          // registered workers, idle or busy
}

type mdpWorker struct {
	id     string
	svc    *mdpService
	expiry time.Time
	req    *mdpReq // the request it holds, or nil
}

type mdpReq struct {
	client     []byte
	body       [][]byte
	arrived    time.Time
	deliveries int
	size       int // queuedSize
}

// The fixed costs of a queued request and of each of its frames, beyond
// the frames' bytes: the structs and slice headers that hold them.
const (
	reqCost   = 128
	frameCost = 24
)

// queuedSize is what a request costs in a queue, as WithQueueBytes counts
// it.
func queuedSize(client []byte, body [][]byte) int {
	n := reqCost + frameCost + len(client)
	for _, f := range body {
		n += frameCost + len(f)
	}
	return n
}

// brokerState is the broker's behaviour: one incarnation's state, made
// afresh at each (re)start.
type brokerState struct {
	cfg      *opt.Config[extra]
	sock     *socket.Socket
	board    *board.Board[Stats]
	log      *zap.Logger
	services map[string]*mdpService
	workers  map[string]*mdpWorker
	queued   int // the bytes of the requests in the queues (queuedSize)
	st       Stats

	// ctx is the actor's; sendCtx bounds every send until the next tick.
	// Without mandatory routing (our default) a ROUTER send does not
	// block; with it (through WithSocketOptions) a peer at its high-water
	// mark holds the broker up for at most two heartbeat intervals. One
	// ctx a tick, not one a message: this is the broker's hot path.
	ctx        context.Context
	sendCtx    context.Context
	sendCancel context.CancelFunc
}

// Start sets up an incarnation; the counters of the last one go on.
func (l *brokerState) Start(ctx context.Context) error {
	l.log = l.cfg.Log
	l.services = map[string]*mdpService{}
	l.workers = map[string]*mdpWorker{}
	l.queued = 0
	l.st = l.board.Get()
	l.ctx = ctx
	l.newSendCtx()
	l.publish()
	return nil
}

// Stop tells every worker the broker is going: at Close, or before a
// restart that forgets them.
func (l *brokerState) Stop() error {
	l.sendCancel()
	l.sendCtx, l.sendCancel = context.WithTimeout(context.Background(), 2*l.cfg.Interval)
	defer l.sendCancel()
	for _, w := range l.workers {
		l.disconnect(w.id)
	}
	// What the workers held and the queues are dropped with the state.
	clear(l.workers)
	clear(l.services)
	l.queued = 0
	l.publish()
	return nil
}

func (l *brokerState) newSendCtx() {
	if l.sendCancel != nil {
		l.sendCancel()
	}
	l.sendCtx, l.sendCancel = context.WithTimeout(l.ctx, 2*l.cfg.Interval)
}

// Receive handles a message from a peer, or a tick.
func (l *brokerState) Receive(_ context.Context, m brokerMsg) error {
	if m.frames != nil {
		l.handle(m.frames)
	} else {
		l.newSendCtx()
		l.heartbeat(m.tick)
	}
	l.publish()
	return nil
}

func (l *brokerState) publish() {
	l.st.Services = len(l.services)
	l.st.Workers = len(l.workers)
	l.st.Idle, l.st.Queued, l.st.QueuedBytes = 0, 0, l.queued
	for _, s := range l.services {
		l.st.Idle += len(s.waiting)
		l.st.Queued += len(s.requests)
	}
	l.st.InFlight = 0
	for _, w := range l.workers {
		if w.req != nil {
			l.st.InFlight++
		}
	}
	l.board.Publish(l.st)
}

// send sends on the ROUTER. Without mandatory routing it does not block:
// a message for a peer that is gone or full is dropped.
func (l *brokerState) send(m [][]byte) {
	if err := l.sock.Send(l.sendCtx, m); err != nil {
		l.log.Debug("majordomo send", zap.Error(err))
	}
}

// handle sorts a message by its protocol header.
func (l *brokerState) handle(m socket.Msg) {
	if rest, ok := mdpCut(m[1:], ClientHeader); ok {
		l.fromClient(m[0], rest)
		return
	}
	if rest, ok := mdpCut(m[1:], WorkerHeader); ok {
		l.fromWorker(m[0], rest)
		return
	}
	l.st.Malformed++
	l.log.Warn("message dropped", zap.Error(ErrMalformed), zap.Stringer("msg", m))
}

// fromClient takes a REQUEST: service, body.
func (l *brokerState) fromClient(client []byte, m [][]byte) {
	name, body, err := parseMDPRequest(m)
	if err != nil {
		l.st.Malformed++
		l.log.Warn("client request dropped", zap.Error(err), zap.Binary("client", client))
		return
	}
	l.st.Requests++
	if isMMI(name) {
		l.st.MMI++
		l.send(l.mmi(client, name, body))
		return
	}
	if l.services[name] == nil && len(l.services) >= l.cfg.X.maxServices {
		l.st.NoRoom++
		l.log.Warn("request dropped", zap.Error(ErrTooManyServices), zap.String("service", name),
			zap.Int("limit", l.cfg.X.maxServices), zap.Uint64("dropped", l.st.NoRoom))
		return
	}
	svc := l.service(name)
	// A service with requests waiting has no idle worker (dispatch sees
	// to it): a full queue stays full until a worker frees itself.
	if len(svc.requests) >= l.cfg.X.serviceQueue {
		l.queued -= svc.requests[0].size
		svc.requests[0] = nil
		svc.requests = svc.requests[1:]
		l.overflow(svc)
	}
	r := &mdpReq{client: client, body: body, arrived: time.Now(), size: queuedSize(client, body)}
	if !l.room(svc, r) {
		l.prune(svc)
		return
	}
	svc.requests = append(svc.requests, r)
	l.dispatch(svc)
}

// room reports whether r, for svc, fits in the queues' bytes
// (WithQueueBytes), and counts them if it does; one that does not is
// counted and logged as dropped. A request a worker takes at once (svc has
// an idle one) is not held, and fits.
func (l *brokerState) room(svc *mdpService, r *mdpReq) bool {
	if len(svc.waiting) > 0 && len(svc.requests) == 0 {
		l.queued += r.size // dispatch takes it off at once
		return true
	}
	if l.queued+r.size > l.cfg.X.queueBytes {
		l.st.OverBudget++
		l.log.Warn("request dropped", zap.Error(ErrQueueFull), zap.String("service", svc.name),
			zap.Int("size", r.size), zap.Int("queued", l.queued), zap.Int("limit", l.cfg.X.queueBytes),
			zap.Uint64("dropped", l.st.OverBudget))
		return false
	}
	l.queued += r.size
	return true
}

// overflow counts and logs a request dropped from svc's full queue.
func (l *brokerState) overflow(svc *mdpService) {
	l.st.Overflow++
	l.log.Warn("oldest request dropped", zap.Error(ErrServiceFull), zap.String("service", svc.name),
		zap.Int("limit", l.cfg.X.serviceQueue), zap.Uint64("overflow", l.st.Overflow))
}

func (l *brokerState) service(name string) *mdpService {
	s := l.services[name]
	if s == nil {
		s = &mdpService{name: name}
		l.services[name] = s
	}
	return s
}

// fromWorker takes a worker command: command, then its frames.
func (l *brokerState) fromWorker(idb []byte, m [][]byte) {
	id := string(idb)
	w := l.workers[id]
	cmd, rest, err := parseMDPWorker(m)
	if err != nil {
		l.protocolError(id, w, err.Error())
		return
	}
	if w != nil {
		w.expiry = time.Now().Add(l.cfg.Expiry())
	}
	switch cmd {
	case mdpReady:
		name := string(rest[0])
		switch {
		case w != nil:
			l.protocolError(id, w, "second READY")
		case name == "" || isMMI(name):
			l.protocolError(id, nil, fmt.Sprintf("READY for service %q: %v", name, ErrServiceName))
		default:
			svc := l.service(name)
			w = &mdpWorker{id: id, svc: svc, expiry: time.Now().Add(l.cfg.Expiry())}
			l.workers[id] = w
			svc.workers++
			svc.waiting = append(svc.waiting, w)
			l.log.Debug("worker ready", zap.String("service", name), zap.Binary("worker", idb))
			l.dispatch(svc)
		}
	case mdpReply:
		client, body, _ := mdpAddressed(rest)
		switch {
		case w == nil || w.req == nil:
			l.protocolError(id, w, "REPLY with no request outstanding")
		case string(client) != string(w.req.client):
			l.protocolError(id, w, "REPLY to another client than the request's")
		default:
			out := make([][]byte, 0, len(body)+4)
			out = append(append(out, w.req.client, frameEmpty, frameMDPC, []byte(w.svc.name)), body...)
			l.send(out)
			l.st.Replies++
			w.req = nil
			w.svc.waiting = append(w.svc.waiting, w)
			l.dispatch(w.svc)
		}
	case mdpHeartbeat:
		if w == nil {
			// A worker from before our restart, or one we buried: it
			// must start a new conversation.
			l.protocolError(id, nil, "HEARTBEAT before READY")
		}
	case mdpDisconnect:
		l.st.WorkerQuits++
		if w != nil {
			l.forget(w)
		}
	}
}

// protocolError answers a worker's invalid or unexpected command: the spec
// says DISCONNECT, and no further commands.
func (l *brokerState) protocolError(id string, w *mdpWorker, why string) {
	l.st.Malformed++
	l.log.Warn("worker disconnected", zap.String("worker", id), zap.String("why", why))
	l.disconnect(id)
	if w != nil {
		l.forget(w)
	}
}

func (l *brokerState) disconnect(id string) {
	l.st.Disconnects++
	l.send(mdpRouted([]byte(id), mdpWorkerMsg(frameMDPDisconnect)))
}

// mdpRouted prepends a routing id.
func mdpRouted(id []byte, m [][]byte) [][]byte { return append([][]byte{id}, m...) }

// forget deletes a worker and gives back the request it held.
func (l *brokerState) forget(w *mdpWorker) {
	delete(l.workers, w.id)
	svc := w.svc
	svc.workers--
	for i, x := range svc.waiting {
		if x == w {
			svc.waiting = append(svc.waiting[:i], svc.waiting[i+1:]...)
			break
		}
	}
	if r := w.req; r != nil {
		w.req = nil
		if r.deliveries >= l.cfg.MaxDeliveries {
			l.st.Abandoned++
			l.log.Warn("request abandoned", zap.String("service", svc.name), zap.Int("deliveries", r.deliveries))
		} else if len(svc.requests) >= l.cfg.X.serviceQueue {
			// It would be the oldest of a full queue: the one to drop.
			l.overflow(svc)
		} else if l.room(svc, r) {
			l.st.Requeued++
			svc.requests = append([]*mdpReq{r}, svc.requests...)
		}
	}
	l.dispatch(svc)
	l.prune(svc)
}

// prune deletes a service that has neither workers nor requests.
func (l *brokerState) prune(svc *mdpService) {
	if svc.workers == 0 && len(svc.requests) == 0 {
		delete(l.services, svc.name)
	}
}

// dispatch hands a service's queued requests to its idle workers, least
// recently used first.
func (l *brokerState) dispatch(svc *mdpService) {
	for len(svc.requests) > 0 && len(svc.waiting) > 0 {
		r, w := svc.requests[0], svc.waiting[0]
		l.queued -= r.size
		svc.requests[0] = nil // the worker holds it now
		svc.requests, svc.waiting = svc.requests[1:], svc.waiting[1:]
		w.req = r
		r.deliveries++
		m := make([][]byte, 0, 6+len(r.body))
		m = append(append(m, []byte(w.id), frameEmpty, frameMDPW, frameMDPRequest, r.client, frameEmpty), r.body...)
		l.send(m)
	}
}

// heartbeat buries silent workers, heartbeats the others, and expires
// requests that waited too long for a worker.
func (l *brokerState) heartbeat(now time.Time) {
	for _, w := range l.workers {
		if now.After(w.expiry) {
			l.st.Dead++
			l.log.Warn("worker dead", zap.String("service", w.svc.name), zap.String("worker", w.id), zap.Duration("silent", l.cfg.Expiry()))
			l.disconnect(w.id)
			l.forget(w)
			continue
		}
		l.send(mdpRouted([]byte(w.id), mdpWorkerMsg(frameMDPHeartbeat)))
	}
	deadline := now.Add(-l.cfg.Timeout)
	for _, svc := range l.services {
		if svc.workers > 0 {
			continue
		}
		keep := svc.requests[:0]
		for _, r := range svc.requests {
			if r.arrived.Before(deadline) {
				l.st.Expired++
				l.queued -= r.size
				continue
			}
			keep = append(keep, r)
		}
		clear(svc.requests[len(keep):])
		svc.requests = keep
		l.prune(svc)
	}
}
