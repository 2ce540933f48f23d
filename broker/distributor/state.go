package distributor

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/socket"
)

// msg is what the distributor's actor handles: one of the types below.
type msg interface{ isMsg() }

type (
	// fromTasks is a message the task ROUTER received (demand-driven): a
	// worker's READY or HEARTBEAT, its routing id in front.
	fromTasks socket.Msg
	// fromResults is a message the result PULL received: HELLO, a result,
	// HEARTBEAT (round-robin) or BYE.
	fromResults socket.Msg
	// tick is the clock's: heartbeats go out and silent workers are buried.
	tick time.Time
	// taskConnEnded is the end of a connection of the task PUSH
	// (round-robin; see disconnects).
	taskConnEnded struct{}
	// pulled is a batch's next task, from its puller.
	pulled struct {
		batch   *batch
		seq     int
		payload []byte
	}
	// pulledAll is a puller's last word: its batch yielded n tasks.
	pulledAll struct {
		batch *batch
		n     int
	}
	// submit is Submit's request: a batch to start.
	submit struct {
		actor.Request[Batch, *BatchHandle]
	}
	// kill is Kill's request: publish KILL once.
	kill struct {
		actor.Request[struct{}, struct{}]
	}
)

func (fromTasks) isMsg()     {}
func (fromResults) isMsg()   {}
func (tick) isMsg()          {}
func (taskConnEnded) isMsg() {}
func (pulled) isMsg()        {}
func (pulledAll) isMsg()     {}
func (submit) isMsg()        {}
func (kill) isMsg()          {}

// batch is a batch as the actor sees it.
type batch struct {
	b      Batch
	handle *BatchHandle
	// more tells the batch's puller that the task it handed over went
	// out: it may pull the next one.
	more chan struct{}
	next task // handed over by the puller, waiting for credit (on the waiting list)

	fed     int      // tasks pulled
	fedAll  bool     // the puller has ended
	short   bool     // Tasks yielded fewer than Size
	done    bool     // complete, or lost
	results int      // distinct results
	seen    []uint64 // bit per seq: result taken
	sum     BatchSummary
}

// answered says whether the task at seq has its result.
func (b *batch) answered(seq int) bool { return b.seen[seq/64]&(1<<(seq%64)) != 0 }

// task is a task on its way to a worker: pulled from its batch, or given
// back.
type task struct {
	batch      *batch
	seq        int
	payload    []byte
	deliveries int // times sent
}

// dispatch is a task sent to a worker, known by its ticket. It is kept
// until that worker answers, or until its batch is complete once the
// worker is gone.
type dispatch struct {
	task task
	peer *peer // the worker it went to (demand-driven; nil round-robin)
	// holder is the worker that said ACK for it (round-robin): the one
	// that holds it, whose leaving gives it back.
	holder *peer
	// sent is when it went out (round-robin): while every worker says
	// ACK, one that none has said ACK for within their liveness went to a
	// peer that is not a worker, or one that is gone.
	sent time.Time
	// checkAt: round-robin, the dispatch was in flight with no ACK when a
	// connection ended or a worker left, or went out soon after a worker
	// left, so it may have been lost with them. If no ACK has come by
	// then, it goes out again. Zero: not in doubt.
	checkAt time.Time
	// lost: the worker died or gave it back (round-robin: the worker
	// holding it left, or it was in doubt and no worker said ACK). It is
	// no longer in flight and has gone out again; a result of this
	// dispatch is still taken if it comes first.
	lost bool
}

// peer is a worker as the actor sees it, known by the id it says HELLO
// with and, demand-driven, by its routing id (a Worker's are the same).
type peer struct {
	id       string
	hello    bool      // said HELLO: counted in Workers
	ready    bool      // said READY: takes tasks (demand-driven)
	beats    bool      // has sent HEARTBEAT: buried when silent
	acks     bool      // has said ACK (round-robin): it says ACK for every task it gets
	queued   bool      // on the ring
	gone     bool      // dead, or said BYE
	credit   int       // announced at READY, capped at the window
	inFlight int       // tasks it holds
	expiry   time.Time // silent until then, it is dead (when beats)
}

// spare is the credit a worker has not used.
func (p *peer) spare() int { return max(p.credit-p.inFlight, 0) }

// maxPeers bounds the workers a distributor knows and the BYEs it
// remembers: each costs a record, and HELLO and BYE name any id.
const maxPeers = 1 << 16

