package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
)

// runManager runs the ventilator and the results manager, and, with -role
// all, the workers: goroutines over inproc, supervised processes otherwise.
func runManager(ctx context.Context) error {
	eps, cleanup, err := defaultEndpoints(*transport, endpoints{*tasksEP, *resultsEP, *controlEP})
	if err != nil {
		return err
	}
	defer cleanup()

	p := patterns.NewPipeline(actor.WithName("squares"))
	vent, err := patterns.Push(patterns.Binary[Task]{}, patterns.Bind(eps.tasks))
	if err != nil {
		return err
	}
	p.Own(vent)
	defer vent.Close() // the pipeline closes it; this covers the early returns
	control, err := patterns.Pub(patterns.String{}, func(string) string { return "" }, patterns.Bind(eps.control))
	if err != nil {
		return err
	}
	p.Own(control)
	defer control.Close()
	results, err := patterns.Pull(patterns.Binary[Report]{}, patterns.Bind(eps.results))
	if err != nil {
		return err
	}
	defer results.Close() // its actor closes it; this covers the early returns
	bound := endpoints{vent.Endpoint(), results.Endpoint(), control.Endpoint()}
	local := bound.reachable("127.0.0.1")

	// Downstream first: the results manager, then the workers, then the
	// ventilator and the manager's clock.
	var sum summary
	manager := patterns.Stage(p, "results manager", func() actor.Behavior[Report] {
		return &resultsManager{vent: vent.Ref(), control: control.Ref(), seen: map[int64]bool{},
			subscribers: func() int { return control.Socket().Stats().Subscribers },
			counts:      map[workerKey]int{}, last: time.Now(), out: &sum}
	}, actor.WithFeed(results))

	switch {
	case *role == "manager":
		host, _ := os.Hostname()
		fmt.Fprintf(os.Stderr, "start workers with: squares -role worker -id N %s\n", bound.reachable(host).flags())
	case *transport == "inproc":
		for i := range int32(*workers) {
			if _, err := addWorker(p, i+1, local); err != nil {
				return err
			}
		}
	default:
		self, err := os.Executable()
		if err != nil {
			return err
		}
		for i := range int32(*workers) {
			addProcess(p, self, i+1, local)
		}
	}

	p.Source("clock", func(ctx context.Context) error {
		t := time.NewTicker(max(*resend/4, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := manager.Tell(ctx, Report{Kind: kindTick}); err != nil {
					return nil // the manager is done
				}
			case <-ctx.Done():
				return nil
			}
		}
	})
	start := time.Now()
	p.Source("ventilator", func(ctx context.Context) error {
		// The guide's slow joiner: the first worker to connect would get
		// every task. Wait for all of them.
		for vent.Socket().Stats().Peers < *workers {
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return nil
			}
		}
		start = time.Now()
		// The results manager learns the batch size from the ventilator,
		// the question the article's readers asked.
		if err := manager.Tell(ctx, Report{Kind: kindBatch, N: int64(*n)}); err != nil {
			return err
		}
		for i := range int64(*n) {
			if err := vent.Tell(ctx, Task{N: i}); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "squares: all %d tasks sent\n", *n)
		return nil
	})
	if err := p.Run(ctx); err != nil {
		return err
	}
	sum.print(os.Stdout, *transport, time.Since(start))
	return nil
}

// workerKey names a worker process (or goroutine) in the counts.
type workerKey struct {
	worker, pid int32
}

// resultsManager adds up the squares, sends again the tasks whose results
// did not come, and broadcasts FINISH when all are in.
type resultsManager struct {
	vent    actor.Ref[Task]
	control actor.Ref[string]
	// subscribers is how many peers have subscribed to the control channel.
	subscribers func() int
	batch       int64 // 0 until the ventilator said
	seen        map[int64]bool
	sum         int64
	counts      map[workerKey]int
	dups        int
	bad         int
	resent      int
	last        time.Time // of the last result, or resend
	out         *summary  // written once, at the end
}

func (m *resultsManager) Receive(ctx context.Context, r Report) error {
	switch r.Kind {
	case kindBatch:
		// Reports come in on the results socket, which anyone who reaches
		// it may send to: only the ventilator's batch, of -n, is taken. A
		// batch of 2^62 would have the manager send tasks again for ever;
		// a smaller one, FINISH with a wrong sum.
		if r.N != int64(*n) {
			m.bad++
			break
		}
		m.batch = r.N
	case kindSquare:
		m.last = time.Now()
		switch {
		case r.N < 0 || r.N >= int64(*n) || r.Square != r.N*r.N:
			m.bad++
		case m.seen[r.N]:
			m.dups++ // a task sent again whose first result came late
		default:
			m.seen[r.N] = true
			m.sum += r.Square
			m.counts[workerKey{r.Worker, r.Pid}]++
		}
	case kindTick:
		if m.batch > 0 && int64(len(m.seen)) < m.batch && time.Since(m.last) > *resend {
			m.sendAgain(ctx)
		}
	default:
		m.bad++
	}
	if m.batch == 0 || int64(len(m.seen)) < m.batch {
		return nil
	}
	*m.out = summary{batch: m.batch, sum: m.sum, counts: m.counts, dups: m.dups, bad: m.bad, resent: m.resent}
	m.awaitSubscribers(ctx)
	if err := m.control.Tell(ctx, finish); err != nil {
		return err
	}
	return patterns.ErrStop
}

