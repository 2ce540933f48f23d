package gridsearch_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/broker"
	"github.com/zmqflow/zmqflow/examples/gridsearch/gridsearch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

	// A point past its timeout is killed.
	start := time.Now()
	recs, _, err = collect(t, ctx, gridsearch.Config{Grid: g, Workers: 4, Timeout: 100 * time.Millisecond,
		Command: []string{"sleep", "10"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.OK() || r.Error != "timeout after 100ms" {
			t.Errorf("timed-out point: %+v", r)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeouts took %v", d)
	}

	// Halt after 2 failures: with one worker, no more than 2 points run.
	g, _ = gridsearch.NewGrid("n=1..50")
	recs, sum, err = collect(t, ctx, gridsearch.Config{Grid: g, Workers: 1, Halt: 2,
		Func: func(context.Context, gridsearch.Point) (any, error) { return nil, errors.New("no") }})
	if !errors.Is(err, gridsearch.ErrHalted) || !sum.Halted || sum.Failed < 2 || len(recs) > 7 {
		t.Errorf("halt: %v, %+v, %d records", err, sum, len(recs))
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
	beat := broker.WithHeartbeat(50*time.Millisecond, 3)
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
		BrokerOptions: []broker.Option{beat, broker.WithMaxDeliveries(2)},
		OnBound:       func(ep string) { go workers(ep) }})
	stopWorkers()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	r := recs[3]
	if sum.Done != 9 || sum.Failed != 1 || r.OK() || r.Attempts != 1 || !strings.HasPrefix(r.Error, "abandoned") || deaths.Load() != 2 {
		t.Fatalf("summary %+v; %d deaths; point 3: %+v", sum, deaths.Load(), r)
	}
	t.Logf("point 3 after %d deaths: %s", deaths.Load(), r.Error)
}

// ServeIdle with no master at all gives up after its idle time.
func TestServeIdleNoMaster(t *testing.T) {
	start := time.Now()
	err := gridsearch.ServeIdle(testCtx(t), "tcp://127.0.0.1:1", 2, nil, 200*time.Millisecond)
	if !errors.Is(err, gridsearch.ErrIdle) {
		t.Fatalf("ServeIdle = %v, want ErrIdle", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want about 200 ms", d)
	}
}

// A master that comes up while ServeIdle's slots wait to reconnect is
// found within idle: their back-off is capped at a quarter of it (the
// default would have them wait 2 s here, past the idle time).
func TestServeIdleLateMaster(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + l.Addr().String()
	l.Close()
	beat := broker.WithHeartbeat(50*time.Millisecond, 3)
	square := func(ctx context.Context, pt gridsearch.Point) (any, error) { return pt.Float("x") * pt.Float("x"), nil }
	served := make(chan error, 1)
	go func() { served <- gridsearch.ServeIdle(ctx, ep, 1, square, 2*time.Second, beat) }()
	// The slot connects, hears nothing for 150 ms, backs off, tries again:
	// the master comes up during its second wait.
	time.Sleep(1400 * time.Millisecond)
	g, _ := gridsearch.NewGrid("x=1..3")
	sum, err := gridsearch.Run(ctx, gridsearch.Config{Grid: g, Func: square, Workers: -1, Bind: ep,
		BrokerOptions: []broker.Option{beat}})
	if err != nil || sum.Done != 3 {
		t.Fatalf("Run: %v, %+v", err, sum)
	}
	if err := <-served; !errors.Is(err, gridsearch.ErrIdle) {
		t.Fatalf("ServeIdle = %v, want ErrIdle after the master", err)
	}
}
