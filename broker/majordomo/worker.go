package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/socket"
)

// MDPWorker is the guide's Majordomo worker API (ch. 4, mdwrkapi; spec
// 7/MDP, MDP/Worker) with a Go handler for one service. It connects a
// DEALER socket to a Majordomo broker (ours, or any MDP/0.1 broker such as
// the guide's mdbroker), sends READY with its service name, and handles one
// request at a time. It sends HEARTBEAT every interval, also while its
// handler runs.
//
// It starts a new conversation, on a new socket with a new routing id and
// READY, when the broker has been silent for liveness intervals or sends
// DISCONNECT (the broker closing, restarting, or rejecting it): it waits
// first, WithReconnect's back-off, doubled after each loss in a row and
// reset once the broker speaks to it. A handler still running then has its
// ctx cancelled and its reply dropped: the broker has given the request to
// another worker or forgotten it.
//
// A handler that fails (returns an error or panics; see ErrHandler) gives
// the request back: MDP has no command for it, so the worker sends
// DISCONNECT, which makes the broker hand the request to another worker,
// and registers again at once on a new socket. Close sends DISCONNECT too,
// so the broker forgets the worker at once.
//
// Concurrency: an MDPWorker is safe for concurrent use. NewMDPWorker starts
// its goroutines (the connection loop, a socket reader, the handler's);
// Close cancels the handler's ctx and returns after all of them have ended.
type MDPWorker struct {
	cfg       config
	endpoint  string
	service   string
	h         Handler
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	stats MDPWorkerStats
}

// MDPWorkerStats are an MDPWorker's counters.
type MDPWorkerStats struct {
	Handled     uint64 // requests replied to
	Failed      uint64 // requests given back: the handler failed
	Dropped     uint64 // replies dropped: the broker was lost while the handler ran
	Disconnects uint64 // DISCONNECT commands from the broker
	Reconnects  uint64 // new conversations after the first
	Malformed   uint64 // messages from the broker that are not MDP, or a REQUEST while busy
}

// NewMDPWorker starts a worker for service at a Majordomo broker's
// endpoint. The service name may not be empty nor start with "mmi."
// (ErrServiceName). Options: WithHeartbeat (default
// DefaultMDPHeartbeatInterval and DefaultMDPLiveness, which leave room for
// the guide's mdbroker's 2.5 s heartbeats), WithReconnect,
// WithSocketOptions, WithLogger.
func NewMDPWorker(endpoint, service string, h Handler, opts ...Option) (*MDPWorker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil Handler", ErrBadOption)
	}
	if service == "" || isMMI(service) {
		return nil, fmt.Errorf("%w: %q", ErrServiceName, service)
	}
	cfg, err := mdpConfig(opts)
	if err != nil {
		return nil, err
	}
	w := &MDPWorker{cfg: cfg, endpoint: endpoint, service: service, h: h, done: make(chan struct{})}
	// Fail now on a bad endpoint or option rather than in the loop.
	probe, err := w.open()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx, probe)
	return w, nil
}

func (w *MDPWorker) open() (*socket.Socket, error) {
	// A short linger lets the DISCONNECT of Close and of a failed handler
	// leave; a broker that is gone costs Close at most that.
	s, err := socket.New(socket.Dealer, append([]socket.Option{socket.WithLinger(min(w.cfg.interval, time.Second))}, w.cfg.sockOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("broker: majordomo worker: %w", err)
	}
	if err = s.Connect(w.endpoint); err != nil {
		s.Close()
		return nil, fmt.Errorf("broker: majordomo worker: %w", err)
	}
	return s, nil
}

// Service returns the service the worker registers for.
func (w *MDPWorker) Service() string { return w.service }

// Stats returns a snapshot of the worker's counters.
func (w *MDPWorker) Stats() MDPWorkerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *MDPWorker) count(f func(*MDPWorkerStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// Close stops the worker: it sends DISCONNECT to the broker, cancels the
// handler's ctx, waits for the handler to return (its reply is dropped)
// and closes the socket. It returns after every goroutine of the worker
// has ended. Calls after the first return nil.
func (w *MDPWorker) Close() error {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
	})
	return nil
}

// mdpResult is a handler's outcome for the request from client.
type mdpResult struct {
	client, reply []byte
	body          [][]byte
	err           error
}

// sessionEnd says why a conversation with the broker ended.
type sessionEnd int

const (
	endClosed       sessionEnd = iota // Close
	endSilent                         // no word from the broker for liveness intervals
	endDisconnected                   // the broker sent DISCONNECT
	endGaveBack                       // the handler failed; we sent DISCONNECT
	endSocket                         // the socket failed
)