// finishWait bounds how long the results manager waits for workers'
// subscriptions before it broadcasts FINISH.
const finishWait = 10 * time.Second

// awaitSubscribers waits, for finishWait at most, until as many peers have
// subscribed to the control channel as workers have sent results. PUB drops
// what no subscriber has asked for yet: a worker whose subscription is
// still on its way (the guide's "slow joiner", ch. 1) when a short batch is
// done would miss FINISH and run on for ever. ZeroMQ tells of no
// subscription, so it polls the PUB's count.
func (m *resultsManager) awaitSubscribers(ctx context.Context) {
	workers := map[int32]bool{} // by id: a worker started again has a new pid
	for k := range m.counts {
		workers[k.worker] = true
	}
	deadline := time.Now().Add(finishWait)
	for m.subscribers() < len(workers) {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "squares: %d of %d workers subscribed to the control channel after %v: FINISH may not reach the others\n",
				m.subscribers(), len(workers), finishWait)
			return
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// sendAgain sends the tasks with no result yet: a worker that died took them
// with it (PUSH does not know), and its replacement, or another, does them.
func (m *resultsManager) sendAgain(ctx context.Context) {
	missing := 0
	for i := range m.batch {
		if !m.seen[i] {
			if m.vent.Tell(ctx, Task{N: i}) != nil {
				return
			}
			missing++
		}
	}
	m.resent += missing
	m.last = time.Now()
	fmt.Fprintf(os.Stderr, "squares: no result for %v: sent %d tasks again\n", *resend, missing)
}

// summary is what the run printed at the end.
type summary struct {
	batch, sum        int64
	counts            map[workerKey]int
	dups, bad, resent int
}

func (s summary) print(w *os.File, transport string, elapsed time.Duration) {
	ids := map[int32]bool{}
	for k := range s.counts {
		ids[k.worker] = true
	}
	workers := fmt.Sprintf("%d workers", len(ids))
	if len(ids) == 1 {
		workers = "1 worker"
	}
	fmt.Fprintf(w, "%d numbers squared over %s by %s in %v\n", s.batch, transport, workers, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "sum of squares: %d\n", s.sum)
	keys := make([]workerKey, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b workerKey) int { return cmp.Or(cmp.Compare(a.worker, b.worker), cmp.Compare(a.pid, b.pid)) })
	for _, k := range keys {
		fmt.Fprintf(w, "worker %d (pid %d): %d\n", k.worker, k.pid, s.counts[k])
	}
	fmt.Fprintf(w, "sent again: %d, duplicate results: %d, bad results: %d\n", s.resent, s.dups, s.bad)
}

// defaultEndpoints fills in what was not given: the article's ports for
// tcp, sockets in a fresh directory for ipc, names for inproc.
func defaultEndpoints(transport string, given endpoints) (endpoints, func(), error) {
	eps := given
	cleanup := func() {}
	var def endpoints
	switch transport {
	case "tcp":
		def = endpoints{"tcp://*:5557", "tcp://*:5558", "tcp://*:5559"}
	case "ipc":
		dir, err := os.MkdirTemp("", "squares-")
		if err != nil {
			return eps, cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		def = endpoints{"ipc://" + filepath.Join(dir, "tasks"), "ipc://" + filepath.Join(dir, "results"), "ipc://" + filepath.Join(dir, "control")}
	case "inproc":
		def = endpoints{"inproc://tasks", "inproc://results", "inproc://control"}
	default:
		return eps, cleanup, fmt.Errorf("unknown -transport %q: want inproc, ipc or tcp", transport)
	}
	for _, f := range []struct {
		v *string
		d string
	}{{&eps.tasks, def.tasks}, {&eps.results, def.results}, {&eps.control, def.control}} {
		if *f.v == "" {
			*f.v = f.d
		}
	}
	return eps, cleanup, nil
}

// reachable returns the endpoints with a wildcard host (tcp://*:5557 binds
// every address) replaced by host, so that a worker can connect.
func (e endpoints) reachable(host string) endpoints {
	fix := func(ep string) string {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "tcp" {
			return ep
		}
		h, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			return ep
		}
		if ip := net.ParseIP(h); h == "*" || ip != nil && ip.IsUnspecified() {
			return "tcp://" + net.JoinHostPort(host, port)
		}
		return ep
	}
	return endpoints{fix(e.tasks), fix(e.results), fix(e.control)}
}

func (e endpoints) flags() string {
	return strings.Join([]string{"-tasks", e.tasks, "-results", e.results, "-control", e.control}, " ")
}
