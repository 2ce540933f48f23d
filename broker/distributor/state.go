package broker

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
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/socket"
)

// distBatch is a batch as the loop sees it.
type distBatch struct {
	b      Batch
	handle *BatchHandle
	reply  chan error // Submit's answer

	fed     int      // tasks pulled
	fedAll  bool     // the feeder has ended
	short   bool     // Tasks yielded fewer than Size
	done    bool     // complete
	results int      // distinct results
	seen    []uint64 // bit per seq: result taken
	sum     BatchSummary
}

// answered says whether the task at seq has its result.
func (b *distBatch) answered(seq int) bool { return b.seen[seq/64]&(1<<(seq%64)) != 0 }

// distTask is a task on its way to a worker: pulled from its batch, or
// given back.
type distTask struct {
	batch      *distBatch
	seq        int
	payload    []byte
	deliveries int // times sent
}

// distDispatch is a task sent to a worker, known by its ticket. It is kept
// until that worker answers, or until its batch is complete once the
// worker is gone.
type distDispatch struct {
	task distTask
	peer *distPeer // the worker it went to (demand-driven; nil round-robin)
	// lost: the worker died or gave it back (round-robin: some worker
	// died). It is no longer in flight and has gone out again; a result
	// of this dispatch is still taken if it comes first.
	lost bool
}

// distPeer is a worker as the loop sees it, known by the id it says HELLO
// with and, demand-driven, by its routing id (a DistWorker's are the same).
type distPeer struct {
	id       string
	hello    bool      // said HELLO: counted in Workers
	ready    bool      // said READY: takes tasks (demand-driven)
	beats    bool      // has sent HEARTBEAT: buried when silent
	queued   bool      // on the ring
	gone     bool      // dead, or said BYE
	credit   int       // announced at READY, capped at the window
	inFlight int       // tasks it holds
	expiry   time.Time // silent until then, it is dead (when beats)
}

// spare is the credit a worker has not used.
func (p *distPeer) spare() int { return max(p.credit-p.inFlight, 0) }

// maxDistPeers bounds the workers a distributor knows and the BYEs it
// remembers: each costs a record, and HELLO and BYE name any id.
const maxDistPeers = 1 << 16

// distLoop is the state the loop goroutine owns.
type distLoop struct {
	d       *Distributor
	log     *zap.Logger
	batches map[uint64]*distBatch
	nextID  uint64
	peers   map[string]*distPeer
	hellos  int         // peers that said HELLO
	ring    []*distPeer // demand-driven workers with spare credit, the longest waiting first
	tickets map[uint64]*distDispatch
	rng     *rand.ChaCha8 // tickets: unpredictable, so that a peer cannot guess one
	pending []distTask    // given back: they go out before new tasks
	// early holds workers whose BYE came before their READY, until when
	// to ignore that READY: the two travel on different sockets, so a
	// worker that never got a task can leave before its READY arrives,
	// and that READY must not give credit.
	early      map[string]time.Time
	st         DistStats
	sendCtx    context.Context
	sendCancel context.CancelFunc
}

func newDistLoop(d *Distributor) *distLoop {
	var seed [32]byte
	crand.Read(seed[:])
	return &distLoop{
		d: d, log: d.cfg.log, batches: map[uint64]*distBatch{}, nextID: 1,
		peers: map[string]*distPeer{}, tickets: map[uint64]*distDispatch{},
		rng: rand.NewChaCha8(seed), early: map[string]time.Time{},
	}
}

