package gridsearch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCtx bounds a test: long enough for a busy machine to stall it for a
// second or more many times over (and for TestServeIdleLateMaster's idle
// time twice).
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collect runs cfg and returns each point's record, failing on a point
// reported twice.
func collect(t *testing.T, ctx context.Context, cfg gridsearch.Config) (map[int]gridsearch.Record, gridsearch.Summary, error) {
	t.Helper()
	var mu sync.Mutex
	recs := map[int]gridsearch.Record{}
	cfg.OnResult = func(r gridsearch.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := recs[r.Point]; dup {
			t.Errorf("point %d reported twice", r.Point)
		}
		recs[r.Point] = r
		return nil
	}
	sum, err := gridsearch.Run(ctx, cfg)
	return recs, sum, err
}

func TestRunFunc(t *testing.T) {
	g, err := gridsearch.NewGrid("p=0:3:10", "q=1..7")
	if err != nil {
		t.Fatal(err)
	}
	fn := func(ctx context.Context, pt gridsearch.Point) (any, error) {
		return map[string]float64{"v": math.Sin(pt.Float("p") + 2*pt.Float("q"))}, nil
	}
	recs, sum, err := collect(t, testCtx(t), gridsearch.Config{Grid: g, Func: fn, Workers: 3,
		Skip: func(i int) bool { return i == 5 }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != g.Len()-1 || sum.Skipped != 1 || sum.Failed != 0 || len(recs) != g.Len()-1 {
		t.Fatalf("summary %+v, %d records", sum, len(recs))
	}
	for i := range g.Len() {
		r, ok := recs[i]
		if i == 5 {
			if ok {
				t.Error("skipped point 5 was run")
			}
			continue
		}
		pt := g.Point(i)
		want := math.Sin(pt.Float("p") + 2*pt.Float("q"))
		if v, ok := gridsearch.Field(r.Result, "v"); !ok || v != want || r.Attempts != 1 {
			t.Errorf("point %d: %s attempts %d, want v=%v", i, r.Result, r.Attempts, want)
		}
	}
	all := make([]gridsearch.Record, 0, len(recs))
	for _, r := range recs {
		all = append(all, r)
	}
	if b := gridsearch.Best(all, "v", true); b < 0 || all[b].Result == nil {
		t.Error("no best point")
	}
}

func TestRunCommandRetriesTimeoutHalt(t *testing.T) {
	ctx := testCtx(t)
	g, _ := gridsearch.NewGrid("n=1..4")
	// Exit status n%2: odd points fail, and are retried twice.
	recs, sum, err := collect(t, ctx, gridsearch.Config{Grid: g, Workers: 2, Retries: 2,
		Command: []string{"sh", "-c", `echo '{"n": '$1'}'; echo oops >&2; exit $(($1 % 2))`, "sh", "{n}"}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 2 || sum.Failed != 2 {
		t.Fatalf("summary %+v", sum)
	}
	for i, r := range recs {
		n := i + 1
		if n%2 == 1 && (r.OK() || r.Attempts != 3 || r.Exit != 1 || r.Stderr != "oops\n" || r.Result != nil) {
			t.Errorf("failing point %d: %+v", n, r)
		}
		if n%2 == 0 && (!r.OK() || r.Attempts != 1 || string(r.Result) != fmt.Sprintf(`{"n":%d}`, n)) {
			t.Errorf("point %d: %+v", n, r)
		}
	}

	// A point past its timeout is killed: a sleep that would outlast the
	// test (and its ctx) ends as a timeout.
	start := time.Now()
	recs, _, err = collect(t, ctx, gridsearch.Config{Grid: g, Workers: 4, Timeout: 100 * time.Millisecond,
		Command: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != g.Len() {
		t.Errorf("%d records of timed-out points, want %d", len(recs), g.Len())
	}
	for _, r := range recs {
		if r.OK() || r.Error != "timeout after 100ms" {
			t.Errorf("timed-out point: %+v", r)
		}
	}
	t.Logf("4 timeouts of 100ms took %v", time.Since(start).Round(time.Millisecond))

	// Halt after 2 failures: with one worker, exactly 2 points run (no
	// point waits at the broker to be run after the halt).
	g, _ = gridsearch.NewGrid("n=1..50")
	var calls atomic.Int32
	recs, sum, err = collect(t, ctx, gridsearch.Config{Grid: g, Workers: 1, Halt: 2,
		Func: func(context.Context, gridsearch.Point) (any, error) { calls.Add(1); return nil, errors.New("no") }})
	if !errors.Is(err, gridsearch.ErrHalted) || !sum.Halted || sum.Failed != 2 || len(recs) != 2 || calls.Load() != 2 {
		t.Errorf("halt: %v, %+v, %d records, %d calls", err, sum, len(recs), calls.Load())
	}
}

// HaltPercent counts from HaltMinPoints finished points; HaltNow gives up
// the running points, which are not reported.
func TestRunHaltPercentAndNow(t *testing.T) {
	ctx := testCtx(t)
	g, _ := gridsearch.NewGrid("n=0..99")
	var calls atomic.Int32
	// Even points fail: 1 failure in 1 at the first, 50% at each even count.
	recs, sum, err := collect(t, ctx, gridsearch.Config{Grid: g, Workers: 1, HaltPercent: 50, HaltMinPoints: 6,
		Func: func(_ context.Context, p gridsearch.Point) (any, error) {
			calls.Add(1)
			if p.Index%2 == 0 {
				return nil, errors.New("even")
			}
			return 1, nil
		}})
	if !errors.Is(err, gridsearch.ErrHalted) || sum.Done+sum.Failed != 6 || len(recs) != 6 || calls.Load() != 6 {
		t.Errorf("50%% from 6: %v, %+v, %d records, %d calls", err, sum, len(recs), calls.Load())
	}

	// Point 0 fails once point 1 runs; point 1 waits for its ctx.
	g, _ = gridsearch.NewGrid("n=0,1")
	running := make(chan struct{})
	ended := make(chan struct{})
	recs, sum, err = collect(t, ctx, gridsearch.Config{Grid: g, Workers: 2, Halt: 1, HaltNow: true,
		Func: func(pctx context.Context, p gridsearch.Point) (any, error) {
			if p.Index == 0 {
				select {
				case <-running:
				case <-pctx.Done():
				}
				return nil, errors.New("zero")
			}
			close(running)
			select {
			case <-pctx.Done():
				close(ended)
				return nil, pctx.Err()
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}})
	if !errors.Is(err, gridsearch.ErrHalted) || len(recs) != 1 || recs[0].OK() || sum.Failed != 1 {
		t.Errorf("now: %v, %+v, records %v", err, sum, recs)
	}
	select {
	case <-ended:
	default:
		t.Error("the running point's ctx did not end before Run returned")
	}
}

func TestRunInterrupted(t *testing.T) {
	g, _ := gridsearch.NewGrid("n=1..1000")
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var once sync.Once
	fn := func(ctx context.Context, pt gridsearch.Point) (any, error) {
		if pt.Index == 10 {
			once.Do(cancel)
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
		}
		return pt.Index, nil
	}
	recs, sum, err := collect(t, ctx, gridsearch.Config{Grid: g, Func: fn, Workers: 4})
	if !errors.Is(err, gridsearch.ErrInterrupted) || !sum.Interrupted || len(recs) == 1000 {
		t.Errorf("interrupted: %v, %+v, %d records", err, sum, len(recs))
	}
	for i, r := range recs {
		if v, ok := gridsearch.Field(r.Result, "."); !ok || int(v) != i {
			t.Errorf("point %d: %s", i, r.Result)
		}
	}
}

func TestRunBadConfig(t *testing.T) {
	ctx := testCtx(t)
	g, _ := gridsearch.NewGrid("p=1,2")
	for _, cfg := range []gridsearch.Config{
		{},
		{Grid: g},
		{Grid: g, Command: []string{"echo", "{x}"}},
		{Grid: g, Command: []string{"true"}, Workers: -1},
		{Grid: g, Command: []string{"true"}, Retries: -1},
	} {
		if _, err := gridsearch.Run(ctx, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// A point whose workers die running it, as many times as the broker's
// WithMaxDeliveries allows, fails at once (not after the master's
// last-resort timeout) and is not retried; the other points are done.
func TestRunAbandonedPoint(t *testing.T) {
	ctx := testCtx(t)
	g, _ := gridsearch.NewGrid("n=0..9")
	// Heartbeats every 50 ms, and 10 s of silence before a peer is buried:
	// a worker that dies closes its connection, which the master finds at
	// its next heartbeat; a test stalled for a second buries no live one.
	beat := pirate.WithHeartbeat(50*time.Millisecond, 200)
	// A remote worker of one slot that dies when given point 3; another
	// takes its place each time.
	workersCtx, stopWorkers := context.WithCancel(ctx)
	var deaths atomic.Int32
	served := make(chan error, 1)
	workers := func(ep string) {
		for workersCtx.Err() == nil {
			wctx, die := context.WithCancel(workersCtx)
			fn := func(ctx context.Context, pt gridsearch.Point) (any, error) {
				if pt.Index == 3 {
					deaths.Add(1)
					die()
					<-ctx.Done()
					return nil, ctx.Err()
				}
				return pt.Index, nil
			}
			if err := gridsearch.Serve(wctx, ep, 1, fn, beat); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}
	start := time.Now()
	recs, sum, err := collect(t, ctx, gridsearch.Config{Grid: g, Workers: -1, Retries: 3,
		Func:          func(context.Context, gridsearch.Point) (any, error) { return nil, errors.New("not here") },
		Bind:          "tcp://127.0.0.1:*",
		BrokerOptions: []pirate.Option{beat, pirate.WithMaxDeliveries(2)},
		WorkerOptions: []pirate.Option{beat},
		OnBound:       func(ep string) { go workers(ep) }})
	stopWorkers()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The master's last-resort timeout is an hour (its client's): the
	// test's ctx, far shorter, is what bounds "at once".
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
	// Its attempts are the two runs begun, one a death; a retry (Retries
	// is 3) would have begun more.
	r := recs[3]
	if sum.Done != 9 || sum.Failed != 1 || r.OK() || r.Attempts != 2 || !strings.HasPrefix(r.Error, "abandoned") || deaths.Load() != 2 {
		t.Fatalf("summary %+v; %d deaths; point 3: %+v", sum, deaths.Load(), r)
	}
	t.Logf("point 3 after %d deaths: %s", deaths.Load(), r.Error)
}

// ServeIdle with no master at all gives up after its idle time, by itself
// (ErrIdle, not the end of its ctx) and no sooner, and says it never heard
// one (ErrNeverHeard), which a worker tells apart from a master lost.
func TestServeIdleNoMaster(t *testing.T) {
	start := time.Now()
	err := gridsearch.ServeIdle(testCtx(t), "tcp://127.0.0.1:1", 2, nil, 200*time.Millisecond)
	if !errors.Is(err, gridsearch.ErrIdle) || !errors.Is(err, gridsearch.ErrNeverHeard) {
		t.Fatalf("ServeIdle = %v, want ErrIdle and ErrNeverHeard", err)
	}
	d := time.Since(start)
	t.Logf("gave up after %v", d.Round(time.Millisecond))
	if d < 200*time.Millisecond {
		t.Errorf("gave up after %v, before its idle time of 200 ms", d)
	}
}

// OnHeard is called once a slot hears a master, and only then: never for
// a worker whose ctx ends with no master about; once for one that served
// a grid, its ctx ended afterwards.
func TestServeOnHeard(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := "tcp://" + l.Addr().String()
	l.Close()
	heard := 0
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = gridsearch.ServeWith(short, gridsearch.ServeConfig{Endpoint: nobody, Slots: 2, OnHeard: func() { heard++ }})
	cancel()
	if err != nil || heard != 0 {
		t.Fatalf("no master: ServeWith = %v, OnHeard called %d times; want nil, 0", err, heard)
	}

	g, _ := gridsearch.NewGrid("x=1..4")
	square := func(ctx context.Context, pt gridsearch.Point) (any, error) { return pt.Float("x") * pt.Float("x"), nil }
	wctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	sum, err := gridsearch.Run(ctx, gridsearch.Config{Grid: g, Func: square, Workers: -1, Bind: "tcp://127.0.0.1:*",
		OnBound: func(ep string) {
			go func() {
				served <- gridsearch.ServeWith(wctx, gridsearch.ServeConfig{Endpoint: ep, Slots: 2, Func: square, OnHeard: func() { heard++ }})
			}()
		}})
	stop()
	if err != nil || sum.Done != 4 {
		t.Fatalf("Run: %v, %+v", err, sum)
	}
	if err := <-served; err != nil || heard != 1 {
		t.Fatalf("served a master: ServeWith = %v, OnHeard called %d times; want nil, 1", err, heard)
	}
}

// A master that comes up while ServeIdle's slots wait to reconnect is
// found within idle: their back-off is capped at a quarter of it.
//
// Idle is 15 s, so the cap is 3.75 s. The slot gives up each attempt
// after 150 ms of silence (quick heartbeats: no master is there to bury by
// mistake), then waits 1 s, 2 s, and 3.75 s from then on: it tries again
// at about 0.2, 1.4, 3.6, 7.5 and 11.5 s. The master comes up at 8 s and is
// found at 11.5 s, 3.5 s before the slot would give up: a stall of the
// machine shifts the tries by as much before it fails the test. Without
// the cap the slot would try at 7.8 s and next at 16 s, past its idle time.
func TestServeIdleLateMaster(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + l.Addr().String()
	l.Close()
	const idle = 15 * time.Second
	quick := pirate.WithHeartbeat(50*time.Millisecond, 3)
	square := func(ctx context.Context, pt gridsearch.Point) (any, error) { return pt.Float("x") * pt.Float("x"), nil }
	served := make(chan error, 1)
	go func() { served <- gridsearch.ServeIdle(ctx, ep, 1, square, idle, quick) }()
	// Not a wait for something: the master is late on purpose, after the
	// slot's try at 7.5 s (and the uncapped one's at 7.8 s).
	time.Sleep(8 * time.Second)
	g, _ := gridsearch.NewGrid("x=1..3")
	// The master buries no live slot of a stalled test (10 s of silence);
	// the slot's heartbeats are as often as the master's.
	sum, err := gridsearch.Run(ctx, gridsearch.Config{Grid: g, Func: square, Workers: -1, Bind: ep,
		BrokerOptions: []pirate.Option{pirate.WithHeartbeat(50*time.Millisecond, 200)},
		WorkerOptions: []pirate.Option{pirate.WithHeartbeat(50*time.Millisecond, 200)}})
	if err != nil || sum.Done != 3 {
		t.Fatalf("Run: %v, %+v", err, sum)
	}
	if err := <-served; !errors.Is(err, gridsearch.ErrIdle) || errors.Is(err, gridsearch.ErrNeverHeard) {
		t.Fatalf("ServeIdle = %v, want ErrIdle after the master, not ErrNeverHeard", err)
	}
}

// A connection to Bind with another key is told to OnRefused while the run
// goes on (each point waits for it), and the run ends as usual; one that
// hangs up before its greeting is not.
func TestRunOnRefused(t *testing.T) {
	ctx := testCtx(t)
	kp, err := socket.NewCurveKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	other, err := socket.NewCurveKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	master, worker := gridsearch.KeyOptions(kp)
	g, _ := gridsearch.NewGrid("x=1..2")
	seen := make(chan struct{})
	var once sync.Once
	var remote string
	var why error
	intruder, err := socket.New(socket.Dealer, socket.WithLinger(0), socket.WithCurveClient(other.Public, other))
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	_, sum, err := collect(t, ctx, gridsearch.Config{Grid: g, Workers: 1, Bind: "tcp://127.0.0.1:*",
		BrokerOptions: []pirate.Option{master}, WorkerOptions: []pirate.Option{worker},
		Func: func(ctx context.Context, pt gridsearch.Point) (any, error) {
			select {
			case <-seen:
				return pt.Float("x"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
		OnBound: func(ep string) {
			c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
			if err != nil {
				t.Error(err)
			} else {
				c.Close()
			}
			if err := intruder.Connect(ep); err != nil {
				t.Error(err)
			}
		},
		OnRefused: func(r string, err error) {
			if errors.Is(err, io.EOF) {
				t.Errorf("told of %s, which hung up: %v", r, err)
			}
			once.Do(func() { remote, why = r, err; close(seen) })
		},
	})
	if err != nil || sum.Done != 2 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if !strings.HasPrefix(remote, "127.0.0.1:") || !errors.Is(why, socket.ErrHandshake) {
		t.Errorf("refused %q: %v; want a loopback address and a failed handshake", remote, why)
	}
}
