package broker

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// Handler does the work of one request: it gets the request's body frames
// (the address stack is the Worker's business) and returns the reply's.
// A Worker calls it from one goroutine at a time, never concurrently, and
// cancels ctx when the Worker is closed. The request frames belong to the
// handler; the reply frames belong to the Worker once returned. An error,
// or a panic, gives the request back to the broker (see ErrHandler).
type Handler func(ctx context.Context, request [][]byte) ([][]byte, error)

// Worker is the guide's Paranoid Pirate worker (ch. 4, ppworker; spec
// 6/PPP) with a Go handler. It connects a DEALER socket to a load
// balancer's backend (ours, or any PPP broker such as the guide's ppqueue),
// sends READY, and handles one request at a time. It sends HEARTBEAT every
// interval, also while its handler runs; when the broker has been silent for
// liveness intervals it closes the socket, waits (doubling the wait after
// each loss, WithReconnect), and opens a new socket with a new routing id
// and READY. That is also how it re-registers after a broker restart.
//
// A request that arrives while the handler runs (only a broker that takes
// any sign of life for READY sends one, as the guide's ppqueue does) waits
// its turn. A reply whose socket was lost while the handler ran goes out
// on the next socket, before READY: the broker passes it on if the request
// is still outstanding and drops it otherwise. A handler that runs longer
// than the LoadBalancer's WithHoldLimit has had its request handed to
// another worker meanwhile: its reply counts only if it comes first, and
// the load balancer gives the Worker no new request until it has sent it.
//
// Concurrency: a Worker is safe for concurrent use. NewWorker starts its
// goroutines (the connection loop, a socket reader, the handler's); Close
// cancels the handler's ctx and returns after all of them have ended.
type Worker struct {
	cfg       config
	endpoint  string
	h         Handler
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	stats WorkerStats
}

// WorkerStats are a Worker's counters.
type WorkerStats struct {
	Handled    uint64    // requests replied to
	Failed     uint64    // requests given back: the handler failed
	Reconnects uint64    // broker connections given up for silence
	Malformed  uint64    // messages from the broker that are not PPP
	LastHeard  time.Time // when the broker last sent anything; zero: never
}

// NewWorker starts a worker for a broker's backend endpoint. Options:
// WithHeartbeat, WithReconnect, WithSocketOptions, WithLogger.
func NewWorker(endpoint string, h Handler, opts ...Option) (*Worker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil Handler", ErrBadOption)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	// Fail now on a bad endpoint or option rather than in the loop.
	probe, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, cfg.sockOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("broker: worker: %w", err)
	}
	err = probe.Connect(endpoint)
	probe.Close()
	if err != nil {
		return nil, fmt.Errorf("broker: worker: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{cfg: cfg, endpoint: endpoint, h: h, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w, nil
}

// Stats returns a snapshot of the worker's counters.
func (w *Worker) Stats() WorkerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Close stops the worker: it cancels the handler's ctx, waits for the
// handler to return (its reply is dropped) and closes the socket. It
// returns after every goroutine of the worker has ended. Calls after the
// first return nil.
func (w *Worker) Close() error {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
	})
	return nil
}

