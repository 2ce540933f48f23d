package distributor_test

// Faults of the work distributor's peers: credit bombs, forged results,
// workers that fall silent or vanish, a distributor that restarts. The
// peers are raw sockets speaking the frames of protocol.go, so that each test
// says exactly what a hostile or broken peer sends.

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/distributor"
	"github.com/zmqflow/zmqflow/socket"
)

// rawPeer is a demand-driven worker by hand: a DEALER on a
// distributor's task endpoint, with the peer's id as its routing id, and a
// PUSH on the results endpoint. It sends only what the test tells it to.
type rawPeer struct {
	t       testing.TB
	id      []byte
	tasks   *socket.Socket
	results *socket.Socket
}

func newRawPeer(t testing.TB, eps distributor.Endpoints, id string) *rawPeer {
	t.Helper()
	p := &rawPeer{t: t, id: []byte(id),
		tasks:   newSocket(t, socket.Dealer, socket.WithIdentity([]byte(id))),
		results: newSocket(t, socket.Push)}
	if err := p.tasks.Connect(eps.Tasks); err != nil {
		t.Fatal(err)
	}
	if err := p.results.Connect(eps.Results); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *rawPeer) send(ctx context.Context, s *socket.Socket, m ...[]byte) {
	p.t.Helper()
	if err := s.Send(ctx, m); err != nil {
		p.t.Fatalf("raw peer %s: %v", p.id, err)
	}
}

func (p *rawPeer) ready(ctx context.Context, credit uint32) {
	p.t.Helper()
	p.send(ctx, p.tasks, []byte("READY"), binary.BigEndian.AppendUint32(nil, credit))
}

func (p *rawPeer) hello(ctx context.Context) {
	p.t.Helper()
	p.send(ctx, p.results, []byte("HELLO"), p.id)
}

func (p *rawPeer) bye(ctx context.Context) {
	p.t.Helper()
	p.send(ctx, p.results, []byte("BYE"), p.id)
}

// beat sends one HEARTBEAT: from then on the distributor buries the peer
// when it falls silent.
func (p *rawPeer) beat(ctx context.Context) {
	p.t.Helper()
	p.send(ctx, p.tasks, []byte("HEARTBEAT"))
}

// task returns the next task, skipping the distributor's heartbeats.
func (p *rawPeer) task(ctx context.Context) socket.Msg {
	p.t.Helper()
	for {
		m, err := p.tasks.Recv(ctx)
		if err != nil {
			p.t.Fatalf("raw peer %s: %v", p.id, err)
		}
		if isHeartbeat(m) {
			continue
		}
		if len(m) != 4 {
			p.t.Fatalf("raw peer %s got %q, not a task", p.id, m)
		}
		return m
	}
}

func isHeartbeat(m socket.Msg) bool { return len(m) == 1 && bytes.Equal(m[0], []byte("HEARTBEAT")) }

// result sends a result in worker's name, with the header frames given.
func (p *rawPeer) result(ctx context.Context, worker string, header [][]byte, status byte, payload string) {
	p.t.Helper()
	m := append([][]byte{[]byte("RESULT"), []byte(worker)}, header...)
	p.send(ctx, p.results, append(m, []byte{status}, []byte(payload))...)
}

