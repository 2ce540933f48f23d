package patterns_test

// What profiling costs a pipeline: the same 3-stage pipelines with
// profiling off, on (a collector drains the batches), and on with the
// collector absent (nothing listens at the endpoint: every batch past the
// exporter's high-water mark is dropped).
//
// Compare the modes each in a process of its own, their order rotated
// from round to round, over many rounds: one process running them one
// after the other favours the first, since the registry keeps the series
// of every socket a profiled run closed (their totals must stay), and
// every later run carries that heap; a single run on a shared machine
// varies by 10-20%. A round:
//
//	go test -c -o /tmp/p.test ./patterns
//	for m in off on absent; do /tmp/p.test -test.run '^$' -test.bench "PipelineProfile/tcp/$m\$" -test.benchtime 1000000x; done
//
// ns/op is per message through the three stages; cpu-ns/op is the CPU
// time the whole process spent per message, steadier than ns/op on a
// machine shared with other work. gc/Mop is the GC cycles per million
// messages and live-kB the heap live after the last of them: with a heap
// as small as these pipelines', every kB that profiling keeps live
// shortens the allocation between cycles, and adds cycles.

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/cputime"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// counter ends the pipeline after n messages.
type counter struct{ left int }

func (c *counter) Receive(context.Context, int64) error {
	if c.left--; c.left == 0 {
		return patterns.ErrStop
	}
	return nil
}

// localPipeline: a source telling a stage that tells a sink, all in memory.
func localPipeline(b *testing.B, n int) *patterns.Pipeline {
	p := patterns.NewPipeline()
	sink := patterns.Stage(p, "sink", func() actor.Behavior[int64] { return &counter{left: n} })
	mid := patterns.Stage(p, "double", func() actor.Behavior[int64] {
		return actor.BehaviorFunc[int64](func(ctx context.Context, v int64) error { return sink.Tell(ctx, 2*v) })
	})
	p.Source("source", func(ctx context.Context) error {
		for i := range int64(n) {
			if err := mid.Tell(ctx, i); err != nil {
				return err
			}
		}
		return nil
	})
	return p
}

// tcpPipeline: the same over tcp loopback: source -> PUSH -> the stage's
// PULL mailbox, the stage -> PUSH -> the sink's PULL mailbox.
func tcpPipeline(b *testing.B, n int) *patterns.Pipeline {
	p := patterns.NewPipeline()
	sinkIn := must[*patterns.Inbox[int64]](b)(patterns.Pull(patterns.Binary[int64]{}, patterns.Bind("tcp://127.0.0.1:*")))
	patterns.Stage(p, "sink", func() actor.Behavior[int64] { return &counter{left: n} }, actor.WithFeed(sinkIn))
	toSink := must[*patterns.Outbox[int64]](b)(patterns.Push(patterns.Binary[int64]{}, patterns.Connect(sinkIn.Endpoint())))
	p.Own(toSink)
	midIn := must[*patterns.Inbox[int64]](b)(patterns.Pull(patterns.Binary[int64]{}, patterns.Bind("tcp://127.0.0.1:*")))
	out := toSink.Ref()
	patterns.Stage(p, "double", func() actor.Behavior[int64] {
		return actor.BehaviorFunc[int64](func(ctx context.Context, v int64) error { return out.Tell(ctx, 2*v) })
	}, actor.WithFeed(midIn))
	toMid := must[*patterns.Outbox[int64]](b)(patterns.Push(patterns.Binary[int64]{}, patterns.Connect(midIn.Endpoint())))
	p.Own(toMid)
	p.Source("source", func(ctx context.Context) error {
		for i := range int64(n) {
			if err := toMid.Tell(ctx, i); err != nil {
				return err
			}
		}
		return nil
	})
	return p
}

// profileMode turns profiling on as mode says for the benchmark, and off
// at its end.
func profileMode(b *testing.B, mode string) {
	switch mode {
	case "off":
		return
	case "on":
		collector := rawSocket(b, socket.Pull)
		ep, err := collector.Bind("tcp://127.0.0.1:*")
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { // the collector: takes every batch
			defer close(done)
			for {
				if _, err := collector.Recv(context.Background()); err != nil {
					return
				}
			}
		}()
		b.Cleanup(func() { collector.Close(); <-done })
		start(b, ep)
	case "absent":
		free := rawSocket(b, socket.Pull)
		ep, err := free.Bind("tcp://127.0.0.1:*")
		if err != nil {
			b.Fatal(err)
		}
		free.Close() // nothing listens there now
		start(b, ep)
	}
}

func start(b *testing.B, ep string) {
	// Batches every 100 ms, ten times the default rate: the exporter's
	// work shows more.
	if err := telemetry.Start(context.Background(), ep, telemetry.WithInterval(100*time.Millisecond)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = telemetry.Stop(ctx)
	})
}

func BenchmarkPipelineProfile(b *testing.B) {
	for _, kind := range []struct {
		name string
		make func(*testing.B, int) *patterns.Pipeline
	}{{"local", localPipeline}, {"tcp", tcpPipeline}} {
		for _, mode := range []string{"off", "on", "absent"} {
			b.Run(fmt.Sprintf("%s/%s", kind.name, mode), func(b *testing.B) {
				profileMode(b, mode)
				p := kind.make(b, b.N)
				b.ResetTimer()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cpu, gcs := cputime.Process(), readGC()
				if err := p.Run(ctx); err != nil && !errors.Is(err, patterns.ErrStop) {
					b.Fatal(err)
				}
				// On a shared machine the wall time per message counts
				// the waits for a core; the process's CPU time does not.
				b.ReportMetric(cputime.PerOp(cpu, b.N), "cpu-ns/op")
				after := readGC()
				b.ReportMetric(float64(after[0].Value.Uint64()-gcs[0].Value.Uint64())*1e6/float64(b.N), "gc/Mop")
				b.ReportMetric(float64(after[1].Value.Uint64())/1024, "live-kB")
			})
		}
	}
}

// readGC reads the GC cycles so far and the heap live after the last.
func readGC() []metrics.Sample {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s
}