// state is the distributor's behaviour: one incarnation's state, made
// afresh at each (re)start, but for the counters, which go on.
type state struct {
	cfg     *opt.Config[extra]
	log     *zap.Logger
	board   *board.Board[Stats]
	dist    *Distributor // for the handles; nil in the fuzz test
	closing *atomic.Bool // Close is under way (nil in the fuzz test)
	self    actor.Ref[msg]

	tasks   *socket.Socket // ROUTER (demand-driven) or PUSH (round-robin)
	results *socket.Socket // PULL
	control *socket.Socket // PUB

	batches map[uint64]*batch
	// nextID is the next batch id to try, shared by the incarnations, so
	// that a result of a batch lost in a restart is not taken for one of a
	// new batch of the same id (it is Late, not Forged).
	nextID  *uint64
	waiting []*batch // batches whose next task waits for credit, in the order they came
	peers   map[string]*peer
	hellos  int     // peers that said HELLO
	ring    []*peer // demand-driven workers with spare credit, the longest waiting first
	tickets map[uint64]*dispatch
	rng     *rand.ChaCha8 // tickets: unpredictable, so that a peer cannot guess one
	pending []task        // given back: they go out before new tasks
	// early holds workers whose BYE came before their READY, until when
	// to ignore that READY: the two travel on different sockets, so a
	// worker that never got a task can leave before its READY arrives,
	// and that READY must not give credit.
	early map[string]time.Time
	// leaving: round-robin, until then a worker that said BYE or died
	// may still have its task connection, and the PUSH may deal it tasks
	// that it drops: each task that goes out meanwhile is in doubt (see
	// dispatch.checkAt) until a worker says ACK for it.
	leaving time.Time
	// doubts counts the dispatches in doubt (checkAt set).
	doubts int
	// eventsDropped is the task PUSH's count of monitor events lost
	// (round-robin): one may have been a taskConnEnded.
	eventsDropped uint64
	// noWorker: round-robin, the PUSH had no worker to take a task. Tasks
	// wait until the next tick or a worker's HELLO (see hello), rather
	// than the actor in the send: Submit, Kill, results and heartbeats go
	// on meanwhile.
	noWorker bool
	st       Stats

	// ctx is the actor's; sendCtx bounds sends to workers until the next
	// tick. pullers are the goroutines that pull the batches' Tasks, under
	// pullCtx, which ends at Stop.
	ctx        context.Context
	sendCtx    context.Context
	sendCancel context.CancelFunc
	pullCtx    context.Context
	pullCancel context.CancelFunc
	pullers    sync.WaitGroup
}

func newState(cfg *opt.Config[extra], b *board.Board[Stats]) *state {
	var seed [32]byte
	crand.Read(seed[:])
	return &state{
		cfg: cfg, log: cfg.Log, board: b, batches: map[uint64]*batch{}, nextID: new(uint64),
		peers: map[string]*peer{}, tickets: map[uint64]*dispatch{},
		rng: rand.NewChaCha8(seed), early: map[string]time.Time{},
	}
}

// Start sets up an incarnation: no workers, no batches; the counters of
// the last one go on.
func (l *state) Start(ctx context.Context) error {
	l.ctx = ctx
	l.pullCtx, l.pullCancel = context.WithCancel(ctx)
	l.newSendCtx()
	l.st = l.board.Get()
	l.st.Workers, l.st.Credit, l.st.InFlight, l.st.Unacked, l.st.Batches = 0, 0, 0, 0, 0
	if l.cfg.X.dispatch == RoundRobin {
		l.eventsDropped = l.tasks.Stats().EventsDropped
	}
	l.publish()
	return nil
}

// Stop ends the batches in progress (lost: the next incarnation, if any,
// does not know them) and waits for their pullers.
func (l *state) Stop() error {
	l.pullCancel()
	l.sendCancel()
	why := ErrBatchLost
	if l.closing.Load() {
		why = ErrClosed
	}
	for _, b := range l.batches {
		l.lose(b, why)
	}
	l.pullers.Wait()
	l.publish()
	return nil
}