// answer sends the result double would for a task, as a worker should.
func (p *rawPeer) answer(ctx context.Context, task socket.Msg) {
	p.t.Helper()
	out, err := double(ctx, task[3])
	if err != nil {
		p.t.Fatal(err)
	}
	p.result(ctx, string(p.id), task[:3], 0, string(out))
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// countingDouble is double, counting its calls.
func countingDouble(calls *atomic.Int64) distributor.Handler {
	return func(ctx context.Context, task []byte) ([]byte, error) {
		calls.Add(1)
		return double(ctx, task)
	}
}

// TestCreditBomb: READYs announcing credit 2^31-1, 2^32-1 and 1000
// to a distributor with a window of 8 cost it a count each, not a token
// per credit: its memory stays bounded, Submit and Close do not hang, the
// peers together hold no more than the window, each takes its turn, and
// the batch completes. A credit of 0 is malformed.
func TestCreditBomb(t *testing.T) {
	ctx := testCtx(t)
	const window = 8
	d := newDist(t, "tcp", distributor.WithWindow(window))
	eps := d.Endpoints()
	credits := []uint32{math.MaxInt32, math.MaxUint32, 1000}
	peers := make([]*rawPeer, len(credits))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, c := range credits {
		peers[i] = newRawPeer(t, eps, "peer"+strconv.Itoa(i))
		peers[i].ready(ctx, c)
	}
	newRawPeer(t, eps, "zero").ready(ctx, 0)
	waitStats(t, ctx, d, "the READYs", func(s distributor.Stats) bool { return s.Credit == len(peers)*window && s.Malformed == 1 })
	runtime.ReadMemStats(&after)
	// A token per credit was 16 bytes each: 32 GiB for the first READY.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("four peers and their READYs cost %d MiB", grew>>20)
	}

	const n = 100
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	type got struct {
		peer int
		task socket.Msg
	}
	gotCh := make(chan got)
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := p.tasks.Recv(rctx)
				if err != nil {
					return
				}
				if isHeartbeat(m) {
					continue
				}
				select {
				case gotCh <- got{i, m}:
				case <-rctx.Done():
					return
				}
			}
		}()
	}
	// Nothing is answered yet: the window fills, and nothing more goes out.
	held := make([][]socket.Msg, len(peers))
	for range window {
		select {
		case g := <-gotCh:
			held[g.peer] = append(held[g.peer], g.task)
		case <-ctx.Done():
			t.Fatalf("waiting for %d tasks: %v; stats %+v", window, ctx.Err(), d.Stats())
		}
	}
	if s := d.Stats(); s.InFlight != window || s.Dispatched != window {
		t.Fatalf("stats %+v with the window of %d full", s, window)
	}
	for i, ts := range held {
		if len(ts) < window/len(peers) || len(ts) > window/len(peers)+1 {
			t.Fatalf("peer %d (credit %d) holds %d of the %d tasks: workers with credit take turns", i, credits[i], len(ts), window)
		}
	}
	for i, ts := range held {
		for _, m := range ts {
			peers[i].answer(ctx, m)
		}
	}
	for done := false; !done; {
		select {
		case g := <-gotCh:
			peers[g.peer].answer(ctx, g.task)
		case <-h.Done():
			done = true
		case <-ctx.Done():
			t.Fatalf("batch: %v; stats %+v", ctx.Err(), d.Stats())
		}
	}
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), n)
	if s := d.Stats(); s.MaxInFlight != window || s.Dispatched != n || s.Forged != 0 || s.Duplicates != 0 {
		t.Fatalf("stats %+v", s)
	}
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Close hangs")
	}
}

