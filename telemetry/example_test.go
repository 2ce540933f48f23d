package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// collector stands for cmd/zprof: a PULL bound where the profile goes.
func collector() (*socket.Socket, string) {
	c, err := socket.New(socket.Pull)
	if err != nil {
		panic(err)
	}
	ep, err := c.Bind("tcp://127.0.0.1:*")
	if err != nil {
		panic(err)
	}
	return c, ep
}

// Start turns profiling on from Go, as ZMQFLOW_PROFILE does from the
// environment; Stop sends the last batch, with the run's exact totals.
// Sockets and actors made while it is on are measured with no more code;
// a program's own figures go in the same batches.
func ExampleStart() {
	coll, ep := collector()
	defer coll.Close()

	ctx := context.Background()
	if err := telemetry.Start(ctx, ep, telemetry.WithName("example"), telemetry.WithInterval(time.Minute)); err != nil {
		panic(err)
	}
	points := telemetry.NewCounter("example.points", "{point}", telemetry.String("grid", "demo"))
	points.Add(3)

	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := telemetry.Stop(stopCtx); err != nil {
		panic(err)
	}
	batch, err := coll.Recv(stopCtx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(batch[0]), len(batch), "frames")
	// Output: zmqflow.telemetry.v1 2 frames
}

// Task puts a finished task on the collector's timeline of tasks per
// worker slot: the batch gets a third frame, of spans.
func ExampleTask() {
	coll, ep := collector()
	defer coll.Close()
	ctx := context.Background()
	if err := telemetry.Start(ctx, ep, telemetry.WithInterval(time.Minute)); err != nil {
		panic(err)
	}
	start := time.Now()
	// ... run the task ...
	telemetry.Task(telemetry.TaskSpan{Label: "point", Worker: "host:1234", Slot: 0, Index: 17,
		Start: start, End: time.Now(), Err: errors.New("exit status 1")})

	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = telemetry.Stop(stopCtx)
	batch, err := coll.Recv(stopCtx)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(batch), "frames")
	// Output: 3 frames
}

// Flush, deferred first in main (or in the function main runs), sends
// the last batch when the program ends, after its sockets have closed, and
// waits FlushTimeout at most for a collector that does not take it. It does nothing when
// profiling is off, so a program calls it unconditionally.
func ExampleFlush() {
	defer telemetry.Flush()
	fmt.Println("profiling on:", telemetry.Enabled())
	// Output: profiling on: false
}
