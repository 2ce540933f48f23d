package actor_test

import (
	"context"
	"testing"

	"github.com/zmqflow/zmqflow/telemetry"
)

// BenchmarkTellProfiled is BenchmarkTell's 1to1/actor with profiling off
// and on (batches every 100 ms to a transport that keeps them): what the
// profiler costs one message between two goroutines. Compare the lines of
// one run; ns/op is per message.
func BenchmarkTellProfiled(b *testing.B) {
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			if on {
				c := &captured{}
				telemetry.SetTransport(func(string) (telemetry.Sender, error) { return c, nil })
				if err := telemetry.Start(ctx, "inproc://collector", telemetry.WithInterval(100e6)); err != nil {
					b.Fatal(err)
				}
				defer func() {
					_ = telemetry.Stop(ctx)
					telemetry.SetTransport(nil)
				}()
			}
			tellOneToOne(b)
		})
	}
}
