package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// Distributor is the guide's ventilator and sink in one object (ch. 1
// "Divide and Conquer"), so that it can tell a submitter when its batch is
// complete: Submit hands it a Batch, and the BatchHandle's Wait returns the
// batch's summary once every task has a result. Tasks carry their batch id,
// seq and a ticket to the workers (DistWorker, or any peer speaking the
// frames described in dist.go) and back with the results, so batches may
// run one after the other or at the same time. Kill publishes the guide's
// KILL on the control channel and waits for the workers to say BYE.
//
// Dispatch is demand-driven by default: each worker announces a credit
// (WithCredit on the worker), gets at most that many tasks, and returns one
// credit per task finished (ch. 7 "Transferring Files", fileio3). Tasks are
// pulled from a batch's iterator only when a worker has credit, so the
// Distributor never holds more than the workers' credit (and at most
// WithDistWindow) in flight, plus one task per batch on its way. With
// WithRoundRobin it sends on a PUSH socket instead (the guide's taskvent),
// bounded by the window alone: that is there to show, and measure, what
// round-robin costs when task durations differ.
//
// A worker that dies with tasks in hand (found by heartbeats: see dist.go
// and WithHeartbeat), says BYE, or says READY again, gives them back: they
// go out again, to workers with credit, ahead of new tasks. A task given to
// WithMaxDeliveries workers and given back by each is given up, and
// completes as failed. Of a task's results only the first counts; the
// others are counted in Stats.Duplicates and dropped. A result is taken
// only from the worker the task went to, with the ticket it went with (see
// dist.go), so a peer that reaches the results endpoint cannot complete a
// batch with made-up results. Round-robin does not know which worker holds
// a task, so when a worker dies it sends every task in flight again (the
// first result of each counts) and never gives one up; and a peer that
// stays connected without answering keeps getting its share, which the
// batch then waits for. Demand-driven, such a peer holds at most its
// credit, as a worker busy with long tasks does.
//
// Concurrency: a Distributor is safe for concurrent use. It runs a loop
// goroutine that owns the state and does the dispatching and the
// heartbeating, a reader goroutine
// per socket it receives on (results; and tasks when demand-driven), and
// one goroutine per batch that pulls its Tasks. NewDistributor starts the
// first ones and Submit the last; Close returns after all have ended. Submit
// blocks until the loop has taken the batch; Wait and Kill block until what
// they wait for happens or their ctx ends.
type Distributor struct {
	cfg       distConfig
	tasks     *socket.Socket // ROUTER (demand-driven) or PUSH (round-robin)
	results   *socket.Socket // PULL
	control   *socket.Socket // PUB
	eps       DistEndpoints
	ctx       context.Context // ends at Close
	cancel    context.CancelFunc
	done      chan struct{} // closed when the loop has ended
	feeders   sync.WaitGroup
	closeOnce sync.Once

	submit chan *distBatch
	feed   chan distTask
	fed    chan distFed

	board statsBoard[DistStats]
	mu    sync.Mutex
	err   error // why the loop ended early, if it did
}

// DistStats are a Distributor's gauges (now) and counters (since it started).
type DistStats struct {
	Workers     int // workers that said HELLO, and neither BYE nor died
	Credit      int // tasks the workers could take now (demand-driven)
	InFlight    int // tasks dispatched to a live worker without a result yet
	MaxInFlight int // the most InFlight has been
	Batches     int // batches submitted and not complete

	Dispatched uint64 // tasks sent to workers, those sent again included
	Results    uint64 // results taken (first of each task)
	Failed     uint64 // of them, failed tasks (given up ones included)
	Duplicates uint64 // second results of a task, dropped
	Late       uint64 // results of no batch in progress, dropped
	// Forged are results dropped because they name a task in progress
	// that was not dispatched to their sender with their ticket: made up,
	// or meant for another worker.
	Forged    uint64
	Malformed uint64 // messages dropped because they are not the distributor's frames
	Completed uint64 // batches complete
	Dead      uint64 // workers found dead: silent for liveness intervals, or gone
	Requeued  uint64 // tasks given back (a worker died, or said BYE or READY), to go out again
	Abandoned uint64 // tasks given up after WithMaxDeliveries deliveries (also in Results and Failed)
}

