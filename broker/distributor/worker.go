package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// DistHandler does one task: it gets the task's payload and returns its
// result. A DistWorker calls it from one goroutine, one task at a time, and
// cancels ctx when the worker is closed. The task bytes belong to the
// handler; the result belongs to the worker once returned. An error or a
// panic is sent back as the task's failure (ErrTaskFailed with the error
// text); the task is not retried.
type DistHandler func(ctx context.Context, task []byte) ([]byte, error)

// DistWorker is the guide's task worker (ch. 1 taskwork, ch. 2 taskwork2)
// for a Distributor: it takes tasks from the distributor's task endpoint,
// runs its handler on each, pushes the result to the sink, and ends when
// the control channel says KILL. Demand-driven, it connects a DEALER, says
// READY with its credit (WithCredit, DefaultCredit), and each result it
// sends returns one credit; round-robin, it connects a PULL and takes what comes.
//
// On KILL the worker finishes the task in hand, says BYE to the sink,
// closes its sockets and ends (Done is closed); tasks queued behind the one
// in hand are dropped, as in the guide (the distributor gives them to
// other workers).
//
// Heartbeats (WithHeartbeat; see dist.go): the worker sends one HEARTBEAT
// after READY, and one every interval, also while its handler runs, once it
// has heard the distributor's; a distributor older than heartbeats sends
// none, and the worker then speaks the old protocol. When a distributor it
// has heard falls silent for liveness intervals, the distributor has
// forgotten it (it restarted, or buried the
// worker after a stall or a partition): the worker says HELLO and READY
// again, on the same sockets.
//
// Concurrency: a DistWorker is safe for concurrent use. NewDistWorker starts
// its goroutines (the main loop, which runs the handler on each task, a
// reader for the task socket, one for the control channel, and the
// heartbeat's); they end after
// KILL or at Close, which cancels the handler's ctx and returns after all
// have ended. Close waits up to 1 s for results still queued to go out
// (socket linger).
type DistWorker struct {
	cfg       distConfig
	eps       DistEndpoints
	h         DistHandler
	id        []byte
	tasks     *socket.Socket // DEALER (demand-driven) or PULL (round-robin)
	results   *socket.Socket // PUSH
	control   *socket.Socket // SUB
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	hb    distBeat
	mu    sync.Mutex
	stats DistWorkerStats
	err   error
}

// DistWorkerStats are a DistWorker's counters.
type DistWorkerStats struct {
	Handled   uint64 // tasks whose result was sent, failed ones included
	Failed    uint64 // of them, handler errors and panics
	Malformed uint64 // messages that were not tasks, dropped
	Killed    bool   // the worker ended on KILL
	// Reregistered counts the times the distributor fell silent and the
	// worker said HELLO and READY again.
	Reregistered uint64
	// LastHeard is when the distributor last sent HEARTBEAT or a task;
	// zero while it has sent no HEARTBEAT (an older distributor).
	LastHeard time.Time
}

// distResultLinger is how long a DistWorker's Close waits for results on
// their way to the sink.
const distResultLinger = time.Second

