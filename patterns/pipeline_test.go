package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/patterns"
)

// task and result of the squares pipeline: the guide's ventilator, workers
// and sink (ch. 1, "Divide and Conquer"), squaring numbers.
type task struct{ N int64 }

type result struct{ N, Square, Worker int64 }

// sink counts results and ends the pipeline when all n are in; a result
// seen twice fails it.
type sink struct {
	n    int
	seen map[int64]bool
	sum  *atomic.Int64
}

func (s *sink) Receive(_ context.Context, r result) error {
	if r.Square != r.N*r.N {
		return fmt.Errorf("worker %d squared %d as %d", r.Worker, r.N, r.Square)
	}
	if s.seen[r.N] {
		return fmt.Errorf("result for %d twice", r.N)
	}
	s.seen[r.N] = true
	s.sum.Add(r.Square)
	if len(s.seen) == s.n {
		return patterns.ErrStop
	}
	return nil
}

func sumOfSquares(n int) int64 {
	var s int64
	for i := range int64(n) {
		s += i * i
	}
	return s
}

func worker(id int64, out actor.Ref[result]) func() actor.Behavior[task] {
	return func() actor.Behavior[task] {
		return actor.BehaviorFunc[task](func(ctx context.Context, t task) error {
			return out.Tell(ctx, result{t.N, t.N * t.N, id})
		})
	}
}

// squares builds the pipeline whose stages talk over sockets on transport:
// a source telling tasks to a PUSH, four workers with PULL mailboxes and a
// PUSH to the sink's PULL mailbox. Only the endpoints depend on transport.
func squares(t *testing.T, transport string, n int, sum *atomic.Int64, opts ...actor.Option) *patterns.Pipeline {
	p := patterns.NewPipeline(opts...)
	results := must[*patterns.Inbox[result]](t)(patterns.Pull(patterns.Binary[result]{}, patterns.Bind(endpoint(t, transport))))
	patterns.Stage(p, "sink", func() actor.Behavior[result] {
		return &sink{n: n, seen: map[int64]bool{}, sum: sum}
	}, actor.WithFeed(results))
	vent := must[*patterns.Outbox[task]](t)(patterns.Push(patterns.Binary[task]{}, patterns.Bind(endpoint(t, transport))))
	p.Own(vent)
	for id := range int64(4) {
		tasks := must[*patterns.Inbox[task]](t)(patterns.Pull(patterns.Binary[task]{}, patterns.Connect(vent.Endpoint())))
		out := must[*patterns.Outbox[result]](t)(patterns.Push(patterns.Binary[result]{}, patterns.Connect(results.Endpoint())))
		p.Own(out)
		patterns.Stage(p, fmt.Sprint("worker-", id), worker(id, out.Ref()), actor.WithFeed(tasks))
	}
	p.Source("ventilator", func(ctx context.Context) error {
		for i := range int64(n) {
			if err := vent.Tell(ctx, task{i}); err != nil {
				return err
			}
		}
		return nil
	})
	return p
}

// One pipeline definition over inproc, ipc and tcp: every task squared
// once, the sink ends the run.
func TestPipelineOverTransports(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			var sum atomic.Int64
			const n = 3000
			if err := squares(t, tr, n, &sum).Run(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if got, want := sum.Load(), sumOfSquares(n); got != want {
				t.Fatalf("sum of squares %d, want %d", got, want)
			}
		})
	}
}