// Receive handles one message, then sends what can go out: tasks are
// pulled only when one can go out at once, the worker credit (or,
// round-robin, the window) being the flow control, and tasks given back go
// first.
func (l *state) Receive(_ context.Context, m msg) error {
	var err error
	switch m := m.(type) {
	case fromTasks:
		l.fromWorker(socket.Msg(m))
	case fromResults:
		l.fromSink(socket.Msg(m))
	case tick:
		l.newSendCtx()
		l.noWorker = false
		err = l.heartbeat(time.Time(m))
	case taskConnEnded:
		l.connEnded()
	case pulled:
		l.pulled(m)
	case pulledAll:
		l.fedAll(m)
	case submit:
		l.add(m.Request)
	case kill:
		m.Reply(struct{}{}, l.kill())
	}
	if err == nil {
		err = l.pump()
	}
	l.publish()
	return err
}

func (l *state) canSend() bool {
	if l.st.InFlight >= l.cfg.X.window || l.noWorker {
		return false
	}
	return l.cfg.X.dispatch == RoundRobin || len(l.ring) > 0
}

// pump sends tasks while a worker can take one: given-back ones first,
// then those the batches' pullers handed over, a batch at a time in turn.
func (l *state) pump() error {
	for l.canSend() {
		var t task
		switch {
		case len(l.pending) > 0:
			t = l.pending[0]
			l.pending = l.pending[1:]
		case len(l.waiting) > 0:
			b := l.waiting[0]
			l.waiting[0] = nil
			l.waiting = l.waiting[1:]
			t, b.next = b.next, task{}
			select {
			case b.more <- struct{}{}: // the puller may pull the next
			default:
			}
		default:
			return nil
		}
		if err := l.send(t); err != nil {
			return err
		}
	}
	return nil
}

func (l *state) publish() {
	l.st.Workers = l.hellos
	l.st.Batches = len(l.batches)
	l.board.Publish(l.st)
}

// add starts a batch and its puller, and answers Submit.
func (l *state) add(r actor.Request[Batch, *BatchHandle]) {
	id := r.Query.ID
	if id == 0 {
		for l.batches[*l.nextID] != nil || *l.nextID == 0 {
			*l.nextID++
		}
		id = *l.nextID
		*l.nextID++
	} else if l.batches[id] != nil {
		r.Reply(nil, fmt.Errorf("%w: %d", ErrBatchID, id))
		return
	}
	b := &batch{
		b:      r.Query,
		handle: &BatchHandle{id: id, done: make(chan struct{}), d: l.dist},
		more:   make(chan struct{}, 1),
		seen:   make([]uint64, (r.Query.Size+63)/64),
		sum:    BatchSummary{ID: id, Size: r.Query.Size},
	}
	if b.b.OnResult == nil {
		b.sum.Results = make([]Result, b.b.Size)
	}
	l.batches[id] = b
	l.pullers.Add(1)
	go func() {
		defer l.pullers.Done()
		pull(l.pullCtx, l.self, b)
	}()
	r.Reply(b.handle, nil)
}

// pull pulls a batch's tasks and hands each to the actor, the next one
// only once the last went out (so that at most one task per batch waits
// for credit), and then says how many there were. It runs in a goroutine
// of its own, as Tasks may block; it ends with ctx (Stop), and Stop waits
// for it.
func pull(ctx context.Context, self actor.Ref[msg], b *batch) {
	n := 0
	for p := range b.b.Tasks {
		if self.Tell(ctx, pulled{batch: b, seq: n, payload: p}) != nil {
			return
		}
		n++
		if n == b.b.Size {
			break
		}
		select {
		case <-b.more:
		case <-ctx.Done():
			return
		}
	}
	self.Tell(ctx, pulledAll{batch: b, n: n})
}

// pulled takes a batch's next task: it goes out when a worker has credit.
func (l *state) pulled(m pulled) {
	b := m.batch
	if l.batches[b.handle.id] != b {
		return // of a batch an incarnation before this one lost
	}
	b.fed++
	b.next = task{batch: b, seq: m.seq, payload: m.payload}
	l.waiting = append(l.waiting, b)
}

func (l *state) fedAll(m pulledAll) {
	b := m.batch
	if l.batches[b.handle.id] != b {
		return
	}
	b.fedAll = true
	if m.n < b.b.Size {
		b.short = true
		b.sum.Err = fmt.Errorf("%w: %d tasks of %d", ErrBatchSize, m.n, b.b.Size)
	}
	l.maybeComplete(b)
}

// kill publishes KILL on the control channel (PUB does not block).
func (l *state) kill() error {
	if err := l.control.Send(l.ctx, socket.Msg{wordKill}); err != nil {
		return fmt.Errorf("distributor: kill: %w", err)
	}
	return nil
}