func (w *Worker) count(f func(*WorkerStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

type handled struct {
	env, reply [][]byte
	err        error
}

// run is the connection loop: one iteration per broker socket.
func (w *Worker) run(ctx context.Context) {
	defer close(w.done)
	var handlers sync.WaitGroup
	defer handlers.Wait()
	results := make(chan handled)
	busy := false
	var queue [][][]byte // requests waiting for the handler
	var held [][][]byte  // replies to send on the next socket
	// One goroutine runs every request in turn (one at a time, as busy
	// says): its stack, once grown by the handler, stays grown, where a
	// goroutine per request would grow a new one each time.
	jobs := make(chan [][]byte, 1)
	handlers.Add(1)
	go func() {
		defer handlers.Done()
		for {
			var m [][]byte
			select {
			case m = <-jobs:
			case <-ctx.Done():
				return
			}
			env, body, _ := splitEnvelope(m)
			reply, err := callHandler(ctx, w.h, body)
			select {
			case results <- handled{env, reply, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	start := func(m [][]byte) {
		busy = true
		jobs <- m // never blocks: the goroutine is idle when busy is false
	}
	backoff := w.cfg.reconnectInit
	for {
		lost := w.session(ctx, &busy, &queue, &held, results, start, &backoff)
		if !lost {
			return
		}
		w.count(func(s *WorkerStats) { s.Reconnects++ })
		w.cfg.log.Warn("heartbeat failure, can't reach broker; reconnecting", zap.String("endpoint", w.endpoint), zap.Duration("in", backoff))
		queue = nil // the broker has given them to others, or forgotten them
		t := time.NewTimer(backoff)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case r := <-results: // keep the reply for the next socket
				busy = false
				held = append(held, w.replyFor(r)...)
			case <-t.C:
				break wait
			}
		}
		backoff = min(2*backoff, w.cfg.reconnectMax)
	}
}

// replyFor turns a handler's result into what goes to the broker: the
// reply, or READY to give the request back.
func (w *Worker) replyFor(r handled) [][][]byte {
	if r.err != nil {
		w.count(func(s *WorkerStats) { s.Failed++ })
		w.cfg.log.Warn("handler failed; request given back", zap.Error(r.err))
		return [][][]byte{{frameReady}}
	}
	w.count(func(s *WorkerStats) { s.Handled++ })
	return [][][]byte{append(append(make([][]byte, 0, len(r.env)+len(r.reply)), r.env...), r.reply...)}
}

// session runs one broker socket until the broker goes silent (true) or
// ctx ends (false).
func (w *Worker) session(ctx context.Context, busy *bool, queue, held *[][][]byte,
	results <-chan handled, start func([][]byte), backoff *time.Duration) bool {
	sock, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(0)}, w.cfg.sockOpts...)...)
	if err == nil {
		err = sock.Connect(w.endpoint)
	}
	if err != nil { // checked in NewWorker; only a closing process gets here
		w.cfg.log.Warn("worker socket", zap.Error(err))
		if sock != nil {
			sock.Close()
		}
		return ctx.Err() == nil
	}
	sctx, scancel := context.WithCancel(ctx)
	in := make(chan socket.Msg)
	failed := make(chan error, 1)
	var reader sync.WaitGroup
	reader.Add(1)
	go func() { defer reader.Done(); readLoop(sctx, sock, nil, in, failed) }()
	defer func() {
		scancel()
		sock.Close()
		reader.Wait()
	}()

	send := func(m [][]byte) {
		sendCtx, cancel := context.WithTimeout(sctx, w.cfg.interval)
		defer cancel()
		if err := sock.Send(sendCtx, m); err != nil && ctx.Err() == nil {
			w.cfg.log.Debug("worker send", zap.Error(err))
		}
	}
	for _, m := range *held {
		send(m)
	}
	*held = nil
	needReady := *busy // READY once the handler is done, not while it runs
	if !needReady {
		send([][]byte{frameReady})
	}
	expiry := time.Now().Add(w.cfg.expiry())
	tick := time.NewTicker(w.cfg.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-failed:
			return ctx.Err() == nil
		case m := <-in:
			now := time.Now()
			expiry = now.Add(w.cfg.expiry())
			w.count(func(s *WorkerStats) { s.LastHeard = now })
			*backoff = w.cfg.reconnectInit
			// READY is a worker's word, never a broker's.
			p, err := parsePPP(m)
			if err != nil || p.cmd == pppReady {
				w.count(func(s *WorkerStats) { s.Malformed++ })
				continue
			}
			if p.cmd == pppHeartbeat {
				continue
			}
			if *busy {
				*queue = append(*queue, m)
			} else {
				start(m)
			}
		case r := <-results:
			*busy = false
			out := w.replyFor(r)
			for _, m := range out {
				send(m)
			}
			if needReady && r.err == nil {
				send([][]byte{frameReady})
			}
			needReady = false
			if len(*queue) > 0 {
				m := (*queue)[0]
				*queue = (*queue)[1:]
				start(m)
			}
		case now := <-tick.C:
			if now.After(expiry) {
				return true
			}
			send([][]byte{frameHeartbeat})
		}
	}
}

// callHandler runs h, turning an error or a panic into one wrapping
// ErrHandler.
func callHandler(ctx context.Context, h Handler, body [][]byte) (reply [][]byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %w", ErrHandler, &actor.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	reply, err = h(ctx, body)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrHandler, err)
	}
	return reply, err
}