// The same pipeline in one process without sockets: Workers fans out.
func TestPipelineLocal(t *testing.T) {
	var sum atomic.Int64
	const n = 5000
	rec := actortest.NewRecorder()
	p := patterns.NewPipeline(actor.WithObserver(rec))
	results := patterns.Stage(p, "sink", func() actor.Behavior[result] {
		return &sink{n: n, seen: map[int64]bool{}, sum: &sum}
	})
	var ids atomic.Int64
	tasks := patterns.Workers(p, "worker", 4, func() actor.Behavior[task] {
		return worker(ids.Add(1), results)()
	})
	p.Source("ventilator", func(ctx context.Context) error {
		for i := range int64(n) {
			if err := tasks.Tell(ctx, task{i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := p.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := sum.Load(), sumOfSquares(n); got != want {
		t.Fatalf("sum of squares %d, want %d", got, want)
	}
	// Every stage reported to the pipeline's observer.
	for _, name := range []string{"sink", "worker-1", "worker-4", "ventilator"} {
		if rec.Count(actortest.Started, name) != 1 || rec.Count(actortest.Stopped, name) != 1 {
			t.Errorf("%s: started %d, stopped %d times; want 1 and 1", name,
				rec.Count(actortest.Started, name), rec.Count(actortest.Stopped, name))
		}
	}
}

var errBroken = errors.New("broken stage")

// The first failure ends the pipeline with it, a panic as an
// *actor.PanicError.
func TestPipelineFailure(t *testing.T) {
	for name, fail := range map[string]func() error{
		"error": func() error { return errBroken },
		"panic": func() error { panic(errBroken) },
	} {
		t.Run(name, func(t *testing.T) {
			p := patterns.NewPipeline()
			ref := patterns.Stage(p, "broken", func() actor.Behavior[int] {
				return actor.BehaviorFunc[int](func(context.Context, int) error { return fail() })
			})
			patterns.Stage(p, "idle", func() actor.Behavior[int] {
				return actor.BehaviorFunc[int](func(context.Context, int) error { return nil })
			})
			p.Source("one", func(ctx context.Context) error { return ref.Tell(ctx, 1) })
			err := p.Run(testCtx(t))
			if !errors.Is(err, errBroken) {
				t.Fatalf("Run = %v, want the stage's failure", err)
			}
			var pe *actor.PanicError
			if (name == "panic") != errors.As(err, &pe) {
				t.Errorf("Run = %v: panic recovered as *actor.PanicError: %v", err, pe != nil)
			}
			// The stage has no restart policy: its failure is the
			// pipeline's, not a restart intensity of the supervisor
			// beneath it.
			if errors.Is(err, actor.ErrRestartIntensity) || !strings.Contains(err.Error(), `"broken"`) {
				t.Errorf("Run = %v, want the failure of stage \"broken\" as it is", err)
			}
		})
	}
}

// A stage with a restart policy is restarted instead of failing the
// pipeline, and loses none of the messages in its mailbox.
func TestPipelineRestartingStage(t *testing.T) {
	const n = 1000
	var sum atomic.Int64
	p := patterns.NewPipeline()
	results := patterns.Stage(p, "sink", func() actor.Behavior[result] {
		return &sink{n: n - n/100, seen: map[int64]bool{}, sum: &sum}
	})
	var restarts atomic.Int32
	tasks := patterns.RestartingStage(p, "flaky", patterns.Restart{Intensity: 100, Window: time.Minute, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond},
		func() actor.Behavior[task] {
			restarts.Add(1)
			return actor.BehaviorFunc[task](func(ctx context.Context, t task) error {
				if t.N%100 == 0 {
					panic("flaky")
				}
				return results.Tell(ctx, result{t.N, t.N * t.N, 1})
			})
		})
	p.Source("ventilator", func(ctx context.Context) error {
		for i := range int64(n) {
			if err := tasks.Tell(ctx, task{i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := p.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var want int64
	for i := range int64(n) {
		if i%100 != 0 {
			want += i * i
		}
	}
	if sum.Load() != want {
		t.Fatalf("sum %d, want %d: messages lost across restarts", sum.Load(), want)
	}
	if got := restarts.Load(); got != n/100+1 {
		t.Errorf("%d incarnations, want %d", got, n/100+1)
	}
}

// A restarting stage that fails beyond its policy ends the pipeline.
func TestPipelineRestartPolicySpent(t *testing.T) {
	p := patterns.NewPipeline()
	ref := patterns.RestartingStage(p, "hopeless", patterns.Restart{Intensity: 2, Window: time.Minute},
		func() actor.Behavior[int] {
			return actor.BehaviorFunc[int](func(context.Context, int) error { return errBroken })
		})
	p.Source("feed", func(ctx context.Context) error {
		for i := range 10 {
			if err := ref.Tell(ctx, i); err != nil {
				return nil // the pipeline is ending
			}
		}
		return nil
	})
	if err := p.Run(testCtx(t)); !errors.Is(err, errBroken) || !errors.Is(err, actor.ErrRestartIntensity) {
		t.Fatalf("Run = %v, want the intensity error wrapping the stage's", err)
	}
}

// The zero Pipeline works as one from NewPipeline().
func TestPipelineZero(t *testing.T) {
	var p patterns.Pipeline
	ref := patterns.Stage(&p, "sink", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { return patterns.ErrStop })
	})
	p.Source("one", func(ctx context.Context) error { return ref.Tell(ctx, 1) })
	if err := p.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestPipelineCtx(t *testing.T) {
	p := patterns.NewPipeline()
	patterns.Stage(p, "idle", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { return nil })
	})
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if err := p.Run(testCtx(t)); !errors.Is(err, patterns.ErrBadOption) {
		t.Fatalf("second Run = %v, want ErrBadOption", err)
	}
}

// stopSignal is a recorder that also closes stopped when the actor named
// name is reported stopped.
type stopSignal struct {
	*actortest.Recorder
	name    string
	stopped chan struct{}
}

func (s *stopSignal) ActorStopped(name string, err error) {
	s.Recorder.ActorStopped(name, err)
	if name == s.name {
		close(s.stopped)
	}
}

// A source that tells everything and returns ErrStop ends the pipeline once
// what it told has drained through every stage: nothing is a dead letter.
// The relay holds its first message until the source's stage has stopped,
// so that the rest wait in its mailbox when the pipeline stops.
func TestPipelineDrainsAfterErrStop(t *testing.T) {
	const n = 100
	obs := &stopSignal{Recorder: actortest.NewRecorder(), name: "source", stopped: make(chan struct{})}
	p := patterns.NewPipeline(actor.WithObserver(obs))
	p.DrainWithin(wait)
	var got atomic.Int64
	sink := patterns.Stage(p, "sink", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { got.Add(1); return nil })
	})
	relay := patterns.Stage(p, "relay", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
			select {
			case <-obs.stopped:
			case <-ctx.Done():
				return ctx.Err()
			}
			return sink.Tell(ctx, m)
		})
	}, actor.WithMailbox(actor.Bounded(n)))
	p.Source("source", func(ctx context.Context) error {
		for i := range n {
			if err := relay.Tell(ctx, i); err != nil {
				return err
			}
		}
		return patterns.ErrStop
	})
	if err := p.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got.Load() != n {
		t.Errorf("sink got %d messages, want %d", got.Load(), n)
	}
	if k := obs.Count(actortest.DeadLetter, ""); k != 0 {
		t.Errorf("%d dead letters, want none", k)
	}
}

// A source's ErrStop cancels the sources that still run, for the drain: one
// that returns ctx's error then is no failure, and the drain is not cut.
func TestPipelineErrStopEndsSources(t *testing.T) {
	p := patterns.NewPipeline()
	p.DrainWithin(wait)
	var got atomic.Int64
	sink := patterns.Stage(p, "sink", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { got.Add(1); return nil })
	})
	p.Source("forever", func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("forever: %w", ctx.Err())
	})
	p.Source("ten", func(ctx context.Context) error {
		for i := range 10 {
			if err := sink.Tell(ctx, i); err != nil {
				return err
			}
		}
		return patterns.ErrStop
	})
	if err := p.Run(testCtx(t)); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got.Load() != 10 {
		t.Errorf("sink got %d messages, want 10", got.Load())
	}
}

