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
// in hand are dropped, as in the guide.
//
// Concurrency: a DistWorker is safe for concurrent use. NewDistWorker starts
// its goroutines (the main loop, which receives tasks and runs the handler,
// and a reader for the control channel); they end after KILL or at Close, which
// cancels the handler's ctx and returns after all have ended. Close waits
// up to 1 s for results still queued to go out (socket linger).
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
}

// distResultLinger is how long a DistWorker's Close waits for results on
// their way to the sink.
const distResultLinger = time.Second

// NewDistWorker connects a worker to a distributor's endpoints and starts
// it. Options: WithCredit, WithSocketOptions, WithLogger.
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
	defer w.mu.Unlock()
	return w.stats
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
	if err := w.results.Send(ctx, socket.Msg{distHello, w.id}); err != nil {
		fail(fmt.Errorf("broker: dist worker: hello: %w", err))
		return
	}
	if w.eps.Dispatch == DemandDriven {
		if err := w.tasks.Send(ctx, socket.Msg{distReady, binary.BigEndian.AppendUint32(nil, uint32(w.cfg.credit))}); err != nil {
			fail(fmt.Errorf("broker: dist worker: ready: %w", err))
			return
		}
	}

	// The control reader turns KILL into the end of killCtx; tasks are
	// received here, without a goroutine between the socket and the
	// handler, as that hop is on every task's path.
	killCtx, kill := context.WithCancel(ctx)
	defer kill()
	failed := make(chan error, 1)
	wg.Add(1)
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
		}
	}()
	for {
		m, err := w.tasks.Recv(killCtx)
		if ctx.Err() != nil {
			return
		}
		select {
		case err := <-failed:
			fail(err)
			return
		default:
		}
		if killCtx.Err() != nil { // KILL wins over a task that came with it
			w.bye(ctx, fail)
			return
		}
		if err != nil {
			fail(fmt.Errorf("broker: dist worker: receive: %w", err))
			return
		}
		if err := w.task(ctx, m); err != nil {
			fail(err)
			return
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
