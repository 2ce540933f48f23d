package patterns_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// A reference made while profiling is on counts the messages sent through
// it as its actor's messages "out": exact after Close, and the stage that
// receives them counts them "in".
func TestProfiledOutboxCountsOut(t *testing.T) {
	collector := rawSocket(t, socket.Pull)
	cep, err := collector.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	// One batch, Stop's: the interval is longer than the test.
	if err := telemetry.Start(context.Background(), cep, telemetry.WithInterval(wait*100)); err != nil {
		t.Fatal(err)
	}
	defer telemetry.Stop(context.Background())

	ctx := context.Background()
	run := seq.Add(1) // series are cumulative: each run names its own
	refName, sinkName := fmt.Sprint("profiled-ref-", run), fmt.Sprint("profiled-sink-", run)
	in := must[*patterns.Inbox[int64]](t)(patterns.Pull(patterns.Binary[int64]{}, patterns.Bind(endpoint(t, "inproc"))))
	const n = 300
	got := make(chan struct{})
	seen := 0
	a := must[*actor.Actor[int64]](t)(actor.Spawn[int64](ctx, actor.BehaviorFunc[int64](func(context.Context, int64) error {
		if seen++; seen == n {
			close(got)
		}
		return nil
	}), actor.WithName(sinkName), actor.WithFeed(in)))
	out := must[*patterns.Outbox[int64]](t)(patterns.Push(patterns.Binary[int64]{}, patterns.Connect(in.Endpoint()), patterns.WithName(refName)))
	for i := range int64(n) {
		if err := out.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-got:
	case <-time.After(wait):
		t.Fatalf("%d messages not all handled within %v", n, wait)
	}
	out.Close()
	a.Stop(ctx)
	sctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := telemetry.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	frames, err := collector.Recv(sctx)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	rms, err := otlptest.Metrics(frames[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, rm := range rms {
		for _, m := range rm.ScopeMetrics[0].Metrics {
			if m.Name != telemetry.MetricActorMessages {
				continue
			}
			for _, p := range m.GetSum().DataPoints {
				var name, dir string
				for _, kv := range p.Attributes {
					switch kv.Key {
					case telemetry.AttrActor:
						name = kv.Value.GetStringValue()
					case telemetry.AttrDirection:
						dir = kv.Value.GetStringValue()
					}
				}
				sums[name+" "+dir] = p.GetAsInt()
			}
		}
	}
	if sums[refName+" out"] != n || sums[sinkName+" in"] != n {
		t.Errorf("messages: %v, want %d out of %s and %d into %s", sums, n, refName, n, sinkName)
	}
}
