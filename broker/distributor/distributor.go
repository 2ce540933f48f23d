package distributor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// Distributor is the guide's ventilator and sink in one object (ch. 1
// "Divide and Conquer"), so that it can tell a submitter when its batch is
// complete: Submit hands it a Batch, and the BatchHandle's Wait returns the
// batch's summary once every task has a result. Tasks carry their batch id,
// seq and a ticket to the workers (Worker, or any peer speaking the frames
// described in protocol.go) and back with the results, so batches may run
// one after the other or at the same time. Kill publishes the guide's KILL
// on the control channel and waits for the workers to say BYE.
//
// Dispatch is demand-driven by default: each worker announces a credit
// (WithCredit on the worker), gets at most that many tasks, and returns one
// credit per task finished (ch. 7 "Transferring Files", fileio3). Tasks are
// pulled from a batch's iterator only when a worker has credit, so the
// Distributor never holds more than the workers' credit (and at most
// WithWindow) in flight, plus one task per batch on its way. With
// WithRoundRobin it sends on a PUSH socket instead (the guide's taskvent),
// bounded by the window alone: that is there to show, and measure, what
// round-robin costs when task durations differ.
//
// A worker that dies with tasks in hand (found by heartbeats: see
// protocol.go and WithHeartbeat), says BYE, or says READY again, gives them
// back: they go out again, to workers with credit, ahead of new tasks. A
// task given to WithMaxDeliveries workers and given back by each is given
// up, and completes as failed. Of a task's results only the first counts;
// the others are counted in Stats.Duplicates and dropped. A result is taken
// only from the worker the task went to, with the ticket it went with (see
// protocol.go), so a peer that reaches the results endpoint cannot complete
// a batch with made-up results. Round-robin, the PUSH does not say which
// worker it dealt a task to, so each Worker says ACK for the tasks it gets
// (see protocol.go). When a worker says BYE or dies, the tasks it said ACK
// for go out again; when a connection to the task endpoint ends (or a
// worker leaves), so do those that no worker says ACK for within two
// heartbeat intervals; and while every worker says ACK, so does a task
// that none has said ACK for within the liveness intervals, ended
// connection or not (it is at a peer that is not a worker). The tasks that
// workers that are well hold run once. The first result of each task
// counts, and round-robin never gives one up. A worker older than ACK says
// none, so its tasks go out again at every such end, and run twice: the
// second results are counted in Stats.Duplicates, and the copies it still
// holds no longer count against WithWindow; and while it is there, a peer
// that stays connected without answering (and, on inproc, one that went
// without a word) keeps what it was dealt, which the batch then waits for.
// Demand-driven, such a peer holds at most its credit, as a worker busy
// with long tasks does.
//
// The distributor is one actor, "distributor", under a supervisor: its
// mailbox is fed by its result socket, its task socket (demand-driven: the
// workers' READY and HEARTBEAT; round-robin: the ends of its connections), a
// clock that ticks every heartbeat interval, the API's Submit and Kill, and
// the batches' pullers; its behaviour holds all the state and does all the
// sending. If the behaviour panics, the supervisor restarts it with fresh
// state on the same sockets and mailbox (at most 3 times in 5 seconds; then
// the distributor fails, see Err). A restart loses the batches in progress
// (their Wait returns ErrBatchLost: submit them again), the workers and
// their credit, and the tasks in flight; the counters of Stats go on. The
// workers recover by themselves: the new incarnation does not know them and
// sends them no heartbeats, so a Worker finds it silent after its liveness
// and says HELLO and READY again; results of the old incarnation's tasks are
// dropped as Late.
//
// Concurrency: a Distributor is safe for concurrent use. Its goroutines
// (the actor's, its supervisor's, its feeds' but the first's, which the
// actor reads itself, and one per batch in progress that pulls the
// batch's Tasks) start in New and Submit and end by
// Close, which returns after they have ended and the sockets are closed.
// Submit blocks until the distributor has taken the batch; Wait and Kill
// block until what they wait for happens or their ctx ends.
type Distributor struct {
	g     *run.Group
	ref   actor.Ref[msg]
	eps   Endpoints
	board board.Board[Stats]
	// closing is set by Close before it stops the actor, so that the
	// batches its last Stop ends say ErrClosed rather than ErrBatchLost.
	closing atomic.Bool
	// nextID is the actor's, kept across its restarts (see state).
	nextID uint64
}

// Stats are a Distributor's gauges (now) and counters (since it started).
type Stats struct {
	Workers     int // workers that said HELLO, and neither BYE nor died
	Credit      int // tasks the workers could take now (demand-driven)
	InFlight    int // tasks dispatched to a live worker without a result yet
	Unacked     int // of InFlight, tasks no worker has said ACK for (round-robin; see protocol.go)
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
	Lost      uint64 // batches lost in a restart of the actor (ErrBatchLost)
}