// stuckStage adds a stage that holds each message it takes until it is
// closed, and says on entered when it takes one.
func stuckStage(p *patterns.Pipeline) (actor.Ref[int], <-chan struct{}) {
	entered := make(chan struct{}, 2)
	stuck := patterns.Stage(p, "stuck", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(ctx context.Context, _ int) error {
			entered <- struct{}{}
			<-ctx.Done() // until it is closed
			return ctx.Err()
		})
	})
	return stuck, entered
}

// fillStuck tells stuck two messages and returns once it holds the first:
// the second waits in its mailbox.
func fillStuck(ctx context.Context, stuck actor.Ref[int], entered <-chan struct{}) error {
	for i := range 2 {
		if err := stuck.Tell(ctx, i); err != nil {
			return err
		}
	}
	select {
	case <-entered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrStop from a sink closes the stages at once: what is in flight is
// not wanted, and becomes dead letters.
func TestPipelineSinkErrStopCloses(t *testing.T) {
	rec := actortest.NewRecorder()
	p := patterns.NewPipeline(actor.WithObserver(rec))
	p.DrainWithin(wait) // for a source's ErrStop only
	sink := patterns.Stage(p, "sink", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { return patterns.ErrStop })
	})
	stuck, entered := stuckStage(p)
	p.Source("source", func(ctx context.Context) error {
		if err := fillStuck(ctx, stuck, entered); err != nil {
			return err
		}
		return sink.Tell(ctx, 0)
	})
	if err := p.Run(testCtx(t)); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if k := rec.Count(actortest.DeadLetter, "stuck"); k != 1 {
		t.Errorf("%d dead letters, want 1 (message 1): %v", k, rec.Events())
	}
}

// A drain cut short by its bound closes the stages left, whose messages are
// dead letters, and Run says so; DrainWithin(0) closes them at once.
func TestPipelineDrainCut(t *testing.T) {
	for _, bound := range []time.Duration{time.Millisecond, 0} {
		t.Run(fmt.Sprint(bound), func(t *testing.T) {
			rec := actortest.NewRecorder()
			p := patterns.NewPipeline(actor.WithObserver(rec))
			p.DrainWithin(bound)
			stuck, entered := stuckStage(p)
			p.Source("source", func(ctx context.Context) error {
				if err := fillStuck(ctx, stuck, entered); err != nil {
					return err
				}
				return patterns.ErrStop
			})
			err := p.Run(testCtx(t))
			if bound > 0 && (!errors.Is(err, patterns.ErrDrainCut) || !errors.Is(err, context.DeadlineExceeded)) {
				t.Fatalf("Run = %v, want ErrDrainCut wrapping DeadlineExceeded", err)
			}
			if bound == 0 && err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			if k := rec.Count(actortest.DeadLetter, "stuck"); k != 1 {
				t.Errorf("%d dead letters, want 1 (message 1): %v", k, rec.Events())
			}
		})
	}
}
