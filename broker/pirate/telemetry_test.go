package pirate_test

import (
	"context"
	"testing"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// With profiling on and no observer given, a load balancer, worker and
// client still report: their actors, and their figures, in the batch that
// Stop flushes. The figures of components of one name add up over the
// process (earlier tests' included), so the test counts from what they
// were.
func TestProfiledWithoutObserver(t *testing.T) {
	ctx := testCtx(t)
	collector := profiling(t, ctx)

	wantFigures := map[string]int64{}
	for _, f := range [][2]string{{"pirate load balancer", "Requests"}, {"pirate load balancer", "Replies"},
		{"pirate client", "Replies"}, {"pirate worker", "Handled"}} {
		before := telemetry.NewCounter(telemetry.MetricActorFigureTotal, "1",
			telemetry.String(telemetry.AttrActor, f[0]), telemetry.String(telemetry.AttrFigure, f[1])).Load()
		wantFigures[f[0]+" "+f[1]] = int64(before) + 3
	}

	b := newLB(t, inproc(), inproc(), steadyBeat)
	w := newWorker(t, b.Backend(), echo("ok"), steadyBeat)
	c := newClient(t, b.Frontend(), pirate.WithTimeout(wait), pirate.WithRetries(0))
	for range 3 {
		if _, err := c.Request(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, closer := range []interface{ Close() error }{c, w, b} {
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := telemetry.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	batch, err := collector.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	figures := map[string]int64{} // "actor figure" -> total
	handled := map[string]int64{} // actor -> messages in
	rms, err := otlptest.Metrics(batch[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, rm := range rms {
		for _, m := range rm.ScopeMetrics[0].Metrics {
			for _, p := range m.GetSum().GetDataPoints() {
				a := map[string]string{}
				for _, kv := range p.Attributes {
					a[kv.Key] = kv.Value.GetStringValue()
				}
				switch m.Name {
				case telemetry.MetricActorFigureTotal:
					figures[a[telemetry.AttrActor]+" "+a[telemetry.AttrFigure]] = p.GetAsInt()
				case telemetry.MetricActorMessages:
					if a[telemetry.AttrDirection] == "in" {
						handled[a[telemetry.AttrActor]] += p.GetAsInt()
					}
				}
			}
		}
	}
	for k, want := range wantFigures {
		if figures[k] != want {
			t.Errorf("figure %s = %d, want %d", k, figures[k], want)
		}
	}
	for _, name := range []string{"pirate load balancer", "pirate worker handler"} {
		if handled[name] == 0 {
			t.Errorf("actor %q: no messages in (%v)", name, handled)
		}
	}
}

// With profiling on, a Worker puts each request it handled on the
// timeline, numbered in order on its own row; one made WithoutTaskSpans
// puts none there (its handler records its own).
func TestWorkerTaskSpans(t *testing.T) {
	ctx := testCtx(t)
	collector := profiling(t, ctx)

	b := newLB(t, inproc(), inproc(), steadyBeat)
	spans := newWorker(t, b.Backend(), echo("spans"), steadyBeat)
	quiet := newWorker(t, b.Backend(), echo("quiet"), steadyBeat, pirate.WithoutTaskSpans())
	waitLB(t, ctx, b, "both workers", func(s pirate.Stats) bool { return s.Idle == 2 })
	c := oneShot(t, b.Frontend())
	const requests = 40 // taken in turns by the two workers
	for range requests {
		if _, err := c.Request(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, closer := range []interface{ Close() error }{c, spans, quiet, b} {
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	handled := spans.Stats().Handled
	if err := telemetry.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	frames, err := collector.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := collect.Decode(frames)
	if err != nil {
		t.Fatal(err)
	}
	if handled == 0 || handled+quiet.Stats().Handled != requests {
		t.Fatalf("workers handled %d and %d of %d", handled, quiet.Stats().Handled, requests)
	}
	seen := map[int64]bool{}
	for _, task := range batch.Tasks {
		if task.Label != "request" || task.Error != "" || task.End < task.Start {
			t.Errorf("task %+v", task)
		}
		if task.Slot != batch.Tasks[0].Slot || task.Worker != batch.Tasks[0].Worker {
			t.Errorf("tasks on two rows: %+v and %+v", batch.Tasks[0], task)
		}
		if seen[task.Task] {
			t.Errorf("task %d twice", task.Task)
		}
		seen[task.Task] = true
	}
	if uint64(len(batch.Tasks)) != handled {
		t.Fatalf("%d tasks on the timeline, want the %d requests the first worker handled", len(batch.Tasks), handled)
	}
}

// profiling turns profiling on, to a collector the test reads: one batch,
// when the test stops profiling (the interval is longer than any test).
func profiling(t *testing.T, ctx context.Context) *socket.Socket {
	collector := must[*socket.Socket](t)(socket.New(socket.Pull))
	t.Cleanup(func() { collector.Close() })
	cep := must[string](t)(collector.Bind("tcp://127.0.0.1:*"))
	if err := telemetry.Start(ctx, cep, telemetry.WithInterval(100*wait)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { telemetry.Stop(context.Background()) })
	return collector
}