// TestForgedResults: two raw peers get a task each; one of them sends
// made-up results (for the other's task, with its ticket and without, in
// its own name and in the other's; for its own task with another ticket,
// seq or batch; for a task never dispatched) and results with unknown
// status bytes. None is taken, each is counted, and the batch's results
// are exactly the real ones.
func TestForgedResults(t *testing.T) {
	ctx := testCtx(t)
	d := newDist(t, "tcp")
	eps := d.Endpoints()
	a, b := newRawPeer(t, eps, "a"), newRawPeer(t, eps, "b")
	for _, p := range []*rawPeer{a, b} {
		p.hello(ctx)
		p.ready(ctx, 1)
	}
	waitStats(t, ctx, d, "2 workers with credit", func(s distributor.Stats) bool { return s.Workers == 2 && s.Credit == 2 })
	const n = 20
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	ta, tb := a.task(ctx), b.task(ctx)
	ticketA := binary.BigEndian.Uint64(ta[2])
	hdr := func(f ...[]byte) [][]byte { return f }
	forged := []struct {
		worker string
		header [][]byte
	}{
		{"a", tb[:3]},                                 // b's task, ticket and all, in a's name
		{"b", hdr(tb[0], tb[1], u64(12345))},          // b's task in b's name, the ticket guessed
		{"a", hdr(ta[0], ta[1], u64(^ticketA))},       // a's task, another ticket
		{"a", hdr(ta[0], u64(n-1), ta[2])},            // a's ticket for a task not dispatched
		{"a", hdr(ta[0], u64(n-1), u64(54321))},       // a task not dispatched
		{"a", hdr(ta[0], u64(n), ta[2])},              // a seq past the batch
		{"a", hdr(ta[0], u64(math.MaxUint64), ta[2])}, // and far past
	}
	for _, f := range forged {
		a.result(ctx, f.worker, f.header, 0, "forged")
	}
	a.result(ctx, "a", [][]byte{u64(h.ID() + 1), ta[1], ta[2]}, 0, "no such batch")
	for _, status := range []byte{2, 7, 255} {
		a.result(ctx, "a", ta[:3], status, "unknown status")
	}
	waitStats(t, ctx, d, "the forgeries counted", func(s distributor.Stats) bool {
		return s.Forged == uint64(len(forged)) && s.Late == 1 && s.Malformed == 3
	})
	if s := d.Stats(); s.Results != 0 || s.InFlight != 2 {
		t.Fatalf("forged results taken: %+v", s)
	}
	// The real answers are taken; a second of a's, whatever it says, is not.
	a.answer(ctx, ta)
	b.answer(ctx, tb)
	a.result(ctx, "a", ta[:3], 0, "second thoughts")
	waitStats(t, ctx, d, "the real results", func(s distributor.Stats) bool { return s.Results == 2 && s.Duplicates == 1 })
	// The raw peers leave (what they got meanwhile is given back), and
	// honest workers do the rest.
	a.bye(ctx)
	b.bye(ctx)
	waitStats(t, ctx, d, "the raw peers gone", func(s distributor.Stats) bool { return s.Workers == 0 })
	newWorkers(t, d, 2, double)
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), n)
	if s := d.Stats(); s.Results != n || s.Forged != uint64(len(forged)) || s.Late != 1 || s.Malformed != 3 || s.Duplicates != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestFrozenPeer: a peer that heartbeats, takes three tasks and falls
// silent (as a frozen process, or one cut off, does) is found dead by its
// silence; its tasks go to the live workers, the batch completes with
// every task done once, and the results it sends after all are dropped.
func TestFrozenPeer(t *testing.T) {
	t.Parallel() // it waits out steadyExpiry
	ctx := testCtx(t)
	d := newDist(t, "tcp")
	frozen := newRawPeer(t, d.Endpoints(), "frozen")
	frozen.hello(ctx)
	frozen.ready(ctx, 3)
	frozen.beat(ctx)
	waitStats(t, ctx, d, "the peer's credit", func(s distributor.Stats) bool { return s.Workers == 1 && s.Credit == 3 })
	const n = 30
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	held := []socket.Msg{frozen.task(ctx), frozen.task(ctx), frozen.task(ctx)}
	silentFrom := time.Now()
	var calls atomic.Int64
	newWorkers(t, d, 2, countingDouble(&calls))
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), n)
	t.Logf("the batch completed %v after the peer fell silent (liveness %v)", time.Since(silentFrom).Round(time.Millisecond), steadyExpiry)
	st := d.Stats()
	if calls.Load() != n || st.Dead != 1 || st.Requeued != 3 || st.Workers != 2 || st.Duplicates != 0 || st.Results != n {
		t.Fatalf("handler calls %d; stats %+v", calls.Load(), st)
	}
	for _, m := range held {
		frozen.answer(ctx, m)
	}
	waitStats(t, ctx, d, "the late results dropped", func(s distributor.Stats) bool { return s.Late == 3 })
	if s := d.Stats(); s.Results != n || s.Duplicates != 0 || s.Forged != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRoundRobinWorkerGone: round-robin, a worker that heartbeats on
// the results channel takes its share of a batch and vanishes. The
// distributor, which cannot know what it held, finds it dead by its
// silence and sends every task in flight again: the batch completes with
// each result once.
func TestRoundRobinWorkerGone(t *testing.T) {
	t.Parallel() // it waits out steadyExpiry
	ctx := testCtx(t)
	d := newDist(t, "tcp", distributor.WithRoundRobin())
	eps := d.Endpoints()
	pull, push := rawWorker(t, ctx, eps)
	for _, m := range []socket.Msg{{[]byte("HELLO"), []byte("gone")}, {[]byte("HEARTBEAT"), []byte("gone")}} {
		if err := push.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	newWorkers(t, d, 2, double)
	waitStats(t, ctx, d, "3 workers", func(s distributor.Stats) bool { return s.Workers == 3 })
	const n = 30
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	if _, err := pull.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	pull.Close()
	push.Close()
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), n)
	waitStats(t, ctx, d, "the vanished worker buried", func(s distributor.Stats) bool { return s.Dead == 1 && s.Workers == 2 })
	if s := d.Stats(); s.Results != n || s.Requeued < 1 || s.Forged != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestWorkerRejoins: the distributor restarts on the same endpoints.