// newSendCtx makes the ctx that bounds sends to workers until the next
// tick, as the load balancer's does: a worker that cannot take a message
// (mandatory routing blocks at its high-water mark) within two heartbeat
// intervals is as good as dead. One ctx a tick, not one a message: this is
// the distributor's hot path.
func (l *state) newSendCtx() {
	if l.sendCancel != nil {
		l.sendCancel()
	}
	l.sendCtx, l.sendCancel = context.WithTimeout(l.ctx, 2*l.cfg.Interval)
}

// sendWorker sends to a worker over the task ROUTER within the tick's
// send ctx, renewed if a stall of ours let it expire.
func (l *state) sendWorker(m socket.Msg) error {
	if l.sendCtx.Err() != nil && l.ctx.Err() == nil {
		l.newSendCtx()
	}
	return l.tasks.Send(l.sendCtx, m)
}

// unreachable handles a failed send to a worker: the worker is dead if it
// is gone or stuck; another error is the distributor's.
func (l *state) unreachable(p *peer, err error) error {
	if !errors.Is(err, socket.ErrHostUnreachable) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("distributor: send: %w", err)
	}
	l.dead(p, err)
	return nil
}

// send dispatches a task, under a new ticket, to the worker at the head
// of the ring (demand-driven) or down the PUSH socket (round-robin). With
// no worker to take it, it goes back to the head of the pending tasks.
func (l *state) send(t task) error {
	b := t.batch
	if b.done || b.answered(t.seq) {
		return nil // given back, then answered by the worker that had it
	}
	ticket := l.newTicket()
	m := append(header{batch: b.handle.id, seq: uint64(t.seq), ticket: ticket}.frames(), t.payload)
	if l.cfg.X.dispatch == RoundRobin {
		// PUSH has no room only with no worker connected, or all at the
		// high-water mark, which the window keeps us from.
		err := l.tasks.TrySend(m)
		if errors.Is(err, socket.ErrWouldBlock) {
			l.noWorker = true
			l.pending = slices.Insert(l.pending, 0, t)
			return nil
		}
		if err != nil {
			if l.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("distributor: send task: %w", err)
		}
		l.dispatched(ticket, t, nil)
		return nil
	}
	for len(l.ring) > 0 {
		p := l.ring[0]
		l.ring = l.ring[1:]
		p.queued = false
		err := l.sendWorker(append(socket.Msg{[]byte(p.id)}, m...))
		if err == nil {
			l.dispatched(ticket, t, p)
			l.enqueue(p) // at the back: workers with credit take turns
			return nil
		}
		if l.ctx.Err() != nil {
			return nil
		}
		if err := l.unreachable(p, err); err != nil {
			return err
		}
	}
	l.pending = slices.Insert(l.pending, 0, t)
	return nil
}

// newTicket returns a ticket no dispatch we keep has.
func (l *state) newTicket() uint64 {
	for {
		if t := l.rng.Uint64(); l.tickets[t] == nil {
			return t
		}
	}
}

func (l *state) dispatched(ticket uint64, t task, p *peer) {
	t.deliveries++
	d := &dispatch{task: t, peer: p}
	l.tickets[ticket] = d
	if p != nil {
		p.inFlight++
		l.st.Credit--
	}
	if l.cfg.X.dispatch == RoundRobin {
		l.st.Unacked++
		d.sent = time.Now()
		if d.sent.Before(l.leaving) {
			l.doubt(d, d.sent)
		}
	}
	l.st.Dispatched++
	l.st.InFlight++
	l.st.MaxInFlight = max(l.st.MaxInFlight, l.st.InFlight)
}

// enqueue puts a worker with spare credit at the back of the ring.
func (l *state) enqueue(p *peer) {
	if p.ready && !p.gone && !p.queued && p.spare() > 0 {
		p.queued = true
		l.ring = append(l.ring, p)
	}
}

// newPeer records a worker, or returns nil when there are too many.
func (l *state) newPeer(id string) *peer {
	if len(l.peers) >= maxPeers {
		l.st.Malformed++
		l.log.Warn("too many workers; message dropped", zap.String("worker", quoteFrame([]byte(id))))
		return nil
	}
	p := &peer{id: id}
	l.peers[id] = p
	return p
}

// alive notes a sign of life from a worker.
func (l *state) alive(p *peer) {
	p.expiry = time.Now().Add(l.cfg.Expiry())
}

