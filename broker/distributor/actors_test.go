package distributor_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/broker/distributor"
	"github.com/zmqflow/zmqflow/socket"
)

// The distributor and the worker's session and handler are actors that
// report to the observer, the distributor's counts as figures; when the
// distributor goes, the worker's session finds it silent, fails, and the
// supervisor starts a new one.
func TestObserved(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	d := newDist(t, "inproc", distributor.WithObserver(rec))
	// quickBeat: the worker must find the closed distributor silent soon.
	w := newWorkers(t, d, 1, double, quickBeat, fastReconnect, distributor.WithObserver(rec))[0]
	const n = 5
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	checkDoubled(t, must[distributor.BatchSummary](t)(h.Wait(ctx)), n)
	heard(t, ctx, w)
	for _, name := range []string{"distributor", "distributor worker", "distributor worker handler"} {
		rec.Await(t, actortest.Started, name, wait)
		rec.Await(t, actortest.Handled, name, wait)
	}
	rec.AwaitFigure(t, "distributor", "Results", func(v int64) bool { return v == n }, wait)
	rec.AwaitFigure(t, "distributor", "Completed", func(v int64) bool { return v == 1 }, wait)
	rec.AwaitFigure(t, "distributor", "Workers", func(v int64) bool { return v == 1 }, wait)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Await(t, actortest.Stopped, "distributor", wait)
	if ev := rec.Await(t, actortest.Failed, "distributor worker", wait); !strings.Contains(ev.Err.Error(), "no word from the distributor") {
		t.Fatalf("session failed with %v, want the distributor's silence", ev.Err)
	}
	rec.Await(t, actortest.Restarted, "distributor worker", wait)
}

// A panic in the distributor's behaviour (here from its logger, at a
// malformed message) restarts it with fresh state on the same sockets: the
// batch in progress is lost (ErrBatchLost), the workers find the new
// incarnation silent and say HELLO and READY again, the next batch
// completes on them, and the counters go on.
func TestRestartsAfterPanic(t *testing.T) {
	ctx := testCtx(t)
	var armed atomic.Bool
	armed.Store(true)
	core, _ := observer.New(zapcore.WarnLevel)
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "unknown message on the sink" && armed.CompareAndSwap(true, false) {
			panic("injected")
		}
		return nil
	}))
	rec := actortest.NewRecorder()
	d := newDist(t, "inproc", distributor.WithLogger(log), distributor.WithObserver(rec))
	// The first batch's tasks hold their workers until the restart.
	release := make(chan struct{})
	var started atomic.Int64
	h := func(ctx context.Context, task []byte) ([]byte, error) {
		if string(task) == "hold" {
			started.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return task, nil
		}
		return double(ctx, task)
	}
	// quickBeat and fastReconnect: the workers must find the restarted
	// distributor silent soon; one that registers again needlessly only
	// gives its task back, which this test allows.
	ws := newWorkers(t, d, 2, h, quickBeat, fastReconnect)
	waitStats(t, ctx, d, "2 workers", func(s distributor.Stats) bool { return s.Workers == 2 })
	held := func(yield func([]byte) bool) {
		for range 4 {
			if !yield([]byte("hold")) {
				return
			}
		}
	}
	lost := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: 4, Tasks: held}))
	waitStats(t, ctx, d, "2 tasks on the workers", func(s distributor.Stats) bool { return s.InFlight == 2 })
	// A worker judges a distributor by its silence only once it has heard
	// its heartbeats (an older one sends none).
	for _, w := range ws {
		heard(t, ctx, w)
	}
	before := d.Stats()

	push := newSocket(t, socket.Push)
	if err := push.Connect(d.Endpoints().Results); err != nil {
		t.Fatal(err)
	}
	if err := push.Send(ctx, socket.NewMsgString("BOGUS")); err != nil {
		t.Fatal(err)
	}
	var pe *actor.PanicError
	if ev := rec.Await(t, actortest.Failed, "distributor", wait); !errors.As(ev.Err, &pe) {
		t.Fatalf("distributor failed with %v, want the panic", ev.Err)
	}
	rec.Await(t, actortest.Restarted, "distributor", wait)
	if _, err := lost.Wait(ctx); !errors.Is(err, distributor.ErrBatchLost) {
		t.Fatalf("the batch in progress: %v, want ErrBatchLost", err)
	}
	close(release)

	const n = 20
	hb := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)}))
	s, err := hb.Wait(ctx)
	if err != nil {
		t.Fatalf("after the restart: %v; stats %+v", err, d.Stats())
	}
	checkDoubled(t, s, n)
	st := d.Stats()
	if st.Lost != 1 || st.Completed != 1 || st.Dispatched < before.Dispatched+n || st.Results != n {
		t.Fatalf("stats %+v (before the restart %+v): the counters should go on", st, before)
	}
	// The batch may be done before the second worker is back.
	for _, w := range ws {
		if err := w.Wait(ctx, func(s distributor.WorkerStats) bool { return s.Reregistered >= 1 }); err != nil {
			t.Fatalf("worker %s did not register again: %v; %+v", w.ID(), err, w.Stats())
		}
	}
	select {
	case <-d.Done():
		t.Fatalf("distributor ended: %v", d.Err())
	default:
	}
}