// run is the connection loop: one conversation per socket.
func (w *MDPWorker) run(ctx context.Context, sock *socket.Socket) {
	defer close(w.done)
	var handlers sync.WaitGroup
	defer handlers.Wait()
	results := make(chan mdpResult, 1) // one handler at a time: never blocks
	busy := false
	backoff := w.cfg.reconnectInit
	for first := true; ; first = false {
		if !first {
			var err error
			if sock, err = w.open(); err != nil { // checked in NewMDPWorker; only a closing process gets here
				w.cfg.log.Warn("majordomo worker socket", zap.Error(err))
				return
			}
			w.count(func(s *MDPWorkerStats) { s.Reconnects++ })
		}
		end := w.session(ctx, sock, &busy, results, &handlers, &backoff)
		if end == endClosed {
			return
		}
		if busy { // its ctx is cancelled; the broker has moved on
			select {
			case <-results:
				busy = false
				w.count(func(s *MDPWorkerStats) { s.Dropped++ })
			case <-ctx.Done():
				return
			}
		}
		if end == endGaveBack {
			continue // the broker is there: register again at once
		}
		w.cfg.log.Warn("lost the broker; reconnecting", zap.String("endpoint", w.endpoint), zap.Int("why", int(end)), zap.Duration("in", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, w.cfg.reconnectMax)
	}
}

// session runs one conversation on sock, and closes sock.
func (w *MDPWorker) session(ctx context.Context, sock *socket.Socket, busy *bool, results chan mdpResult,
	handlers *sync.WaitGroup, backoff *time.Duration) (end sessionEnd) {
	sctx, scancel := context.WithCancel(ctx)
	in := make(chan socket.Msg)
	failed := make(chan error, 1)
	var reader sync.WaitGroup
	reader.Add(1)
	go func() { defer reader.Done(); readLoop(sctx, sock, nil, in, failed) }()
	// A request's ctx ends with its conversation.
	rctx, rcancel := context.WithCancel(ctx)
	defer func() {
		rcancel()
		scancel()
		sock.Close()
		reader.Wait()
	}()

	send := func(m [][]byte) {
		// Bounded: with no broker connected, DEALER blocks.
		sendCtx, cancel := context.WithTimeout(ctx, w.cfg.interval)
		defer cancel()
		if err := sock.Send(sendCtx, m); err != nil && ctx.Err() == nil {
			w.cfg.log.Debug("majordomo worker send", zap.Error(err))
		}
	}
	send(mdpWorkerMsg(frameMDPReady, []byte(w.service)))
	expiry := time.Now().Add(w.cfg.expiry())
	tick := time.NewTicker(w.cfg.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Close: tell the broker, on a ctx of its own (ours is done).
			dctx, cancel := context.WithTimeout(context.Background(), min(w.cfg.interval, time.Second))
			sock.Send(dctx, mdpWorkerMsg(frameMDPDisconnect))
			cancel()
			return endClosed
		case <-failed:
			return endSocket
		case m := <-in:
			cmd, ok := mdpCut(m, MDPWorkerHeader)
			if !ok || len(cmd) < 1 {
				w.count(func(s *MDPWorkerStats) { s.Malformed++ })
				continue
			}
			expiry = time.Now().Add(w.cfg.expiry())
			switch string(cmd[0]) {
			case mdpRequest:
				*backoff = w.cfg.reconnectInit
				client, body, ok := mdpAddressed(cmd[1:])
				if !ok || *busy {
					w.count(func(s *MDPWorkerStats) { s.Malformed++ })
					continue
				}
				*busy = true
				handlers.Add(1)
				go func() {
					defer handlers.Done()
					reply, err := callHandler(rctx, w.h, body)
					results <- mdpResult{client: client, body: reply, err: err}
				}()
			case mdpHeartbeat:
				*backoff = w.cfg.reconnectInit
			case mdpDisconnect:
				w.count(func(s *MDPWorkerStats) { s.Disconnects++ })
				return endDisconnected
			default:
				w.count(func(s *MDPWorkerStats) { s.Malformed++ })
			}
		case r := <-results:
			*busy = false
			if r.err != nil {
				w.count(func(s *MDPWorkerStats) { s.Failed++ })
				w.cfg.log.Warn("handler failed; request given back", zap.Error(r.err))
				send(mdpWorkerMsg(frameMDPDisconnect))
				return endGaveBack
			}
			w.count(func(s *MDPWorkerStats) { s.Handled++ })
			send(append(mdpWorkerMsg(frameMDPReply, r.client, frameEmpty), r.body...))
		case now := <-tick.C:
			if now.After(expiry) {
				return endSilent
			}
			send(mdpWorkerMsg(frameMDPHeartbeat))
		}
	}
}
