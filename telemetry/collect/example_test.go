package collect_test

import (
	"errors"
	"fmt"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// batch is what a producer sends at t: the messages its actor "square"
// handled so far.
func batch(t time.Time, handled int64) [][]byte {
	p := otlptest.Process{Service: "squares", Instance: "run-1", Host: "h", PID: 7}
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	return otlptest.Batch(p, []*metricspb.Metric{
		otlptest.Counter(telemetry.MetricActorMessages, "{message}", start, t, handled,
			otlptest.Str(telemetry.AttrActor, "square"), otlptest.Str(telemetry.AttrDirection, "in")),
	}, nil)
}

// A batch as received decodes into flat points; anything else is refused.
func ExampleDecode() {
	t := time.Date(2026, 12, 6, 12, 0, 10, 0, time.UTC)
	b, err := collect.Decode(batch(t, 1000))
	if err != nil {
		fmt.Println(err)
		return
	}
	pt := b.Points[0]
	fmt.Println(b.Processes[0].Service, pt.Metric, pt.Kind, pt.Attrs.JSON(), pt.Value)

	_, err = collect.Decode(batch(t, 1000)[1:]) // no version frame
	fmt.Println(errors.Is(err, collect.ErrFrames), err)
	// Output:
	// squares zmqflow.actor.messages counter {"zmqflow.actor":"square","zmqflow.direction":"in"} 1000
	// true collect: wrong number of frames: 1, want 2 or 3
}

// The aggregator keeps each series' latest cumulative point and derives
// the rate from the one before (for a series' first point, from its start,
// here ten seconds before).
func ExampleAggregator() {
	agg := collect.NewAggregator()
	t := time.Date(2026, 12, 6, 12, 0, 10, 0, time.UTC)
	for i, handled := range []int64{1000, 1500, 2500} {
		b, _ := collect.Decode(batch(t.Add(time.Duration(i)*time.Second), handled))
		for _, s := range agg.Add(b, time.Now()) {
			fmt.Printf("total %.0f, %.0f a second\n", s.Value, s.Rate)
		}
	}
	// Output:
	// total 1000, 100 a second
	// total 1500, 500 a second
	// total 2500, 1000 a second
}
