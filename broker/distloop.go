package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/socket"
)

// distBatch is a batch as the loop sees it.
type distBatch struct {
	b      Batch
	handle *BatchHandle
	reply  chan error // Submit's answer

	fed     int      // tasks pulled and dispatched
	fedAll  bool     // the feeder has ended
	short   bool     // Tasks yielded fewer than Size
	results int      // distinct results
	seen    []uint64 // bit per seq: result taken
	sum     BatchSummary
}

// distTask is a task on its way from a feeder to the loop.
type distTask struct {
	batch   *distBatch
	seq     int
	payload []byte
}

// distFed is a feeder's last word: its batch yielded n tasks.
type distFed struct {
	batch *distBatch
	n     int
}

// distPeer is a demand-driven worker as the loop sees it.
type distPeer struct {
	credit   int // announced at READY
	tokens   int // of it, not in use
	inFlight int
}

// distLoop is the state the loop goroutine owns.
type distLoop struct {
	d       *Distributor
	log     *zap.Logger
	batches map[uint64]*distBatch
	nextID  uint64
	peers   map[string]*distPeer
	tokens  []string // one entry per credit, oldest first (demand-driven)
	credit  int      // credit of all peers together
	hellos  map[string]bool
	// early holds workers whose BYE came before their READY: the two
	// travel on different sockets, so a worker that never got a task can
	// leave before its READY arrives, and that READY must not give credit.
	early map[string]bool
	held  *distTask // pulled, not yet sent: the worker it was for was gone
	st    DistStats
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
	l := &distLoop{
		d: d, log: d.cfg.log, batches: map[uint64]*distBatch{}, nextID: 1,
		peers: map[string]*distPeer{}, hellos: map[string]bool{}, early: map[string]bool{},
	}
	for {
		// Tasks are pulled only when one can go out at once: the worker
		// credit (or, round-robin, the window) is the flow control.
		feed := d.feed
		if !l.canSend() || l.held != nil {
			feed = nil
		}
		var err error
		if l.held != nil && l.canSend() {
			t := *l.held
			l.held = nil
			err = l.send(ctx, t)
		} else {
			err = l.step(ctx, feed, taskCh, resultCh, failed)
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
func (l *distLoop) step(ctx context.Context, feed <-chan distTask, taskCh, resultCh <-chan socket.Msg, failed <-chan error) error {
	d := l.d
	select {
	case <-ctx.Done():
	case err := <-failed:
		return err
	case b := <-d.submit:
		l.add(ctx, b)
	case t := <-feed:
		return l.send(ctx, t)
	case f := <-d.fed:
		l.fedAll(f)
	case m := <-taskCh:
		l.fromWorker(m)
	case m := <-resultCh:
		l.fromSink(m)
	}
	return nil
}

func (l *distLoop) canSend() bool {
	if l.st.InFlight >= l.d.cfg.window {
		return false
	}
	if l.d.cfg.dispatch == RoundRobin {
		return true
	}
	// The tokens bound each worker; the sum bounds them all (tokens of
	// workers that left are dropped only when they come up).
	return len(l.tokens) > 0 && l.st.InFlight < l.credit
}

func (l *distLoop) publish() {
	l.st.Workers = len(l.hellos)
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

func (l *distLoop) send(ctx context.Context, t distTask) error {
	b := t.batch
	h := distHeader{batch: b.handle.id, seq: uint64(t.seq), size: uint64(b.b.Size)}
	msg := append(h.frames(), t.payload)
	if l.d.cfg.dispatch == RoundRobin {
		// PUSH blocks only with no worker connected, or all at the
		// high-water mark, which the window keeps us from.
		if err := l.d.tasks.Send(ctx, msg); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("broker: distributor: send task: %w", err)
		}
		l.dispatched(b)
		return nil
	}
	for len(l.tokens) > 0 {
		id := l.tokens[0]
		l.tokens = l.tokens[1:]
		p := l.peers[id]
		if p == nil {
			continue // a token of a worker that left
		}
		p.tokens--
		l.st.Credit--
		err := l.d.tasks.Send(ctx, append(socket.Msg{[]byte(id)}, msg...))
		if err == nil {
			p.inFlight++
			l.dispatched(b)
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, socket.ErrHostUnreachable) {
			return fmt.Errorf("broker: distributor: send task: %w", err)
		}
		// The worker is gone: forget it and try the next.
		l.log.Debug("worker gone", zap.Binary("worker", []byte(id)), zap.Error(err))
		l.dropPeer(id)
	}
	l.held = &t
	return nil
}

func (l *distLoop) dispatched(b *distBatch) {
	b.fed++
	l.st.Dispatched++
	l.st.InFlight++
	l.st.MaxInFlight = max(l.st.MaxInFlight, l.st.InFlight)
}

func (l *distLoop) dropPeer(id string) {
	if p := l.peers[id]; p != nil {
		l.credit -= p.credit
		l.st.Credit -= p.tokens
		delete(l.peers, id)
	}
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

// fromWorker takes READY (demand-driven).
func (l *distLoop) fromWorker(m socket.Msg) {
	if len(m) < 2 {
		l.st.Malformed++
		return
	}
	id := string(m[0])
	switch {
	case bytes.Equal(m[1], distReady) && len(m) == 3 && len(m[2]) == 4:
		n := binary.BigEndian.Uint32(m[2])
		if l.early[id] {
			delete(l.early, id) // it has left already
			return
		}
		// A credit is a token each: no more than WithCredit allows, or a
		// peer's four bytes would cost us gigabytes.
		if n < 1 || n > maxDistCredit || l.peers[id] != nil {
			l.st.Malformed++
			return
		}
		l.peers[id] = &distPeer{credit: int(n), tokens: int(n)}
		l.credit += int(n)
		l.st.Credit += int(n)
		for range n {
			l.tokens = append(l.tokens, id)
		}
	default:
		l.st.Malformed++
		l.log.Warn("unknown message from worker", zap.Stringer("msg", m))
	}
}

// fromSink takes HELLO, results and BYE.
func (l *distLoop) fromSink(m socket.Msg) {
	switch {
	case len(m) == 2 && bytes.Equal(m[0], distHello):
		l.hellos[string(m[1])] = true
	case len(m) == 2 && bytes.Equal(m[0], distBye):
		delete(l.hellos, string(m[1]))
		if l.peers[string(m[1])] == nil && l.d.cfg.dispatch == DemandDriven {
			l.early[string(m[1])] = true
		}
		l.dropPeer(string(m[1]))
	case len(m) == 7 && bytes.Equal(m[0], distResult) && len(m[5]) == 1:
		h, ok := parseDistHeader(m[2:5])
		if !ok {
			l.st.Malformed++
			return
		}
		l.credited(string(m[1]))
		l.result(h, m[5][0], m[6])
	default:
		l.st.Malformed++
		l.log.Warn("unknown message on the sink", zap.Stringer("msg", m))
	}
}

// credited returns a credit to a demand-driven worker: its result is in.
func (l *distLoop) credited(id string) {
	p := l.peers[id]
	if p == nil || p.tokens >= p.credit {
		return // round-robin, or a worker that left
	}
	p.tokens++
	l.st.Credit++
	p.inFlight--
	l.tokens = append(l.tokens, id)
}

func (l *distLoop) result(h distHeader, status byte, data []byte) {
	b := l.batches[h.batch]
	if b == nil || h.size != uint64(b.b.Size) || h.seq >= uint64(b.b.Size) {
		l.st.Late++
		return
	}
	w, bit := h.seq/64, uint64(1)<<(h.seq%64)
	if b.seen[w]&bit != 0 {
		l.st.Duplicates++
		return
	}
	b.seen[w] |= bit
	b.results++
	l.st.InFlight--
	l.st.Results++
	r := DistResult{Batch: h.batch, Seq: int(h.seq), Data: data}
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
		b.sum.Results[h.seq] = r
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
	delete(l.batches, b.handle.id)
	l.st.Completed++
	b.handle.sum = b.sum
	// Stats first, so that a submitter woken by Wait sees them complete.
	l.publish()
	close(b.handle.done)
}