// A Worker that heard the first one's heartbeats finds the second
// silent (it does not know the worker), says HELLO and READY again, and
// the second's batch completes on it.
//
// The worker uses quickBeat and fastReconnect, to find the new
// distributor silent and register again soon. A stall that makes it say READY again to the new one needlessly only
// gives its task back, which this test allows: it checks the results.
func TestWorkerRejoins(t *testing.T) {
	ctx := testCtx(t)
	d1 := must[*distributor.Distributor](t)(distributor.New("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", steadyBeat))
	t.Cleanup(func() { d1.Close() })
	eps := d1.Endpoints()
	w := must[*distributor.Worker](t)(distributor.NewWorker(eps, double, quickBeat, fastReconnect))
	t.Cleanup(func() { w.Close() })
	waitStats(t, ctx, d1, "the worker", func(s distributor.Stats) bool { return s.Workers == 1 && s.Credit == 1 })
	// The worker judges a distributor by its silence only once it has
	// heard its heartbeats (an older one sends none); they come every
	// 50 ms.
	heard(t, ctx, w)
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := must[*distributor.Distributor](t)(distributor.New(eps.Tasks, eps.Results, eps.Control, steadyBeat))
	t.Cleanup(func() { d2.Close() })
	const n = 20
	h := must[*distributor.BatchHandle](t)(d2.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	s, err := h.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v; stats %+v; worker %+v", err, d2.Stats(), w.Stats())
	}
	checkDoubled(t, s, n)
	// The worker counts a task once it has sent the result, so it may
	// still be counting the last one when the batch completes.
	if err := w.Wait(ctx, func(ws distributor.WorkerStats) bool { return ws.Reregistered >= 1 && ws.Handled >= n }); err != nil {
		t.Fatalf("worker stats %+v: %v", w.Stats(), err)
	}
}

// TestOldWorker: a worker older than heartbeats (a raw peer speaking
// the frames of before: READY, HELLO, results, never HEARTBEAT) is not
// buried for its silence, while a peer that heartbeats and falls silent
// is; it takes and answers tasks, skipping the HEARTBEATs it is sent while
// it holds some; and when it vanishes with tasks in hand, the failed
// HEARTBEAT finds it and its tasks go to another worker.
//
// quickBeat buries the silent peer soon; the old one, which never
// heartbeats, is never judged by its silence however the test stalls.
func TestOldWorker(t *testing.T) {
	ctx := testCtx(t)
	d := newDist(t, "tcp", quickBeat)
	eps := d.Endpoints()
	old := newRawPeer(t, eps, "old")
	old.hello(ctx)
	old.ready(ctx, 2)
	waitStats(t, ctx, d, "the old worker", func(s distributor.Stats) bool { return s.Workers == 1 && s.Credit == 2 })
	silent := newRawPeer(t, eps, "silent")
	silent.hello(ctx)
	silent.ready(ctx, 1)
	silent.beat(ctx)
	waitStats(t, ctx, d, "the silent peer buried", func(s distributor.Stats) bool { return s.Dead == 1 })
	if s := d.Stats(); s.Workers != 1 || s.Credit != 2 {
		t.Fatalf("the old worker was buried with the silent peer: %+v", s)
	}
	const n = 10
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	for range n - 2 {
		old.answer(ctx, old.task(ctx))
	}
	// It holds the last two, and vanishes.
	old.task(ctx)
	old.task(ctx)
	old.tasks.Close()
	old.results.Close()
	waitStats(t, ctx, d, "the vanished old worker buried", func(s distributor.Stats) bool { return s.Dead == 2 && s.Workers == 0 })
	newWorkers(t, d, 1, double)
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), n)
	if s := d.Stats(); s.Requeued != 2 || s.Duplicates != 0 || s.Forged != 0 || s.Results != n {
		t.Fatalf("stats %+v", s)
	}
}

