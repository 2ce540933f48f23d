package majordomo_test

import (
	"context"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// With profiling on, a Worker puts each request it handled on the
// timeline, named by its service, numbered in order on its own row.
func TestWorkerTaskSpans(t *testing.T) {
	ctx := testCtx(t)
	collector := newSocket(t, socket.Pull)
	cep := must[string](t)(collector.Bind("tcp://127.0.0.1:*"))
	if err := telemetry.Start(ctx, cep, telemetry.WithInterval(100*wait)); err != nil {
		t.Fatal(err)
	}
	defer telemetry.Stop(context.Background())

	b := newBroker(t, inproc(), steadyBeat)
	w := newWorker(t, b.Endpoint(), "timeline", echo("ok"), steadyBeat)
	c := oneShot(t, b.Endpoint())
	const requests = 25
	for range requests {
		if _, err := c.Request(ctx, "timeline", []byte("x")); err != nil {
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
	frames, err := collector.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := collect.Decode(frames)
	if err != nil {
		t.Fatal(err)
	}
	var got []collect.Task
	for _, task := range batch.Tasks {
		if task.Label == "timeline" {
			got = append(got, task)
		}
	}
	if len(got) != requests {
		t.Fatalf("%d tasks on the timeline, want %d: %+v", len(got), requests, batch.Tasks)
	}
	for i, task := range got {
		if task.Task != int64(i) || task.Error != "" || task.End < task.Start ||
			task.Worker != got[0].Worker || task.Slot != got[0].Slot {
			t.Errorf("task %d: %+v", i, task)
		}
	}
}
