package distributor_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zmqflow/zmqflow/broker/distributor"
)

// taskProxy stands between a distributor's tcp task endpoint and the
// workers: it forwards each connection it accepts to the distributor, and
// can keep what the distributor sends on the connections it has from
// reaching the worker (hold) and end them (cut), as a network that drops
// a connection does. A worker's PULL then connects again, through the
// proxy, to a PUSH that no longer has what it queued for the old one.
type taskProxy struct {
	t      testing.TB
	ln     net.Listener
	target string // the distributor's host:port
	wg     sync.WaitGroup

	mu       sync.Mutex
	links    []*proxyLink
	accepted int
	kick     chan struct{} // a kick after each accepted connection
}

// proxyLink is one worker connection and its twin to the distributor.
type proxyLink struct {
	worker, dist net.Conn
	held         chan struct{} // closed: the distributor's bytes go no further
	holdOnce     sync.Once
}

func newTaskProxy(t testing.TB, tasks string) *taskProxy {
	t.Helper()
	target, ok := strings.CutPrefix(tasks, "tcp://")
	if !ok {
		t.Fatalf("task endpoint %q is not tcp", tasks)
	}
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	p := &taskProxy{t: t, ln: ln, target: target, kick: make(chan struct{}, 1)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// endpoint is what a worker connects its task socket to.
func (p *taskProxy) endpoint() string { return "tcp://" + p.ln.Addr().String() }

func (p *taskProxy) accept() {
	defer p.wg.Done()
	for {
		w, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		d, err := net.Dial("tcp", p.target)
		if err != nil {
			w.Close()
			continue // the worker tries again
		}
		l := &proxyLink{worker: w, dist: d, held: make(chan struct{})}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.accepted++
		p.mu.Unlock()
		select {
		case p.kick <- struct{}{}:
		default:
		}
		p.wg.Add(2)
		go p.pipe(l, l.dist, l.worker, l.held)
		go p.pipe(l, l.worker, l.dist, nil)
	}
}

// pipe copies src to dst until either ends, then ends both. Bytes read
// once held is closed are dropped with the link: they were on their way
// when the network failed.
func (p *taskProxy) pipe(l *proxyLink, src, dst net.Conn, held chan struct{}) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-held: // nil for the worker's bytes: never held
				return // the cut ends the link
			default:
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			l.worker.Close()
			l.dist.Close()
			return
		}
	}
}

// hold keeps what the distributor sends from here on, on the connections
// the proxy has, from reaching the worker.
func (p *taskProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.holdOnce.Do(func() { close(l.held) })
	}
}

// cut ends the connections the proxy has; those it accepts later are
// forwarded as before.
func (p *taskProxy) cut() {
	p.mu.Lock()
	links := p.links
	p.links = nil
	p.mu.Unlock()
	for _, l := range links {
		l.worker.Close()
		l.dist.Close()
	}
}

// waitAccepted waits until the proxy has accepted n connections in all.
func (p *taskProxy) waitAccepted(ctx context.Context, n int) {
	p.t.Helper()
	for {
		p.mu.Lock()
		got := p.accepted
		p.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-p.kick:
		case <-ctx.Done():
			p.t.Fatalf("the proxy accepted %d connections, want %d", got, n)
		}
	}
}

func (p *taskProxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// proxiedWorker starts a Worker whose task socket reaches d through a new
// taskProxy, its results and control sockets directly.
func proxiedWorker(t *testing.T, ctx context.Context, d *distributor.Distributor, h distributor.Handler) (*distributor.Worker, *taskProxy) {
	t.Helper()
	px := newTaskProxy(t, d.Endpoints().Tasks)
	eps := d.Endpoints()
	eps.Tasks = px.endpoint()
	w := must[*distributor.Worker](t)(distributor.NewWorker(eps, h, steadyBeat))
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("worker close: %v", err)
		}
	})
	px.waitAccepted(ctx, 1)
	heard(t, ctx, w)
	return w, px
}