// TestWorkerHearsWhileBusy: a Worker reads the distributor's
// heartbeats while its handler runs, so that they do not fill its queue:
// with queues of 4 messages, a task that lasts 20 heartbeats (5 times the
// queue) neither buries the worker nor goes to another.
func TestWorkerHearsWhileBusy(t *testing.T) {
	ctx := testCtx(t)
	small := distributor.WithSocketOptions(socket.WithSendHWM(4), socket.WithRecvHWM(4))
	d := newDist(t, "inproc", small)
	started, release := make(chan struct{}, 1), make(chan struct{})
	var calls atomic.Int64
	w := newWorkers(t, d, 1, func(ctx context.Context, task []byte) ([]byte, error) {
		calls.Add(1)
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return double(ctx, task)
	}, small)[0]
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: 1, Tasks: numbers(1, nil)}))
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the task never started")
	}
	busySince := time.Now()
	if err := w.Wait(ctx, func(s distributor.WorkerStats) bool { return s.LastHeard.After(busySince.Add(20 * beatInterval)) }); err != nil {
		t.Fatalf("the busy worker stopped hearing the distributor: %v; %+v; stats %+v", err, w.Stats(), d.Stats())
	}
	close(release)
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), 1)
	if s := d.Stats(); calls.Load() != 1 || s.Dead != 0 || s.Requeued != 0 || s.Workers != 1 {
		t.Fatalf("handler calls %d; stats %+v", calls.Load(), s)
	}
}

// TestRoundRobinByeGivesBack: a round-robin worker that says BYE with
// tasks in hand (a Worker killed mid-batch drops those queued behind the
// one it is at) has them given back, as a demand-driven one does: they go
// to the worker that comes next, and the batch completes.
func TestRoundRobinByeGivesBack(t *testing.T) {
	ctx := testCtx(t)
	d := newDist(t, "tcp", distributor.WithRoundRobin())
	eps := d.Endpoints()
	pull, push := rawWorker(t, ctx, eps)
	say := func(word string) {
		t.Helper()
		if err := push.Send(ctx, socket.Msg{[]byte(word), []byte("leaver")}); err != nil {
			t.Fatal(err)
		}
	}
	say("HELLO")
	waitStats(t, ctx, d, "the raw worker", func(s distributor.Stats) bool { return s.Workers == 1 })
	const n = 10
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	waitStats(t, ctx, d, "every task at the raw worker", func(s distributor.Stats) bool { return s.InFlight == n })
	// It leaves as a killed Worker does: its tasks dropped, then BYE.
	pull.Close()
	say("BYE")
	waitStats(t, ctx, d, "the raw worker gone", func(s distributor.Stats) bool { return s.Workers == 0 })
	newWorkers(t, d, 1, double)
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), n)
	// Each task went out again at least once: more when the distributor
	// sent them again before it saw the raw worker's connection end, and
	// once more at the end, for those the PUSH dealt to it.
	if s := d.Stats(); s.Results != n || s.Requeued < n || s.Dead != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRoundRobinLeaverTakesNoTask: round-robin, a worker that says BYE