// NewDistWorker connects a worker to a distributor's endpoints and starts
// it. Options: WithCredit, WithHeartbeat, WithSocketOptions, WithLogger.
func NewDistWorker(eps DistEndpoints, h DistHandler, opts ...Option) (*DistWorker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrBadOption)
	}
	cfg, err := newDistConfig(opts)
	if err != nil {
		return nil, err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	w := &DistWorker{cfg: cfg, eps: eps, h: h, id: []byte("w" + hex.EncodeToString(rnd[:])), done: make(chan struct{})}
	var socks []*socket.Socket
	fail := func(err error) (*DistWorker, error) {
		for _, s := range socks {
			s.Close()
		}
		return nil, fmt.Errorf("broker: dist worker: %w", err)
	}
	mk := func(typ socket.Type, extra ...socket.Option) (*socket.Socket, error) {
		s, err := socket.New(typ, append(extra, cfg.sockOpts...)...)
		if err == nil {
			socks = append(socks, s)
		}
		return s, err
	}
	if eps.Dispatch == RoundRobin {
		w.tasks, err = mk(socket.Pull, socket.WithLinger(0))
	} else {
		w.tasks, err = mk(socket.Dealer, socket.WithLinger(0), socket.WithIdentity(w.id))
	}
	if err != nil {
		return fail(err)
	}
	if w.results, err = mk(socket.Push, socket.WithLinger(distResultLinger)); err != nil {
		return fail(err)
	}
	if w.control, err = mk(socket.Sub, socket.WithLinger(0)); err != nil {
		return fail(err)
	}
	if err := w.control.Subscribe(distKill); err != nil {
		return fail(err)
	}
	if eps.Dispatch == RoundRobin {
		if err := w.control.Subscribe(distHeartbeat); err != nil {
			return fail(err)
		}
	}
	events := w.tasks.Monitor()
	for _, c := range []struct {
		s  *socket.Socket
		ep string
	}{{w.control, eps.Control}, {w.results, eps.Results}, {w.tasks, eps.Tasks}} {
		if err := c.s.Connect(c.ep); err != nil {
			return fail(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx, events)
	return w, nil
}

// ID returns the worker's id, as it says HELLO and BYE.
func (w *DistWorker) ID() string { return string(w.id) }

// Done is closed when the worker has ended: after KILL, or Close.
func (w *DistWorker) Done() <-chan struct{} { return w.done }

// Stats returns a snapshot of the worker's counters.
func (w *DistWorker) Stats() DistWorkerStats {
	w.mu.Lock()
	s := w.stats
	w.mu.Unlock()
	if n := w.hb.heard.Load(); n != 0 {
		s.LastHeard = time.Unix(0, n)
	}
	return s
}

// Close stops the worker (cancelling its handler's ctx) and closes its
// sockets. It returns after the worker's goroutines have ended, with the
// error that ended the worker early, if any. Calls after the first return
// nil.
func (w *DistWorker) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
		w.mu.Lock()
		err = w.err
		w.mu.Unlock()
	})
	return err
}

func (w *DistWorker) run(ctx context.Context, events <-chan socket.Event) {
	defer close(w.done)
	var wg sync.WaitGroup
	rctx, stopReaders := context.WithCancel(ctx)
	defer func() {
		stopReaders()
		wg.Wait()
		w.tasks.Close()
		w.control.Close()
		w.results.Close()
	}()
	fail := func(err error) {
		if ctx.Err() == nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			w.cfg.log.Warn("dist worker stopped", zap.Error(err))
		}
	}

	// HELLO once the task socket is connected, so that a distributor that
	// counts its workers before a round-robin batch sees them all on its
	// PUSH socket.
	for connected := false; !connected; {
		select {
		case e, ok := <-events:
			connected = !ok || e.Kind == socket.EventHandshakeOK
		case <-ctx.Done():
			return
		}
	}
	if err := w.register(ctx); err != nil {
		fail(err)
		return
	}

	// The control reader turns KILL into the end of killCtx. The task
	// reader passes tasks on and takes the distributor's heartbeats at
	// once, also while the handler runs: unread, they would fill our
	// queue, and the distributor would find us stuck. It blocks when the
	// tasks queued reach the credit, which a distributor never sends
	// more than (a READY again aside).
	killCtx, kill := context.WithCancel(ctx)
	defer kill()
	hb := &w.hb
	failed := make(chan error, 2)
	tasks := make(chan socket.Msg, min(w.cfg.credit, DefaultDistWindow))
	beatDone := make(chan struct{})
	wg.Add(3)
	go func() {
		defer wg.Done()
		defer kill()
		for {
			m, err := w.control.Recv(rctx)
			if err != nil {
				if rctx.Err() == nil {
					failed <- fmt.Errorf("broker: dist worker: control: %w", err)
				}
				return
			}
			if len(m) == 1 && bytes.Equal(m[0], distKill) {
				return
			}
			if len(m) == 1 && bytes.Equal(m[0], distHeartbeat) {
				hb.heard.Store(time.Now().UnixNano())
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			m, err := w.tasks.Recv(killCtx)
			if err != nil {
				if killCtx.Err() == nil {
					failed <- fmt.Errorf("broker: dist worker: receive: %w", err)
				}
				return
			}
			if len(m) == 1 && bytes.Equal(m[0], distHeartbeat) {
				hb.heard.Store(time.Now().UnixNano())
				continue
			}
			if hb.heard.Load() != 0 {
				hb.heard.Store(time.Now().UnixNano()) // a task is a sign of life too
			}
			select {
			case tasks <- m:
			case <-killCtx.Done():
				return
			}
		}
	}()
	go func() { defer wg.Done(); defer close(beatDone); w.beat(killCtx, hb) }()
	for {
		var m socket.Msg
		select {
		case m = <-tasks:
		case <-killCtx.Done():
		case err := <-failed:
			fail(err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case err := <-failed: // the control reader's failure ends killCtx too
			fail(err)
			return
		default:
		}
		if killCtx.Err() != nil { // KILL wins over a task that came with it
			// No HEARTBEAT or HELLO after BYE: it would bring us back.
			<-beatDone
			w.bye(ctx, fail)
			return
		}
		if err := w.task(ctx, m); err != nil {
			fail(err)
			return
		}
	}
}

// distBeat is what a DistWorker's readers tell its heartbeat of the
// distributor.
type distBeat struct {
	heard atomic.Int64 // the distributor's last HEARTBEAT or task; 0: it never sent HEARTBEAT
}

// register says HELLO and (demand-driven) READY, then HEARTBEAT, which
// tells a distributor with heartbeats that this worker has them too.
func (w *DistWorker) register(ctx context.Context) error {
	if err := w.results.Send(ctx, socket.Msg{distHello, w.id}); err != nil {
		return fmt.Errorf("broker: dist worker: hello: %w", err)
	}
	if w.eps.Dispatch == DemandDriven {
		if err := w.tasks.Send(ctx, socket.Msg{distReady, binary.BigEndian.AppendUint32(nil, uint32(w.cfg.credit))}); err != nil {
			return fmt.Errorf("broker: dist worker: ready: %w", err)
		}
	}
	return w.heartbeat(ctx)
}

// heartbeat sends HEARTBEAT: on the DEALER demand-driven (the distributor
// knows us by its routing id), else on the results channel with our id.
func (w *DistWorker) heartbeat(ctx context.Context) error {
	var err error
	if w.eps.Dispatch == DemandDriven {
		err = w.tasks.Send(ctx, socket.Msg{distHeartbeat})
	} else {
		err = w.results.Send(ctx, socket.Msg{distHeartbeat, w.id})
	}
	if err != nil {
		return fmt.Errorf("broker: dist worker: heartbeat: %w", err)
	}
	return nil
}

// beat sends HEARTBEAT every interval once the distributor has shown it
// has heartbeats, and registers again when it falls silent.
func (w *DistWorker) beat(ctx context.Context, hb *distBeat) {
	tick := time.NewTicker(w.cfg.interval)
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		}
		heard := hb.heard.Load()
		if heard == 0 {
			continue // an older distributor: no heartbeats
		}
		// A send waits at most an interval: the distributor may be gone,
		// and the next tick has the next word.
		sctx, cancel := context.WithTimeout(ctx, w.cfg.interval)
		var err error
		if now.UnixNano()-heard > int64(w.cfg.expiry()) {
			w.cfg.log.Warn("distributor silent; saying HELLO and READY again", zap.Duration("silent", w.cfg.expiry()))
			w.mu.Lock()
			w.stats.Reregistered++
			w.mu.Unlock()
			hb.heard.Store(now.UnixNano())
			err = w.register(sctx)
		} else {
			err = w.heartbeat(sctx)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			w.cfg.log.Debug("dist worker heartbeat", zap.Error(err))
		}
	}
}

