package patterns_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/patterns"
)

// A pipeline ended by its source's ErrStop loses nothing on the wire, over
// ipc and tcp as over inproc, when each stage is given the Outbox it sends
// through (actor.WithOutput): the source tells n tasks through two socket
// hops, and the sink, which never ends the pipeline itself, gets each once,
// with no dead letter.
func TestPipelineSourceStopDeliversOverTheWire(t *testing.T) {
	const n = 20000
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			obs := actortest.NewRecorder()
			p := patterns.NewPipeline(actor.WithObserver(obs))
			p.DrainWithin(wait)
			seen := make([]atomic.Int32, n)
			var got atomic.Int64
			results := must[*patterns.Inbox[result]](t)(patterns.Pull(patterns.Binary[result]{}, patterns.Bind(endpoint(t, tr))))
			patterns.Stage(p, "sink", func() actor.Behavior[result] {
				return actor.BehaviorFunc[result](func(_ context.Context, r result) error {
					seen[r.N].Add(1)
					got.Add(1)
					return nil
				})
			}, actor.WithFeed(results))
			vent := must[*patterns.Outbox[task]](t)(patterns.Push(patterns.Binary[task]{}, patterns.Bind(endpoint(t, tr))))
			for id := range int64(4) {
				tasks := must[*patterns.Inbox[task]](t)(patterns.Pull(patterns.Binary[task]{}, patterns.Connect(vent.Endpoint())))
				out := must[*patterns.Outbox[result]](t)(patterns.Push(patterns.Binary[result]{}, patterns.Connect(results.Endpoint())))
				patterns.Stage(p, fmt.Sprint("worker-", id), worker(id, out.Ref()), actor.WithFeed(tasks), actor.WithOutput(out))
			}
			p.Source("ventilator", func(ctx context.Context) error {
				for i := range int64(n) {
					if err := vent.Tell(ctx, task{i}); err != nil {
						return err
					}
				}
				return patterns.ErrStop
			}, actor.WithOutput(vent))
			if err := p.Run(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if k := obs.Count(actortest.DeadLetter, ""); k != 0 {
				t.Errorf("%d dead letters, want none", k)
			}
			if got.Load() != n {
				t.Errorf("the sink got %d results, want %d", got.Load(), n)
			}
			for i := range seen {
				if k := seen[i].Load(); k != 1 {
					t.Fatalf("result %d came %d times", i, k)
				}
			}
		})
	}
}