// forget drops a worker that died or said BYE; giveBack takes back its
// tasks.
func (l *state) forget(p *peer) {
	p.gone = true
	if l.peers[p.id] == p {
		delete(l.peers, p.id)
	}
	if p.hello {
		l.hellos--
	}
	if p.ready {
		l.st.Credit -= p.spare()
	}
	if p.queued {
		p.queued = false
		if i := slices.Index(l.ring, p); i >= 0 {
			l.ring = slices.Delete(l.ring, i, i+1)
		}
	}
}

// dead buries a worker: silent too long, or unreachable. The tasks it
// held go out again (round-robin: see left).
func (l *state) dead(p *peer, why error) {
	l.st.Dead++
	l.log.Warn("worker dead", zap.String("worker", quoteFrame([]byte(p.id))), zap.Error(why))
	l.forget(p)
	if l.cfg.X.dispatch == RoundRobin {
		l.left(p)
	} else {
		l.giveBack(p)
	}
}

// giveBack takes back the tasks in flight at p (demand-driven) and
// queues them to go out again.
func (l *state) giveBack(p *peer) {
	l.giveBackIf(func(d *dispatch) bool { return d.peer == p })
	p.inFlight = 0
}

// giveBackIf takes back the tasks in flight whose dispatch meets cond
// and queues them to go out again, in batch and seq order. Their
// dispatches are kept: the first result counts, whichever worker sends
// it.
func (l *state) giveBackIf(cond func(*dispatch) bool) {
	var back []task
	for _, d := range l.tickets {
		if !d.lost && cond(d) {
			l.settle(d)
			d.lost = true
			l.st.InFlight--
			back = append(back, d.task)
			d.task.payload = nil // the copy going out again has it
		}
	}
	slices.SortFunc(back, func(a, b task) int {
		return cmp.Or(cmp.Compare(a.batch.handle.id, b.batch.handle.id), cmp.Compare(a.seq, b.seq))
	})
	for _, t := range back {
		l.requeue(t)
	}
}

// requeue queues a task given back to go out again, or, demand-driven,
// gives it up once WithMaxDeliveries workers have had it (not in the guide:
// it stops a task that kills every worker it reaches from killing them
// all, as the load balancer's does).
func (l *state) requeue(t task) {
	b := t.batch
	if b.done || b.answered(t.seq) {
		return
	}
	if l.cfg.X.dispatch == DemandDriven && t.deliveries >= l.cfg.MaxDeliveries {
		l.st.Abandoned++
		l.log.Warn("task given up", zap.Uint64("batch", b.handle.id), zap.Int("seq", t.seq), zap.Int("deliveries", t.deliveries))
		l.take(b, t.seq, 1, fmt.Appendf(nil, "given up after %d deliveries: each worker died or gave it back", t.deliveries))
		return
	}
	l.st.Requeued++
	l.pending = append(l.pending, t)
}

// fromWorker takes READY and HEARTBEAT (demand-driven).
func (l *state) fromWorker(m socket.Msg) {
	if len(m) < 2 {
		l.st.Malformed++
		return
	}
	id := string(m[0])
	p := l.peers[id]
	switch {
	case len(m) == 2 && bytes.Equal(m[1], wordHeartbeat):
		// A HEARTBEAT only keeps a worker we know alive. One we do not
		// know (we buried it, or restarted) says READY again once it
		// misses ours.
		if p != nil && p.ready {
			p.beats = true
			l.alive(p)
		}
	case len(m) == 3 && bytes.Equal(m[1], wordReady) && len(m[2]) == 4:
		l.ready(id, p, binary.BigEndian.Uint32(m[2]))
	default:
		l.st.Malformed++
		l.log.Warn("unknown message from worker", zap.Stringer("msg", m))
	}
}

// ready takes a worker's READY and its credit.
func (l *state) ready(id string, p *peer, n uint32) {
	if _, left := l.early[id]; left {
		delete(l.early, id) // it has left already
		return
	}
	if n < 1 {
		l.st.Malformed++
		l.log.Warn("READY without credit", zap.String("worker", quoteFrame([]byte(id))))
		return
	}
	switch {
	case p == nil:
		if p = l.newPeer(id); p == nil {
			return
		}
	case p.ready:
		// READY again: the worker starts over (it lost us, or restarted),
		// so what it held goes to others.
		l.st.Credit -= p.spare()
		l.giveBack(p)
	}
	p.ready = true
	// The window bounds what any worker can hold, so credit beyond it is
	// never used: capped, a peer's four bytes cost us one count.
	p.credit = int(min(uint64(n), uint64(l.cfg.X.window)))
	l.st.Credit += p.spare()
	l.alive(p)
	l.enqueue(p)
}