// New binds a distributor's task, result and control endpoints (as
// socket.Bind takes them, tcp port "*" picking a free one, see Endpoints;
// one written with a leading '>' is connected instead) and starts it.
// Options: WithRoundRobin, WithWindow, WithHeartbeat, WithMaxDeliveries,
// WithSocketOptions, WithLogger, WithObserver.
func New(tasks, results, control string, opts ...Option) (*Distributor, error) {
	cfg, err := build(forDistributor, "New", opts)
	if err != nil {
		return nil, err
	}
	var socks []*socket.Socket
	open := func(typ socket.Type, ep string, extra ...socket.Option) (*socket.Socket, string, error) {
		o := append(append([]socket.Option{socket.WithLinger(0)}, extra...), cfg.SockOpts...)
		s, ep, err := run.Open(typ, ep, o)
		if err == nil {
			socks = append(socks, s)
		}
		return s, ep, err
	}
	fail := func(err error) (*Distributor, error) {
		run.CloseAll(socks)
		return nil, fmt.Errorf("distributor: %w", err)
	}
	d := &Distributor{}
	d.eps.Dispatch = cfg.X.dispatch
	var taskSock, resultSock, controlSock *socket.Socket
	if cfg.X.dispatch == RoundRobin {
		taskSock, d.eps.Tasks, err = open(socket.Push, tasks)
	} else {
		// Mandatory routing: a task for a worker that is gone fails at
		// once and goes to the next worker with credit.
		taskSock, d.eps.Tasks, err = open(socket.Router, tasks, socket.WithRouterMandatory())
	}
	if err != nil {
		return fail(err)
	}
	if resultSock, d.eps.Results, err = open(socket.Pull, results); err != nil {
		return fail(err)
	}
	if controlSock, d.eps.Control, err = open(socket.Pub, control); err != nil {
		return fail(err)
	}
	if cfg.Observer != nil {
		d.board.Report(cfg.Observer, "distributor")
	}
	feeds := []actor.Option{
		actor.WithFeed(patterns.Feed(resultSock, func(m socket.Msg) msg { return fromResults(m) }, nil)),
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) msg { return tick(t) })),
	}
	if cfg.X.dispatch == DemandDriven {
		feeds = append(feeds, actor.WithFeed(patterns.Feed(taskSock, func(m socket.Msg) msg { return fromTasks(m) }, nil)))
	} else {
		feeds = append(feeds, actor.WithFeed[msg](disconnects{taskSock.Monitor()}))
	}
	var child *actor.Child[msg]
	child = actor.NewChild("distributor", func() actor.Behavior[msg] {
		l := newState(&cfg, &d.board)
		l.tasks, l.results, l.control = taskSock, resultSock, controlSock
		l.self, l.closing, l.dist, l.nextID = child.Ref(), &d.closing, d, &d.nextID
		return l
	}, feeds...)
	d.ref = child.Ref()
	d.g, err = run.Start(context.Background(), "distributor supervisor", socks, []actor.ChildSpec{child}, cfg.Supervision()...)
	if err != nil {
		return nil, fmt.Errorf("distributor: %w", err)
	}
	return d, nil
}

// Endpoints returns what workers connect to, as bound, and the dispatch.
func (d *Distributor) Endpoints() Endpoints { return d.eps }

// Stats returns a snapshot of the distributor's gauges and counters, as of
// the last message its actor handled.
func (d *Distributor) Stats() Stats { return d.board.Get() }

// Wait blocks until cond holds for the distributor's stats, or ctx ends
// (ctx.Err()), or the distributor is closed or failed (ErrClosed); stats
// that met cond by then are reported (nil), even when they came with the
// end. cond is called with no lock held, from the calling goroutine only.
func (d *Distributor) Wait(ctx context.Context, cond func(Stats) bool) error {
	return d.board.Wait(ctx, d.g.Done(), ErrClosed, cond)
}

// Done is closed when the distributor has ended: closed, or failed for
// good (a socket failed, or its behaviour kept failing), when Err says why.
func (d *Distributor) Done() <-chan struct{} { return d.g.Done() }