// keeps its task connection until it has closed its sockets, as a killed
// Worker does, and the PUSH deals it its share of what goes out meanwhile,
// which it drops. Every task it held or was dealt goes out again once its
// connection has ended, to the workers that stay or to one that comes
// later: the batch completes with each result once.
func TestRoundRobinLeaverTakesNoTask(t *testing.T) {
	const n = 10
	// say sends HELLO or BYE in the raw worker's name.
	say := func(t *testing.T, ctx context.Context, push *socket.Socket, word string) {
		t.Helper()
		if err := push.Send(ctx, socket.Msg{[]byte(word), []byte("leaver")}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, ctx context.Context, d *distributor.Distributor, h *distributor.BatchHandle) {
		t.Helper()
		s, err := h.Wait(ctx)
		if err != nil {
			t.Fatalf("the batch did not complete: %v; stats %+v", err, d.Stats())
		}
		checkDoubled(t, s, n)
		if st := d.Stats(); st.Results != n || st.Forged != 0 || st.Late != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
	// A worker stays: the leaver's tasks go to it, with no HELLO to come.
	t.Run("stays", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		d := newDist(t, "tcp", distributor.WithRoundRobin())
		pull, push := rawWorker(t, ctx, d.Endpoints())
		say(t, ctx, push, "HELLO")
		newWorkers(t, d, 1, double)
		waitStats(t, ctx, d, "2 workers", func(s distributor.Stats) bool { return s.Workers == 2 })
		h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
		if _, err := pull.Recv(ctx); err != nil {
			// Seen once in a full run of the suite (2026-12-07): the
			// leaver was dealt nothing in 60 s. What the distributor
			// and the batch say then is what a diagnosis needs.
			sum, werr := h.Wait(testCtx(t))
			t.Fatalf("the leaver got no task: %v; stats %+v; the batch: %+v, %v", err, d.Stats(), sum, werr)
		}
		say(t, ctx, push, "BYE")
		pull.Close()
		check(t, ctx, d, h)
	})
	// A worker comes after the BYE, while the leaver is still connected:
	// the leaver's tasks, for which it said no ACK, go out again once the
	// grace is over, and are dealt to both.
	t.Run("joins", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		d := newDist(t, "tcp", distributor.WithRoundRobin())
		pull, push := rawWorker(t, ctx, d.Endpoints())
		say(t, ctx, push, "HELLO")
		waitStats(t, ctx, d, "the leaver", func(s distributor.Stats) bool { return s.Workers == 1 })
		h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
		waitStats(t, ctx, d, "every task at the leaver", func(s distributor.Stats) bool { return s.InFlight == n })
		say(t, ctx, push, "BYE")
		waitStats(t, ctx, d, "the leaver gone", func(s distributor.Stats) bool { return s.Workers == 0 })
		newWorkers(t, d, 1, double)
		// The leaver's tasks go out again on a PUSH that still has the
		// leaver's connection.
		waitStats(t, ctx, d, "the tasks sent again", func(s distributor.Stats) bool { return s.Workers == 1 && s.Requeued >= n })
		pull.Close()
		check(t, ctx, d, h)
	})
}

// TestRoundRobinNoWorkerYet: round-robin with no worker connected, the
// first batch's tasks wait for one without holding the distributor up: a
// second Submit is answered, Kill with no worker returns at once, and both
// batches complete once a worker comes.
func TestRoundRobinNoWorkerYet(t *testing.T) {
	ctx := testCtx(t)
	d := newDist(t, "tcp", distributor.WithRoundRobin())
	const n = 5
	h1 := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	type submitted struct {
		h   *distributor.BatchHandle
		err error
	}
	second := make(chan submitted, 1)
	go func() {
		h, err := d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)})
		second <- submitted{h, err}
	}()
	var h2 *distributor.BatchHandle
	select {
	case s := <-second:
		if s.err != nil {
			t.Fatal(s.err)
		}
		h2 = s.h
	case <-ctx.Done():
		t.Fatalf("a second Submit was not answered while the first batch waited for a worker; stats %+v", d.Stats())
	}
	if err := d.Kill(ctx); err != nil {
		t.Fatalf("Kill with no worker: %v", err)
	}
	newWorkers(t, d, 1, double)
	checkDoubled(t, must[distributor.BatchSummary](t)(h1.Wait(ctx)), n)
	checkDoubled(t, must[distributor.BatchSummary](t)(h2.Wait(ctx)), n)
}