func (w *DistWorker) bye(ctx context.Context, fail func(error)) {
	w.mu.Lock()
	w.stats.Killed = true
	w.mu.Unlock()
	if err := w.results.Send(ctx, socket.Msg{distBye, w.id}); err != nil {
		fail(fmt.Errorf("broker: dist worker: bye: %w", err))
	}
}

func (w *DistWorker) task(ctx context.Context, m socket.Msg) error {
	h, task, ok := parseDistTask(m)
	if !ok {
		w.mu.Lock()
		w.stats.Malformed++
		w.mu.Unlock()
		w.cfg.log.Warn("malformed task dropped", zap.Stringer("msg", m))
		return nil
	}
	out, err := runDistHandler(ctx, w.h, task)
	if ctx.Err() != nil {
		return nil // closed: the result may be partial
	}
	status := []byte{0}
	if err != nil {
		status[0] = 1
		out = []byte(err.Error())
	}
	// The result returns the credit (demand-driven).
	msg := append(socket.Msg{distResult, w.id}, h.frames()...)
	msg = append(msg, status, out)
	if err := w.results.Send(ctx, msg); err != nil {
		return fmt.Errorf("broker: dist worker: send result: %w", err)
	}
	w.mu.Lock()
	w.stats.Handled++
	if err != nil {
		w.stats.Failed++
	}
	w.mu.Unlock()
	return nil
}

func runDistHandler(ctx context.Context, h DistHandler, task []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &actor.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	out, err = h(ctx, task)
	if out == nil && err == nil {
		out = []byte{}
	}
	return out, err
}