func (d *Distributor) run() {
	defer close(d.done)
	ctx := d.ctx
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	resultCh, taskCh := make(chan socket.Msg, 256), make(chan socket.Msg, 256)
	failed := make(chan error, 2)
	wg.Add(1)
	go func() { defer wg.Done(); readLoop(ctx, d.results, nil, resultCh, failed) }()
	if d.cfg.dispatch == DemandDriven {
		wg.Add(1)
		go func() { defer wg.Done(); readLoop(ctx, d.tasks, nil, taskCh, failed) }()
	}
	l := newDistLoop(d)
	l.newSendCtx(ctx)
	defer func() { l.sendCancel() }()
	tick := time.NewTicker(d.cfg.interval)
	defer tick.Stop()
	for {
		// Tasks are pulled only when one can go out at once: the worker
		// credit (or, round-robin, the window) is the flow control. Tasks
		// given back go first.
		var err error
		if len(l.pending) > 0 && l.canSend() {
			t := l.pending[0]
			l.pending = l.pending[1:]
			err = l.send(ctx, t)
		} else {
			feed := d.feed
			if !l.canSend() || len(l.pending) > 0 {
				feed = nil
			}
			err = l.step(ctx, feed, taskCh, resultCh, failed, tick.C)
		}
		if err != nil {
			d.mu.Lock()
			d.err = err
			d.mu.Unlock()
			l.log.Warn("distributor stopped", zap.Error(err))
			return
		}
		if ctx.Err() != nil {
			return
		}
		l.publish()
	}
}

// step waits for one thing to happen and handles it.
func (l *distLoop) step(ctx context.Context, feed <-chan distTask, taskCh, resultCh <-chan socket.Msg,
	failed <-chan error, tick <-chan time.Time) error {
	d := l.d
	select {
	case <-ctx.Done():
	case err := <-failed:
		return err
	case b := <-d.submit:
		l.add(ctx, b)
	case t := <-feed:
		t.batch.fed++
		return l.send(ctx, t)
	case f := <-d.fed:
		l.fedAll(f)
	case m := <-taskCh:
		l.fromWorker(m)
	case m := <-resultCh:
		l.fromSink(m)
	case now := <-tick:
		// What the readers hold is heard before anyone is judged silent:
		// after a stall of ours, it is the workers' heartbeats.
		for range len(taskCh) {
			l.fromWorker(<-taskCh)
		}
		for range len(resultCh) {
			l.fromSink(<-resultCh)
		}
		return l.heartbeat(ctx, now)
	}
	return nil
}

func (l *distLoop) canSend() bool {
	if l.st.InFlight >= l.d.cfg.window {
		return false
	}
	return l.d.cfg.dispatch == RoundRobin || len(l.ring) > 0
}

func (l *distLoop) publish() {
	l.st.Workers = l.hellos
	l.st.Batches = len(l.batches)
	l.d.board.publish(l.st)
}

func (l *distLoop) add(ctx context.Context, b *distBatch) {
	id := b.b.ID
	if id == 0 {
		for l.batches[l.nextID] != nil || l.nextID == 0 {
			l.nextID++
		}
		id = l.nextID
		l.nextID++
	} else if l.batches[id] != nil {
		b.reply <- fmt.Errorf("%w: %d", ErrBatchID, id)
		return
	}
	b.handle.id = id
	b.seen = make([]uint64, (b.b.Size+63)/64)
	b.sum = BatchSummary{ID: id, Size: b.b.Size}
	if b.b.OnResult == nil {
		b.sum.Results = make([]DistResult, b.b.Size)
	}
	l.batches[id] = b
	d := l.d
	d.feeders.Add(1)
	go d.feedBatch(ctx, b)
	b.reply <- nil
}

// feedBatch pulls a batch's tasks, each only once the loop takes the last.
func (d *Distributor) feedBatch(ctx context.Context, b *distBatch) {
	defer d.feeders.Done()
	n := 0
	for p := range b.b.Tasks {
		select {
		case d.feed <- distTask{batch: b, seq: n, payload: p}:
			n++
		case <-ctx.Done():
			return
		}
		if n == b.b.Size {
			break
		}
	}
	select {
	case d.fed <- distFed{b, n}:
	case <-ctx.Done():
	}
}

// distFed is a feeder's last word: its batch yielded n tasks.
type distFed struct {
	batch *distBatch
	n     int
}

