package actor_test

import (
	"context"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/telemetry"
)

// BenchmarkProfiled is BenchmarkTell's 1to1/actor and BenchmarkAsk's
// actor with profiling off and on (batches every 100 ms to a transport
// that keeps them): what the profiler costs a message between two
// goroutines, and a request's round trip to an idle actor. Compare the
// lines of one run; ns/op is per message or round trip.
func BenchmarkProfiled(b *testing.B) {
	b.Run("tell", func(b *testing.B) { profiled(b, tellOneToOne) })
	b.Run("ask", func(b *testing.B) { profiled(b, askRoundTrips) })
}

// profiled runs bench with profiling off, then on.
func profiled(b *testing.B, bench func(*testing.B, ...actor.Option)) {
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
			bench(b)
		})
	}
}