// heard waits until w has heard the distributor's heartbeats: only then
// does it judge the distributor by its silence (an older one sends none).
func heard(t *testing.T, ctx context.Context, w *distributor.Worker) {
	t.Helper()
	if err := w.Wait(ctx, func(s distributor.WorkerStats) bool { return !s.LastHeard.IsZero() }); err != nil {
		t.Fatalf("worker %s never heard the distributor's heartbeats: %v", w.ID(), err)
	}
}

// After Close, Submit, Kill and Wait say ErrClosed, and so does the Wait
// of a batch that was in progress.
func TestClosed(t *testing.T) {
	ctx := testCtx(t)
	d := must[*distributor.Distributor](t)(distributor.New(inproc(), inproc(), inproc(), steadyBeat))
	// No worker: the batch stays in progress.
	h := must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: 3, Tasks: numbers(3, nil)}))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(ctx); !errors.Is(err, distributor.ErrClosed) {
		t.Fatalf("Wait of a batch in progress at Close: %v, want ErrClosed", err)
	}
	if _, err := d.Submit(ctx, distributor.Batch{Size: 1, Tasks: numbers(1, nil)}); !errors.Is(err, distributor.ErrClosed) {
		t.Fatalf("Submit after Close: %v, want ErrClosed", err)
	}
	if err := d.Kill(ctx); !errors.Is(err, distributor.ErrClosed) {
		t.Fatalf("Kill after Close: %v, want ErrClosed", err)
	}
	if err := d.Wait(ctx, func(distributor.Stats) bool { return false }); !errors.Is(err, distributor.ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Options a constructor does not take, values out of range and nil
// arguments are refused with ErrBadOption, naming the option and the
// constructor, before anything starts.
func TestBadOptions(t *testing.T) {
	eps := distributor.Endpoints{Tasks: inproc(), Results: inproc(), Control: inproc()}
	dist := func(o distributor.Option) error {
		d, err := distributor.New(inproc(), inproc(), inproc(), o)
		if err == nil {
			d.Close()
		}
		return err
	}
	worker := func(o distributor.Option) error {
		w, err := distributor.NewWorker(eps, double, o)
		if err == nil {
			w.Close()
		}
		return err
	}
	type ctor struct {
		name string
		make func(distributor.Option) error
	}
	D, W := ctor{"New", dist}, ctor{"NewWorker", worker}
	for _, tc := range []struct {
		option string
		o      distributor.Option
		not    []ctor
	}{
		{"WithCredit", distributor.WithCredit(2), []ctor{D}},
		{"WithReconnect", distributor.WithReconnect(time.Second, 2*time.Second), []ctor{D}},
		{"WithRoundRobin", distributor.WithRoundRobin(), []ctor{W}},
		{"WithWindow", distributor.WithWindow(10), []ctor{W}},
		{"WithMaxDeliveries", distributor.WithMaxDeliveries(2), []ctor{W}},
	} {
		for _, c := range tc.not {
			err := c.make(tc.o)
			if !errors.Is(err, distributor.ErrBadOption) || !strings.Contains(err.Error(), tc.option) || !strings.Contains(err.Error(), c.name) {
				t.Errorf("%s(%s): %v, want ErrBadOption naming both", c.name, tc.option, err)
			}
		}
	}
	for name, o := range map[string]distributor.Option{
		"zero":         {},
		"nil observer": distributor.WithObserver(nil),
		"nil logger":   distributor.WithLogger(nil),
		"nil socket":   distributor.WithSocketOptions(nil),
		"heartbeat 0":  distributor.WithHeartbeat(0, 3),
		"liveness 0":   distributor.WithHeartbeat(time.Second, 0),
	} {
		for _, c := range []ctor{D, W} {
			if err := c.make(o); !errors.Is(err, distributor.ErrBadOption) {
				t.Errorf("%s(%s): %v, want ErrBadOption", c.name, name, err)
			}
		}
	}
	for name, err := range map[string]error{
		"window 0":       dist(distributor.WithWindow(0)),
		"deliveries 0":   dist(distributor.WithMaxDeliveries(0)),
		"credit 0":       worker(distributor.WithCredit(0)),
		"credit 2^20+1":  worker(distributor.WithCredit(1<<20 + 1)),
		"reconnect max<": worker(distributor.WithReconnect(2*time.Second, time.Second)),
		"nil handler":    func() error { _, err := distributor.NewWorker(eps, nil); return err }(),
	} {
		if !errors.Is(err, distributor.ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
	// Each constructor takes the options meant for it.
	if err := dist(distributor.WithWindow(10)); err != nil {
		t.Errorf("New(WithWindow): %v", err)
	}
	if err := worker(distributor.WithCredit(2)); err != nil {
		t.Errorf("NewWorker(WithCredit): %v", err)
	}
	// Bad endpoints fail the constructor, which leaves nothing running.
	if _, err := distributor.New("bogus://x", inproc(), inproc()); err == nil {
		t.Error("New accepted a bad endpoint")
	}
	if _, err := distributor.New(inproc(), inproc(), "bogus://x"); err == nil {
		t.Error("New accepted a bad endpoint")
	}
	bad := eps
	bad.Results = "bogus://x"
	if _, err := distributor.NewWorker(bad, double); err == nil {
		t.Error("NewWorker accepted a bad endpoint")
	}
}