// newSendCtx makes the ctx that bounds sends to workers until the next
// tick, as the load balancer's does: a worker that cannot take a message
// (mandatory routing blocks at its high-water mark) within two heartbeat
// intervals is as good as dead.
func (l *distLoop) newSendCtx(ctx context.Context) {
	if l.sendCancel != nil {
		l.sendCancel()
	}
	l.sendCtx, l.sendCancel = context.WithTimeout(ctx, 2*l.d.cfg.interval)
}

// sendWorker sends to a worker over the task ROUTER within the tick's
// send ctx, renewed if a stall of ours let it expire.
func (l *distLoop) sendWorker(ctx context.Context, m socket.Msg) error {
	if l.sendCtx.Err() != nil && ctx.Err() == nil {
		l.newSendCtx(ctx)
	}
	return l.d.tasks.Send(l.sendCtx, m)
}

// unreachable handles a failed send to a worker: the worker is dead if it
// is gone or stuck; another error is the distributor's.
func (l *distLoop) unreachable(p *distPeer, err error) error {
	if !errors.Is(err, socket.ErrHostUnreachable) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("broker: distributor: send: %w", err)
	}
	l.dead(p, err)
	return nil
}

// send dispatches a task, under a new ticket, to the worker at the head
// of the ring (demand-driven) or down the PUSH socket (round-robin). With
// no worker to take it, it goes back to the head of the pending tasks.
func (l *distLoop) send(ctx context.Context, t distTask) error {
	b := t.batch
	if b.done || b.answered(t.seq) {
		return nil // given back, then answered by the worker that had it
	}
	ticket := l.newTicket()
	msg := append(distHeader{batch: b.handle.id, seq: uint64(t.seq), ticket: ticket}.frames(), t.payload)
	if l.d.cfg.dispatch == RoundRobin {
		// PUSH blocks only with no worker connected, or all at the
		// high-water mark, which the window keeps us from.
		if err := l.d.tasks.Send(ctx, msg); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("broker: distributor: send task: %w", err)
		}
		l.dispatched(ticket, t, nil)
		return nil
	}
	for len(l.ring) > 0 {
		p := l.ring[0]
		l.ring = l.ring[1:]
		p.queued = false
		err := l.sendWorker(ctx, append(socket.Msg{[]byte(p.id)}, msg...))
		if err == nil {
			l.dispatched(ticket, t, p)
			l.enqueue(p) // at the back: workers with credit take turns
			return nil
		}
		if ctx.Err() != nil {
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
func (l *distLoop) newTicket() uint64 {
	for {
		if t := l.rng.Uint64(); l.tickets[t] == nil {
			return t
		}
	}
}

func (l *distLoop) dispatched(ticket uint64, t distTask, p *distPeer) {
	t.deliveries++
	l.tickets[ticket] = &distDispatch{task: t, peer: p}
	if p != nil {
		p.inFlight++
		l.st.Credit--
	}
	l.st.Dispatched++
	l.st.InFlight++
	l.st.MaxInFlight = max(l.st.MaxInFlight, l.st.InFlight)
}

// enqueue puts a worker with spare credit at the back of the ring.
func (l *distLoop) enqueue(p *distPeer) {
	if p.ready && !p.gone && !p.queued && p.spare() > 0 {
		p.queued = true
		l.ring = append(l.ring, p)
	}
}

// newPeer records a worker, or returns nil when there are too many.
func (l *distLoop) newPeer(id string) *distPeer {
	if len(l.peers) >= maxDistPeers {
		l.st.Malformed++
		l.log.Warn("too many workers; message dropped", zap.String("worker", quoteFrame([]byte(id))))
		return nil
	}
	p := &distPeer{id: id}
	l.peers[id] = p
	return p
}

// alive notes a sign of life from a worker.
func (l *distLoop) alive(p *distPeer) {
	p.expiry = time.Now().Add(l.d.cfg.expiry())
}

// forget drops a worker that died or said BYE; giveBack takes back its
// tasks.
func (l *distLoop) forget(p *distPeer) {
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

// dead buries a worker: silent too long, or unreachable. Demand-driven,
// the tasks it held go out again; round-robin, which does not know what
// it held, every task in flight does.
func (l *distLoop) dead(p *distPeer, why error) {
	l.st.Dead++
	l.log.Warn("worker dead", zap.String("worker", quoteFrame([]byte(p.id))), zap.Error(why))
	l.forget(p)
	if l.d.cfg.dispatch == RoundRobin {
		l.giveBack(nil)
	} else {
		l.giveBack(p)
	}
}

// giveBack takes back the tasks in flight at p (nil: all of them) and
// queues them to go out again, in batch and seq order. Their dispatches
// are kept: the first result counts, whichever worker sends it.
func (l *distLoop) giveBack(p *distPeer) {
	var back []distTask
	for _, d := range l.tickets {
		if !d.lost && d.peer == p {
			d.lost = true
			l.st.InFlight--
			back = append(back, d.task)
			d.task.payload = nil // the copy going out again has it
		}
	}
	if p != nil {
		p.inFlight = 0
	}
	slices.SortFunc(back, func(a, b distTask) int {
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
func (l *distLoop) requeue(t distTask) {
	b := t.batch
	if b.done || b.answered(t.seq) {
		return
	}
	if l.d.cfg.dispatch == DemandDriven && t.deliveries >= l.d.cfg.maxDeliveries {
		l.st.Abandoned++
		l.log.Warn("task given up", zap.Uint64("batch", b.handle.id), zap.Int("seq", t.seq), zap.Int("deliveries", t.deliveries))
		l.take(b, t.seq, 1, fmt.Appendf(nil, "given up after %d deliveries: each worker died or gave it back", t.deliveries))
		return
	}
	l.st.Requeued++
	l.pending = append(l.pending, t)
}

func (l *distLoop) fedAll(f distFed) {
	b := f.batch
	b.fedAll = true
	if f.n < b.b.Size {
		b.short = true
		b.sum.Err = fmt.Errorf("%w: %d tasks of %d", ErrBatchSize, f.n, b.b.Size)
	}
	l.maybeComplete(b)
}

// fromWorker takes READY and HEARTBEAT (demand-driven).
func (l *distLoop) fromWorker(m socket.Msg) {
	if len(m) < 2 {
		l.st.Malformed++
		return
	}
	id := string(m[0])
	p := l.peers[id]
	switch {
	case len(m) == 2 && bytes.Equal(m[1], distHeartbeat):
		// A HEARTBEAT only keeps a worker we know alive. One we do not
		// know (we buried it, or restarted) says READY again once it
		// misses ours.
		if p != nil && p.ready {
			p.beats = true
			l.alive(p)
		}
	case len(m) == 3 && bytes.Equal(m[1], distReady) && len(m[2]) == 4:
		l.ready(id, p, binary.BigEndian.Uint32(m[2]))
	default:
		l.st.Malformed++
		l.log.Warn("unknown message from worker", zap.Stringer("msg", m))
	}
}

// ready takes a worker's READY and its credit.
func (l *distLoop) ready(id string, p *distPeer, n uint32) {
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
	p.credit = int(min(uint64(n), uint64(l.d.cfg.window)))
	l.st.Credit += p.spare()
	l.alive(p)
	l.enqueue(p)
}

// fromSink takes HELLO, results, HEARTBEAT (round-robin) and BYE.
func (l *distLoop) fromSink(m socket.Msg) {
	switch {
	case len(m) == 2 && bytes.Equal(m[0], distHello):
		p := l.peers[string(m[1])]
		if p == nil {
			if p = l.newPeer(string(m[1])); p == nil {
				return
			}
		}
		if !p.hello {
			p.hello = true
			l.hellos++
		}
		l.alive(p)
	case len(m) == 2 && bytes.Equal(m[0], distBye):
		id := string(m[1])
		p := l.peers[id]
		if l.d.cfg.dispatch == DemandDriven && (p == nil || !p.ready) && len(l.early) < maxDistPeers {
			l.early[id] = time.Now().Add(l.d.cfg.expiry())
		}
		if p != nil {
			l.forget(p)
			l.giveBack(p)
		}
	case len(m) == 2 && bytes.Equal(m[0], distHeartbeat):
		p := l.peers[string(m[1])]
		if p == nil {
			if l.d.cfg.dispatch == DemandDriven {
				return // it says READY again once it misses ours
			}
			// Round-robin, a worker we buried, or knew before a restart,
			// is back: its HEARTBEAT is its HELLO.
			if p = l.newPeer(string(m[1])); p == nil {
				return
			}
			p.hello = true
			l.hellos++
		}
		p.beats = true
		l.alive(p)
	case len(m) == 7 && bytes.Equal(m[0], distResult) && len(m[5]) == 1:
		h, ok := parseDistHeader(m[2:5])
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

// result takes a result if it answers a dispatch of ours: its ticket, batch
// id and seq, and (demand-driven) the worker it went to.
func (l *distLoop) result(worker string, h distHeader, status byte, data []byte) {
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
func (l *distLoop) unmatched(worker string, h distHeader) {
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
func (l *distLoop) take(b *distBatch, seq int, status byte, data []byte) {
	b.seen[seq/64] |= 1 << (seq % 64)
	b.results++
	l.st.Results++
	r := DistResult{Batch: b.handle.id, Seq: seq, Data: data}
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

func (l *distLoop) maybeComplete(b *distBatch) {
	if !b.fedAll || b.results < b.fed {
		return
	}
	if b.sum.Results != nil && b.short {
		b.sum.Results = b.sum.Results[:b.fed]
	}
	b.done = true
	delete(l.batches, b.handle.id)
	// Dispatches given up for lost can only bring duplicates now; those
	// still at live workers stay until answered, to return their credit.
	for t, d := range l.tickets {
		if d.lost && d.task.batch == b {
			delete(l.tickets, t)
		}
	}
	l.st.Completed++
	b.handle.sum = b.sum
	// Stats first, so that a submitter woken by Wait sees them complete.
	l.publish()
	close(b.handle.done)
}

// distNoWait is an ended ctx: a send within it goes out only if there is
// room at once.
var distNoWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// probe sends HEARTBEAT to a worker, burying it if it is gone. A worker
// that heartbeats reads ours at once (a DistWorker has a reader for them),
// so it must take it within the send ctx; an older one reads it only
// between tasks, so it is not waited for: with its queue full, it misses
// this one.
func (l *distLoop) probe(ctx context.Context, p *distPeer) error {
	m := socket.Msg{[]byte(p.id), distHeartbeat}
	var err error
	if p.beats {
		err = l.sendWorker(ctx, m)
	} else {
		err = l.d.tasks.Send(distNoWait, m)
	}
	if err == nil || ctx.Err() != nil || !p.beats && errors.Is(err, context.Canceled) {
		return nil
	}
	return l.unreachable(p, err)
}

// heartbeat buries the workers that have been silent too long and sends
// HEARTBEAT to the others: demand-driven, to each worker that heartbeats,
// and to any other that holds tasks, so that one gone with tasks in hand is
// found by the send's failure; round-robin, on the control channel.
func (l *distLoop) heartbeat(ctx context.Context, now time.Time) error {
	l.newSendCtx(ctx)
	for _, p := range l.peers {
		if p.gone {
			continue
		}
		if p.beats && now.After(p.expiry) {
			l.dead(p, fmt.Errorf("silent for %v", l.d.cfg.expiry()))
			continue
		}
		if l.d.cfg.dispatch == DemandDriven && p.ready && (p.beats || p.inFlight > 0) {
			if err := l.probe(ctx, p); err != nil {
				return err
			}
		}
	}
	if l.d.cfg.dispatch == RoundRobin {
		if err := l.d.control.Send(ctx, socket.Msg{distHeartbeat}); err != nil && ctx.Err() == nil {
			return fmt.Errorf("broker: distributor: heartbeat: %w", err)
		}
	}
	for id, until := range l.early {
		if now.After(until) {
			delete(l.early, id)
		}
	}
	return nil
}