// TestRoundRobinConnectionDrops: round-robin over tcp, the connection of
// a Worker's task socket drops and comes back while the worker lives on.
// The tasks it said ACK for stay with it; those the PUSH dealt to the
// connection that the worker never got (queued for it, or in the network)
// are in doubt, and go out again after the grace: every task runs once,
// and its result is taken once.
func TestRoundRobinConnectionDrops(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := newDist(t, "tcp", distributor.WithRoundRobin())
	release := make(chan struct{})
	var calls atomic.Int64
	_, px := proxiedWorker(t, ctx, d, func(ctx context.Context, task []byte) ([]byte, error) {
		calls.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return double(ctx, task)
	})
	waitStats(t, ctx, d, "the worker", func(s distributor.Stats) bool { return s.Workers == 1 })
	const n1, n2 = 10, 10
	h1 := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n1, Tasks: numbers(n1, nil)}))
	// The handler holds the first task; the worker holds the others, and
	// has said ACK for each.
	waitStats(t, ctx, d, "batch 1 at the worker, ACKed", func(s distributor.Stats) bool { return s.InFlight == n1 && s.Unacked == 0 })
	px.hold()
	h2 := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n2, Tasks: numbers(n2, nil)}))
	waitStats(t, ctx, d, "batch 2 dealt to the held connection", func(s distributor.Stats) bool {
		return s.InFlight == n1+n2 && s.Unacked == n2
	})
	px.cut()
	// The worker connects again; batch 2 goes out again to it once the
	// grace is over, and it says ACK for each task.
	px.waitAccepted(ctx, 2)
	waitStats(t, ctx, d, "batch 2 sent again and ACKed", func(s distributor.Stats) bool {
		return s.Requeued == n2 && s.InFlight == n1+n2 && s.Unacked == 0
	})
	close(release)
	for i, h := range []*distributor.BatchHandle{h1, h2} {
		s, err := h.Wait(ctx)
		if err != nil {
			t.Fatalf("batch %d: %v; stats %+v", i+1, err, d.Stats())
		}
		checkDoubled(t, s, []int{n1, n2}[i])
	}
	st := d.Stats()
	if calls.Load() != n1+n2 || st.Results != n1+n2 || st.Requeued != n2 || st.Duplicates != 0 || st.Dead != 0 || st.Forged != 0 {
		t.Fatalf("handler calls %d, want %d; stats %+v", calls.Load(), n1+n2, st)
	}
}

// TestRoundRobinConnectionDropsMidRun: round-robin over tcp with a small
// window, the connection of a Worker's task socket drops three times
// while tasks and results flow, wherever the tasks are then (in the
// PUSH's queue, in the network, at the worker with or without its ACK
// heard). No task is lost: each result is taken once, and a task runs
// twice only if it went out again, having been in doubt.
func TestRoundRobinConnectionDropsMidRun(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := newDist(t, "tcp", distributor.WithRoundRobin(), distributor.WithWindow(8))
	// Each task waits for a token, so that the drops come mid-run.
	tokens := make(chan struct{}, 1000)
	var calls atomic.Int64
	w, px := proxiedWorker(t, ctx, d, func(ctx context.Context, task []byte) ([]byte, error) {
		calls.Add(1)
		select {
		case <-tokens:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return double(ctx, task)
	})
	waitStats(t, ctx, d, "the worker", func(s distributor.Stats) bool { return s.Workers == 1 })
	const n, step = 120, 25
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	for cut := 1; cut <= 3; cut++ {
		for range step {
			tokens <- struct{}{}
		}
		if err := w.Wait(ctx, func(ws distributor.WorkerStats) bool { return ws.Handled >= uint64(cut*step) }); err != nil {
			t.Fatalf("worker stats %+v: %v", w.Stats(), err)
		}
		px.cut()
		px.waitAccepted(ctx, cut+1)
	}
	// Enough for every task run twice.
	for range n {
		tokens <- struct{}{}
	}
	s, err := h.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v; stats %+v", err, d.Stats())
	}
	checkDoubled(t, s, n)
	st := d.Stats()
	t.Logf("handler calls %d; stats %+v", calls.Load(), st)
	if st.Results != n || st.Forged != 0 || st.Dead != 0 || st.Duplicates > st.Requeued {
		t.Fatalf("stats %+v", st)
	}
	if c := calls.Load(); c < n || c > int64(n+st.Requeued) {
		t.Fatalf("handler calls %d: want from %d to %d (the tasks sent again); stats %+v", c, n, n+int(st.Requeued), st)
	}
}