// Err is nil while the distributor runs and after Close; otherwise why it
// failed, wrapping ErrClosed.
func (d *Distributor) Err() error {
	if err := d.g.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// BatchHandle is a submitted batch. Its methods are safe for concurrent use.
type BatchHandle struct {
	id   uint64
	done chan struct{} // closed when sum and err are set
	sum  BatchSummary
	err  error
	d    *Distributor
}

// ID returns the batch id, as given or as picked by Submit.
func (h *BatchHandle) ID() uint64 { return h.id }

// Done is closed when the batch has ended: complete, or lost in a restart
// or at Close (see Wait).
func (h *BatchHandle) Done() <-chan struct{} { return h.done }

// Wait blocks until the batch is complete and returns its summary, with
// the summary's Err; or until ctx ends (ctx.Err()). A batch that was in
// progress when the distributor's actor failed (restarted, or given up by
// its supervisor) returns ErrBatchLost, and one in progress at Close
// ErrClosed. The batch goes on when ctx ends.
func (h *BatchHandle) Wait(ctx context.Context) (BatchSummary, error) {
	select {
	case <-h.done:
		return h.sum, h.err
	default:
	}
	select {
	case <-h.done:
		return h.sum, h.err
	case <-h.d.g.Done():
		return BatchSummary{}, ErrClosed
	case <-ctx.Done():
		return BatchSummary{}, ctx.Err()
	}
}

// Submit starts a batch: the distributor begins pulling b.Tasks as workers
// have credit. ctx bounds the wait for room in the distributor's mailbox;
// once the batch is there, Submit waits for the distributor's answer, which
// comes as soon as it handles the batch (before any task goes out). It
// fails with ErrBatchSize for a Size below 1 or nil Tasks, ErrBatchID for
// the id of a batch in progress, and ErrClosed after Close. Batches in
// progress share the workers: their tasks interleave.
func (d *Distributor) Submit(ctx context.Context, b Batch) (*BatchHandle, error) {
	if b.Size < 1 || b.Tasks == nil {
		return nil, fmt.Errorf("%w: size %d", ErrBatchSize, b.Size)
	}
	type answer struct {
		h   *BatchHandle
		err error
	}
	// Not an Ask: a batch the distributor took must not run without its
	// handle because the submitter's ctx ended meanwhile. The Request is
	// answered once, by the distributor or, when it will not be, by the
	// actor package.
	answered := make(chan answer, 1)
	req := actor.NewRequest(b, func(h *BatchHandle, err error) { answered <- answer{h, err} })
	if err := d.ref.Tell(ctx, submit{req}); err != nil {
		if errors.Is(err, actor.ErrStopped) {
			return nil, ErrClosed
		}
		return nil, ctx.Err()
	}
	select {
	case a := <-answered:
		switch {
		case a.err == nil:
			return a.h, nil
		case errors.Is(a.err, actor.ErrStopped), errors.Is(a.err, actor.ErrDropped):
			return nil, ErrClosed
		case errors.Is(a.err, actor.ErrNoReply):
			// The actor failed on it (a bug) and is restarted.
			return nil, fmt.Errorf("distributor: submit: %w", a.err)
		}
		return nil, a.err // the distributor's answer
	case <-d.g.Done():
		return nil, ErrClosed
	}
}

// killRepeat is how often Kill publishes KILL again while workers remain:
// PUB drops for subscribers that have not joined yet (the guide's slow
// joiner), so a worker that connected a moment ago may miss the first.
const killRepeat = 50 * time.Millisecond

// Kill tells the workers to finish (the guide's KILL, ch. 2 "Handling
// Errors and ETERM"): it has the distributor publish KILL on the control
// channel, again every 50 ms, until no worker that said HELLO is left (each
// says BYE as it ends, or is found dead), or ctx ends. A worker finishes
// the task in hand and drops those queued behind it; at its BYE they are
// given back, and go to workers that come later, so Kill belongs after the
// batches are complete. The distributor keeps running: workers that come
// later get tasks.
func (d *Distributor) Kill(ctx context.Context) error {
	for {
		_, err := actor.AskWith(ctx, d.ref, struct{}{}, func(r actor.Request[struct{}, struct{}]) msg { return kill{r} })
		switch {
		case err == nil:
		case errors.Is(err, actor.ErrStopped):
			return ErrClosed
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, killRepeat)
		err = d.board.Wait(wctx, d.g.Done(), ErrClosed, func(s Stats) bool { return s.Workers == 0 })
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrClosed):
			return ErrClosed
		case ctx.Err() != nil:
			return ctx.Err()
		}
	}
}

// Close stops the distributor and closes its sockets; batches in progress
// do not complete (their Wait returns ErrClosed). It returns after every
// goroutine the distributor started has ended, a batch's Tasks included,
// with the failure that ended the distributor early, if one did. Calls
// after the first return nil.
func (d *Distributor) Close() error {
	d.closing.Store(true)
	err := d.g.Close()
	d.board.Retire()
	return err
}

// disconnects tells the distributor's actor when a connection of the task
// PUSH has ended (round-robin): the tasks dealt to it may be lost (those no
// worker said ACK for are in doubt), and from then on the PUSH cannot deal
// it more.
type disconnects struct{ events <-chan socket.Event }

func (f disconnects) Run(ctx context.Context, in actor.Inlet[msg]) error {
	for {
		select {
		case e, ok := <-f.events:
			if !ok {
				return nil
			}
			if e.Kind == socket.EventDisconnected && in.Put(taskConnEnded{}) != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (disconnects) Close() error { return nil }