// TestRoundRobinHeartbeatIsHello: round-robin, a worker the distributor
// does not know (it buried the worker, or restarted) comes back with a
// HEARTBEAT on the results channel and no HELLO. The HEARTBEAT counts it
// in as a HELLO does, and the tasks that found no worker go to it at
// once: the distributor's tick, which would send them too, is ten times
// the test's wait away. Each task goes out once.
func TestRoundRobinHeartbeatIsHello(t *testing.T) {
	ctx := testCtx(t)
	// Inproc: a worker's task connection is among the PUSH's peers when
	// its Connect returns, so its HEARTBEAT cannot come before the PUSH
	// can deal to it.
	d := newDist(t, "inproc", distributor.WithRoundRobin(), distributor.WithHeartbeat(10*wait, steadyLiveness))
	const n = 5
	// The puller's first yield returns once the distributor has taken the
	// task to send; a Submit after that is answered after the send found
	// no worker, and the tasks wait.
	tried := make(chan struct{})
	first := func(yield func([]byte) bool) {
		for i := range n {
			if !yield([]byte(strconv.Itoa(i))) {
				return
			}
			if i == 0 {
				close(tried)
			}
		}
	}
	h1 := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: first}))
	select {
	case <-tried:
	case <-ctx.Done():
		t.Fatal("the distributor did not take the first task")
	}
	h2 := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	pull, push := rawWorker(t, ctx, d.Endpoints())
	if err := push.Send(ctx, socket.Msg{[]byte("HEARTBEAT"), []byte("back")}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * n {
		task, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("task %d of %d did not come: %v; stats %+v", i+1, 2*n, err, d.Stats())
		}
		if len(task) != 4 {
			t.Fatalf("got %q, not a task", task)
		}
		out, err := double(ctx, task[3])
		if err != nil {
			t.Fatal(err)
		}
		res := append(append(socket.Msg{[]byte("RESULT"), []byte("back")}, task[:3]...), []byte{0}, out)
		if err := push.Send(ctx, res); err != nil {
			t.Fatal(err)
		}
	}
	checkDoubled(t, must[distributor.BatchSummary](t)(h1.Wait(ctx)), n)
	checkDoubled(t, must[distributor.BatchSummary](t)(h2.Wait(ctx)), n)
	if s := d.Stats(); s.Workers != 1 || s.Results != 2*n || s.Dispatched != 2*n || s.Duplicates != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// rawWorker connects a hand-written worker's sockets to a distributor: a
// PULL for tasks, connected once it returns, and a PUSH for results.
func rawWorker(t *testing.T, ctx context.Context, eps distributor.Endpoints) (pull, push *socket.Socket) {
	t.Helper()
	pull = newSocket(t, socket.Pull)
	events := pull.Monitor()
	if err := pull.Connect(eps.Tasks); err != nil {
		t.Fatal(err)
	}
	for connected := false; !connected; {
		select {
		case e := <-events:
			connected = e.Kind == socket.EventHandshakeOK
		case <-ctx.Done():
			t.Fatal("the raw worker's task socket did not connect")
		}
	}
	push = newSocket(t, socket.Push)
	if err := push.Connect(eps.Results); err != nil {
		t.Fatal(err)
	}
	return pull, push
}