// fromSink takes HELLO, results, HEARTBEAT (round-robin) and BYE.
func (l *state) fromSink(m socket.Msg) {
	switch {
	case len(m) == 2 && bytes.Equal(m[0], wordHello):
		if p := l.peers[string(m[1])]; p != nil && p.hello && l.cfg.X.dispatch == RoundRobin {
			// HELLO again: the worker starts over (it found us silent),
			// dropping the tasks it held but the one in hand, whose
			// result still counts if it comes first; it says ACK again
			// once it hears ours.
			l.giveBackIf(func(d *dispatch) bool { return d.holder == p })
			p.acks = false
		}
		if p := l.hello(string(m[1])); p != nil {
			l.alive(p)
		}
	case len(m) == 3 && bytes.Equal(m[0], wordAck):
		tickets, ok := parseAck(m[2])
		if !ok {
			l.st.Malformed++
			l.log.Warn("ACK with a bad ticket list dropped", zap.Stringer("msg", m))
			return
		}
		l.ack(string(m[1]), tickets)
	case len(m) == 2 && bytes.Equal(m[0], wordBye):
		id := string(m[1])
		p := l.peers[id]
		if l.cfg.X.dispatch == DemandDriven && (p == nil || !p.ready) && len(l.early) < maxPeers {
			l.early[id] = time.Now().Add(l.cfg.Expiry())
		}
		if p != nil {
			l.forget(p)
			if l.cfg.X.dispatch == RoundRobin {
				l.left(p)
			} else {
				l.giveBack(p)
			}
		}
	case len(m) == 2 && bytes.Equal(m[0], wordHeartbeat):
		p := l.peers[string(m[1])]
		if p == nil {
			if l.cfg.X.dispatch == DemandDriven {
				return // it says READY again once it misses ours
			}
			// Round-robin, a worker we buried, or knew before a restart,
			// is back: its HEARTBEAT is its HELLO.
			if p = l.hello(string(m[1])); p == nil {
				return
			}
		}
		p.beats = true
		l.alive(p)
	case len(m) == 7 && bytes.Equal(m[0], wordResult) && len(m[5]) == 1:
		h, ok := parseHeader(m[2:5])
		if !ok {
			l.st.Malformed++
			l.log.Warn("result with a bad header dropped", zap.Stringer("msg", m))
			return
		}
		l.result(string(m[1]), h, m[5][0], m[6])
	default:
		l.st.Malformed++
		l.log.Warn("unknown message on the sink", zap.Stringer("msg", m))
	}
}

// hello counts a worker in: at its HELLO, or round-robin at a HEARTBEAT
// from one we do not know, which is its HELLO (we buried it, or knew it
// before a restart). Either way the worker is back, so the tasks that
// found no worker to take them go out now rather than at the next tick.
// It returns nil when there are too many workers.
func (l *state) hello(id string) *peer {
	p := l.peers[id]
	if p == nil {
		if p = l.newPeer(id); p == nil {
			return nil
		}
	}
	if !p.hello {
		p.hello = true
		l.hellos++
		l.noWorker = false
	}
	return p
}

// connEnded puts in doubt every task in flight that no worker has said
// ACK for, when a connection of the task PUSH has ended (round-robin): the
// PUSH discards the tasks queued for it, and a worker that left drops
// those that reached it. Which connection that was is not known, but a
// worker that says ACK for a task holds it: the tasks in doubt go out
// again only if no ACK comes for them within the grace (see doubt), so
// that tasks at workers that are well, ACKed or about to be, run once. A
// worker older than ACK says it for none, and its tasks run twice.
func (l *state) connEnded() {
	now := time.Now()
	for _, d := range l.tickets {
		if !d.lost && d.holder == nil {
			l.doubt(d, now)
		}
	}
}

// left gives back the tasks of a round-robin worker that said BYE or
// died: those it said ACK for at once, and those it may have got without
// saying ACK (all that no worker has) if no ACK comes for them within the
// grace. For a while its task connection may stay, and the PUSH deal it
// tasks it drops: those are put in doubt too (see leaving). Inproc
// reports no ended connection, so this is also what sends them again
// there.
func (l *state) left(p *peer) {
	l.giveBackIf(func(d *dispatch) bool { return d.holder == p })
	l.connEnded()
	l.leaving = time.Now().Add(2 * l.grace())
}

