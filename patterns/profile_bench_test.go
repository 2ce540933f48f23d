package patterns_test

// What profiling costs a pipeline: the same 3-stage pipelines with
// profiling off, on (a collector drains the batches, in a process of its
// own as zprof's would be, so that what is measured is the profiled
// program alone), and on with the collector absent (nothing listens at the
// endpoint: every batch past the exporter's high-water mark is dropped).
//
// Compare the modes each in a process of its own, their order rotated
// from round to round, over many rounds: one process running them one
// after the other favours the first, since the registry keeps the series
// of every socket a profiled run closed (their totals must stay), and
// every later run carries that heap; a single run on a shared machine
// varies by 10-20%. Runs of a few seconds: in a short one, what a run
// pays once weighs on the ratio (with 300,000 messages, on/off reads
// about 0.9, and absent/off 0.8). A round:
//
//	go test -c -o /tmp/p.test ./patterns
//	for m in off on absent; do /tmp/p.test -test.run '^$' -test.bench "PipelineProfile/tcp/$m\$" -test.benchtime 10000000x; done
//
// ns/op is per message through the three stages; cpu-ns/op is the CPU
// time the whole process spent per message, steadier than ns/op on a
// machine shared with other work. gc/Mop is the GC cycles per million
// messages and live-kB the heap live after the last of them: with a heap
// as small as these pipelines', every kB that profiling keeps live
// shortens the allocation between cycles, and adds cycles.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/metrics"
	"strings"
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
		start(b, startCollector(b))
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

// collectorEnv makes the test binary a collector (see TestMain): it binds
// PULL on a loopback port, prints the endpoint, and takes every batch
// until its standard input closes.
const collectorEnv = "ZMQFLOW_BENCH_COLLECTOR"

// startCollector runs the test binary as a collector, in a process of its
// own, for the benchmark's length, and returns its endpoint.
func startCollector(b *testing.B) string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), collectorEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line := make(chan string, 1)
	read := make(chan struct{})
	go func() { // until the collector exits: Wait must come after
		defer close(read)
		ep, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(ep)
		io.Copy(io.Discard, stdout)
	}()
	b.Cleanup(func() {
		stdin.Close() // the collector's signal to exit
		<-read
		if err := cmd.Wait(); err != nil {
			b.Errorf("collector: %v", err)
		}
	})
	select {
	case ep := <-line:
		if ep == "" {
			b.Fatal("collector: no endpoint")
		}
		return ep
	case <-time.After(wait):
		b.Fatal("collector: no endpoint in time")
		return ""
	}
}

// runCollector is the collector process's main.
func runCollector() int {
	s, err := socket.New(socket.Pull)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ep, err := s.Bind("tcp://127.0.0.1:*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ep)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := s.Recv(context.Background()); err != nil {
				return
			}
		}
	}()
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes it
	s.Close()
	<-done
	return 0
}