// TestRoundRobinOthersLeave: round-robin, a Worker that holds tasks (it
// said ACK for each) keeps them when another peer of the task endpoint
// goes: one that connected and never said HELLO (tcp), or a worker that
// said HELLO, took its share and said BYE (tcp, and inproc, which reports
// no ended connection), followed by peers that connect and go at once.
// Only the tasks dealt to the peer that went go out again, each task runs
// once, and no result comes twice.
func TestRoundRobinOthersLeave(t *testing.T) {
	for _, c := range []struct {
		name, transport string
		hello           bool
	}{{"stranger tcp", "tcp", false}, {"worker tcp", "tcp", true}, {"worker inproc", "inproc", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			d := newDist(t, c.transport, distributor.WithRoundRobin())
			release := make(chan struct{})
			var calls atomic.Int64
			w := newWorkers(t, d, 1, func(ctx context.Context, task []byte) ([]byte, error) {
				calls.Add(1)
				select {
				case <-release:
				case <-ctx.Done():
				}
				return double(ctx, task)
			})[0]
			heard(t, ctx, w)
			pull, push := rawWorker(t, ctx, d.Endpoints())
			say := func(word string) {
				t.Helper()
				if err := push.Send(ctx, socket.Msg{[]byte(word), []byte("other")}); err != nil {
					t.Fatal(err)
				}
			}
			want := 1
			if c.hello {
				say("HELLO")
				want = 2
			}
			waitStats(t, ctx, d, "the workers", func(s distributor.Stats) bool { return s.Workers == want })
			// The other peer reads what it is dealt, and says no ACK. Its
			// reads end with rctx, not with the socket's Close.
			var got atomic.Int64
			read := make(chan struct{}, 1) // a kick after each read
			rctx, stopReading := context.WithCancel(ctx)
			reading := make(chan struct{})
			go func() {
				defer close(reading)
				for {
					if _, err := pull.Recv(rctx); err != nil {
						return
					}
					got.Add(1)
					select {
					case read <- struct{}{}:
					default: // one is pending: the wait looks at got again
					}
				}
			}()
			const n = 20
			h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
			// Every task out, the Worker's ACKed, the rest read by the
			// other peer. The stats are published only when they change,
			// and the last change may come before the last read: the
			// reader's kick has cond looked at again. Unacked is at least
			// the other peer's share, and got at most that, so they are
			// equal only once all of it is read and the Worker's ACKs are
			// all in.
			waitStatsKicked(t, ctx, d, "every task at the Worker (ACKed) or the other peer", read, func(s distributor.Stats) bool {
				return s.InFlight == n && s.Unacked == int(got.Load())
			})
			k := int(got.Load())
			if c.hello {
				say("BYE")
				// Its BYE is how the distributor learns it left: inproc
				// reports no ended connection.
				waitStats(t, ctx, d, "the other worker gone", func(s distributor.Stats) bool { return s.Workers == 1 })
			}
			stopReading()
			<-reading
			pull.Close()
			push.Close()
			// The other peer's tasks go out again, to the Worker.
			waitStats(t, ctx, d, "the other peer's tasks sent again", func(s distributor.Stats) bool {
				return s.Requeued >= uint64(k) && s.Unacked == 0
			})
			// Peers that come and go at once change nothing.
			for range 3 {
				p, q := rawWorker(t, ctx, d.Endpoints())
				p.Close()
				q.Close()
			}
			close(release)
			s, err := h.Wait(ctx)
			if err != nil {
				t.Fatalf("wait: %v; stats %+v", err, d.Stats())
			}
			checkDoubled(t, s, n)
			if err := w.Wait(ctx, func(ws distributor.WorkerStats) bool { return ws.Handled >= n }); err != nil {
				t.Fatalf("worker stats %+v: %v", w.Stats(), err)
			}
			st := d.Stats()
			if calls.Load() != n || st.Results != n || st.Duplicates != 0 || st.Forged != 0 || st.Late != 0 {
				t.Fatalf("the other peer had %d tasks: handler calls %d, want %d; stats %+v", k, calls.Load(), n, st)
			}
		})
	}
}

// TestRoundRobinStrangerHolds: round-robin, a peer connects to the task
// endpoint, never says HELLO, and neither reads what the PUSH deals it nor
// goes. While every worker says ACK, the tasks that none has said ACK for
// within the liveness go out again, until they reach a Worker: the batch
// completes, each task run once.
//
// Inproc: the stranger is among the PUSH's peers once its Connect returns,
// so it is dealt its share (over tcp it may join after the tasks went out).
func TestRoundRobinStrangerHolds(t *testing.T) {
	for _, transport := range []string{"inproc"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel() // it waits out the liveness a few times
			ctx := testCtx(t)
			// Liveness of 2 s: a Worker says ACK well within it, and the
			// stranger's share goes out again after it.
			d := newDist(t, transport, distributor.WithRoundRobin(), distributor.WithHeartbeat(beatInterval, 40))
			var calls atomic.Int64
			newWorkers(t, d, 1, countingDouble(&calls))
			waitStats(t, ctx, d, "the worker", func(s distributor.Stats) bool { return s.Workers == 1 })
			rawWorker(t, ctx, d.Endpoints()) // the stranger
			const n = 8
			h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
			s, err := h.Wait(ctx)
			if err != nil {
				t.Fatalf("wait: %v; stats %+v", err, d.Stats())
			}
			checkDoubled(t, s, n)
			st := d.Stats()
			if calls.Load() != n || st.Results != n || st.Duplicates != 0 || st.Forged != 0 || st.Dead != 0 {
				t.Fatalf("handler calls %d, want %d; stats %+v", calls.Load(), n, st)
			}
		})
	}
}