// grace is how long a task in doubt waits for a worker's ACK: two
// heartbeat intervals, the time a worker that is well has to take a
// message (see newSendCtx).
func (l *state) grace() time.Duration { return 2 * l.cfg.Interval }

// doubt puts a dispatch in doubt: with no ACK by the end of the grace, it
// goes out again.
func (l *state) doubt(d *dispatch, now time.Time) {
	if d.checkAt.IsZero() {
		d.checkAt = now.Add(l.grace())
		l.doubts++
	}
}

// settle accounts for a dispatch that leaves flight: answered, or given
// back.
func (l *state) settle(d *dispatch) {
	if l.cfg.X.dispatch == RoundRobin && d.holder == nil {
		l.st.Unacked--
	}
	if !d.checkAt.IsZero() {
		d.checkAt = time.Time{}
		l.doubts--
	}
}

// ack takes a round-robin worker's ACK: it holds the tasks of those
// tickets, which go out again only if it leaves. A ticket of no dispatch
// in flight (answered, given back, or made up) is ignored, as is one
// another worker said ACK for first: a ticket is known only to the one
// the PUSH dealt it to, so it cannot be made up for another's task. An
// ACK from a worker not counted in (not said HELLO, or buried) is ignored;
// it says HELLO or HEARTBEAT again.
func (l *state) ack(worker string, tickets []byte) {
	if l.cfg.X.dispatch != RoundRobin {
		l.st.Malformed++
		return
	}
	p := l.peers[worker]
	if p == nil || !p.hello {
		return
	}
	p.acks = true
	l.alive(p)
	for t := range ackTickets(tickets) {
		if d := l.tickets[t]; d != nil && !d.lost && d.holder == nil {
			l.settle(d)
			d.holder = p
		}
	}
}

// recheck sends again the tasks in doubt whose grace is over without an
// ACK (round-robin); and, while every worker says ACK, those that none has
// said ACK for within the liveness of a worker: they were dealt to a peer
// that is not a worker (it never said HELLO, or it is gone, or frozen), or
// to a connection whose end we did not hear of, and would wait for it
// forever. With a worker older than ACK they might be its, and wait.
func (l *state) recheck(now time.Time) {
	allAck := l.hellos > 0
	for _, p := range l.peers {
		if p.hello && !p.acks {
			allAck = false
			break
		}
	}
	if l.doubts == 0 && (!allAck || l.st.Unacked == 0) {
		return
	}
	late := now.Add(-l.cfg.Expiry())
	l.giveBackIf(func(d *dispatch) bool {
		return d.holder == nil && (!d.checkAt.IsZero() && now.After(d.checkAt) || allAck && d.sent.Before(late))
	})
}

// result takes a result if it answers a dispatch of ours: its ticket, batch
// id and seq, and (demand-driven) the worker it went to.
func (l *state) result(worker string, h header, status byte, data []byte) {
	if status > 1 {
		l.st.Malformed++
		l.log.Warn("result with an unknown status dropped", zap.Uint8("status", status))
		return
	}
	d := l.tickets[h.ticket]
	if d == nil || d.task.batch.handle.id != h.batch || uint64(d.task.seq) != h.seq || d.peer != nil && d.peer.id != worker {
		l.unmatched(worker, h)
		return
	}
	delete(l.tickets, h.ticket)
	if !d.lost {
		l.settle(d)
		l.st.InFlight--
		if p := d.peer; p != nil {
			// The result returns the credit.
			p.inFlight--
			l.st.Credit++
			l.enqueue(p)
		}
	}
	if p := l.peers[worker]; p != nil && (d.peer == nil || d.peer == p) {
		l.alive(p)
	}
	b := d.task.batch
	if b.done || b.answered(d.task.seq) {
		l.st.Duplicates++
		return
	}
	l.take(b, d.task.seq, status, data)
}

// unmatched counts a result that answers no dispatch of ours.
func (l *state) unmatched(worker string, h header) {
	b := l.batches[h.batch]
	switch {
	case b == nil:
		l.st.Late++
	case h.seq < uint64(b.b.Size) && b.answered(int(h.seq)):
		l.st.Duplicates++
	default:
		l.st.Forged++
		l.log.Warn("result of no dispatch of ours dropped", zap.String("worker", quoteFrame([]byte(worker))),
			zap.Uint64("batch", h.batch), zap.Uint64("seq", h.seq))
	}
}