// NewDistributor binds a distributor's task, result and control endpoints
// (as socket.Bind takes them; tcp port "*" picks a free one, see Endpoints)
// and starts it. Options: WithRoundRobin, WithDistWindow, WithHeartbeat,
// WithMaxDeliveries, WithSocketOptions, WithLogger.
func NewDistributor(tasks, results, control string, opts ...Option) (*Distributor, error) {
	cfg, err := newDistConfig(opts)
	if err != nil {
		return nil, err
	}
	d := &Distributor{
		cfg:    cfg,
		done:   make(chan struct{}),
		submit: make(chan *distBatch),
		feed:   make(chan distTask),
		fed:    make(chan distFed),
	}
	mk := func(typ socket.Type, extra ...socket.Option) (*socket.Socket, error) {
		o := append([]socket.Option{socket.WithLinger(0)}, extra...)
		return socket.New(typ, append(o, cfg.sockOpts...)...)
	}
	var socks []*socket.Socket
	fail := func(err error) (*Distributor, error) {
		for _, s := range socks {
			s.Close()
		}
		return nil, fmt.Errorf("broker: distributor: %w", err)
	}
	if cfg.dispatch == RoundRobin {
		d.tasks, err = mk(socket.Push)
	} else {
		// Mandatory routing: a task for a worker that is gone fails at
		// once and goes to the next worker with credit.
		d.tasks, err = mk(socket.Router, socket.WithRouterMandatory())
	}
	if err != nil {
		return fail(err)
	}
	socks = append(socks, d.tasks)
	if d.results, err = mk(socket.Pull); err != nil {
		return fail(err)
	}
	socks = append(socks, d.results)
	if d.control, err = mk(socket.Pub); err != nil {
		return fail(err)
	}
	socks = append(socks, d.control)
	d.eps.Dispatch = cfg.dispatch
	if d.eps.Tasks, err = d.tasks.Bind(tasks); err != nil {
		return fail(err)
	}
	if d.eps.Results, err = d.results.Bind(results); err != nil {
		return fail(err)
	}
	if d.eps.Control, err = d.control.Bind(control); err != nil {
		return fail(err)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.run()
	return d, nil
}

// Endpoints returns what workers connect to, as bound, and the dispatch.
func (d *Distributor) Endpoints() DistEndpoints { return d.eps }

// Stats returns a snapshot of the distributor's gauges and counters.
func (d *Distributor) Stats() DistStats { return d.board.get() }

// Wait blocks until cond holds for the distributor's stats, or ctx ends
// (ctx.Err()), or the distributor is closed (ErrClosed). cond is called
// from the calling goroutine with no lock held.
func (d *Distributor) Wait(ctx context.Context, cond func(DistStats) bool) error {
	return d.board.wait(ctx, d.done, cond)
}

// BatchHandle is a submitted batch. Its methods are safe for concurrent use.
type BatchHandle struct {
	id   uint64
	done chan struct{} // closed when sum is set
	sum  BatchSummary
	d    *Distributor
}

// ID returns the batch id, as given or as picked by Submit.
func (h *BatchHandle) ID() uint64 { return h.id }

// Done is closed when the batch is complete.
func (h *BatchHandle) Done() <-chan struct{} { return h.done }

// Wait blocks until the batch is complete and returns its summary, with
// the summary's Err; or until ctx ends (ctx.Err()) or the distributor is
// closed (ErrClosed). The batch goes on when ctx ends.
func (h *BatchHandle) Wait(ctx context.Context) (BatchSummary, error) {
	select {
	case <-h.done:
		return h.sum, h.sum.Err
	default:
	}
	select {
	case <-h.done:
		return h.sum, h.sum.Err
	case <-h.d.done:
		return BatchSummary{}, ErrClosed
	case <-ctx.Done():
		return BatchSummary{}, ctx.Err()
	}
}

// Submit starts a batch: the distributor begins pulling b.Tasks as workers
// have credit. It blocks until the distributor's loop has taken the batch
// or ctx ends; it fails with ErrBatchSize for a Size below 1 or nil Tasks,
// ErrBatchID for the id of a batch in progress, and ErrClosed after Close.
// Batches in progress share the workers: their tasks interleave.
func (d *Distributor) Submit(ctx context.Context, b Batch) (*BatchHandle, error) {
	if b.Size < 1 || b.Tasks == nil {
		return nil, fmt.Errorf("%w: size %d", ErrBatchSize, b.Size)
	}
	bt := &distBatch{b: b, handle: &BatchHandle{id: b.ID, done: make(chan struct{}), d: d}, reply: make(chan error, 1)}
	select {
	case d.submit <- bt:
	case <-d.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The loop answers at once, without waiting for anything.
	select {
	case err := <-bt.reply:
		if err != nil {
			return nil, err
		}
	case <-d.done:
		return nil, ErrClosed
	}
	return bt.handle, nil
}

// killRepeat is how often Kill publishes KILL again while workers remain:
// PUB drops for subscribers that have not joined yet (the guide's slow
// joiner), so a worker that connected a moment ago may miss the first.
const killRepeat = 50 * time.Millisecond

// Kill tells the workers to finish (the guide's KILL, ch. 2 "Handling
// Errors and ETERM"): it publishes KILL on the control channel, again every
// 50 ms, until no worker that said HELLO is left (each says BYE as it ends,
// or is found dead), or ctx ends. A worker finishes the task in hand and
// drops those queued behind it; at its BYE they are given back, and go to
// workers that come later, so Kill belongs after the batches are complete.
// The distributor keeps running: workers that come later get tasks.
func (d *Distributor) Kill(ctx context.Context) error {
	defer d.board.watching()()
	tick := time.NewTicker(killRepeat)
	defer tick.Stop()
	for {
		if err := d.control.Send(ctx, socket.Msg{distKill}); err != nil {
			if errors.Is(err, socket.ErrClosed) {
				return ErrClosed
			}
			return fmt.Errorf("broker: kill: %w", err)
		}
		st, ch := d.board.snapshot()
		if st.Workers == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-d.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the distributor and closes its sockets; batches in progress
// do not complete (their Wait returns ErrClosed). It returns after every
// goroutine the distributor started has ended, a batch's Tasks included.
// Calls after the first return nil.
func (d *Distributor) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.done
		d.feeders.Wait()
		err = errors.Join(d.tasks.Close(), d.results.Close(), d.control.Close())
		d.mu.Lock()
		if err == nil {
			err = d.err
		}
		d.mu.Unlock()
	})
	return err
}