// take records the result of a task that has none.
func (l *state) take(b *batch, seq int, status byte, data []byte) {
	b.seen[seq/64] |= 1 << (seq % 64)
	b.results++
	l.st.Results++
	r := Result{Batch: b.handle.id, Seq: seq, Data: data}
	if status != 0 {
		r.Err = fmt.Errorf("%w: %s", ErrTaskFailed, data)
		r.Data = nil
		b.sum.Failed++
		l.st.Failed++
	} else {
		b.sum.OK++
	}
	if b.b.OnResult != nil {
		b.b.OnResult(r)
	} else {
		b.sum.Results[seq] = r
	}
	l.maybeComplete(b)
}

func (l *state) maybeComplete(b *batch) {
	if !b.fedAll || b.results < b.fed {
		return
	}
	if b.sum.Results != nil && b.short {
		b.sum.Results = b.sum.Results[:b.fed]
	}
	l.end(b)
	l.st.Completed++
	b.handle.sum, b.handle.err = b.sum, b.sum.Err
	// Stats first, so that a submitter woken by Wait sees them complete.
	l.publish()
	close(b.handle.done)
}

// lose ends a batch in progress without its summary: Wait returns why.
func (l *state) lose(b *batch, why error) {
	l.end(b)
	if errors.Is(why, ErrBatchLost) {
		l.st.Lost++
	}
	b.handle.err = fmt.Errorf("%w: batch %d, %d of %d results in", why, b.handle.id, b.results, b.b.Size)
	close(b.handle.done)
}

// end forgets a batch that is complete or lost.
func (l *state) end(b *batch) {
	b.done = true
	delete(l.batches, b.handle.id)
	// Dispatches given up for lost can only bring duplicates now; those
	// still at live workers stay until answered, to return their credit.
	for t, d := range l.tickets {
		if d.lost && d.task.batch == b {
			delete(l.tickets, t)
		}
	}
}

// noWait is an ended ctx: a send within it goes out only if there is room
// at once.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// probe sends HEARTBEAT to a worker, burying it if it is gone. A worker
// that heartbeats reads ours at once (a Worker's session does, also while
// its handler runs), so it must take it within the send ctx; an older one
// reads it only between tasks, so it is not waited for: with its queue
// full, it misses this one.
func (l *state) probe(p *peer) error {
	m := socket.Msg{[]byte(p.id), wordHeartbeat}
	var err error
	if p.beats {
		err = l.sendWorker(m)
	} else {
		err = l.tasks.Send(noWait, m)
	}
	if err == nil || l.ctx.Err() != nil || !p.beats && errors.Is(err, context.Canceled) {
		return nil
	}
	return l.unreachable(p, err)
}

// heartbeat buries the workers that have been silent too long and sends
// HEARTBEAT to the others: demand-driven, to each worker that heartbeats,
// and to any other that holds tasks, so that one gone with tasks in hand is
// found by the send's failure; round-robin, on the control channel.
func (l *state) heartbeat(now time.Time) error {
	for _, p := range l.peers {
		if p.gone {
			continue
		}
		if p.beats && now.After(p.expiry) {
			l.dead(p, fmt.Errorf("silent for %v", l.cfg.Expiry()))
			continue
		}
		if l.cfg.X.dispatch == DemandDriven && p.ready && (p.beats || p.inFlight > 0) {
			if err := l.probe(p); err != nil {
				return err
			}
		}
	}
	if l.cfg.X.dispatch == RoundRobin {
		// ACK after HEARTBEAT: a worker that takes it says ACK for the
		// tasks it gets (an older one does not subscribe to it).
		for _, w := range [][]byte{wordHeartbeat, wordAck} {
			if err := l.control.Send(l.ctx, socket.Msg{w}); err != nil && l.ctx.Err() == nil {
				return fmt.Errorf("distributor: heartbeat: %w", err)
			}
		}
		l.recheck(now)
		if n := l.tasks.Stats().EventsDropped; n != l.eventsDropped {
			l.eventsDropped = n
			l.connEnded() // the end of a connection may be among them
		}
	}
	for id, until := range l.early {
		if now.After(until) {
			delete(l.early, id)
		}
	}
	return nil
}
