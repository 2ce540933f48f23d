package collect

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	proc  = otlptest.Process{Service: "sink", Instance: "inst-1", Host: "h1", PID: 42}
	start = time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
)

// sampleBatch is a batch with one of each kind of figure and two tasks.
func sampleBatch(t0 time.Time, handled int64, values []float64) [][]byte {
	actor := otlptest.Str(telemetry.AttrActor, "sink")
	return otlptest.Batch(proc, []*metricspb.Metric{
		otlptest.Counter(telemetry.MetricActorMessages, "{message}", start, t0, handled, actor, otlptest.Str(telemetry.AttrDirection, "in")),
		otlptest.Gauge(telemetry.MetricActorMailboxDepth, "{message}", t0, 3, actor),
		otlptest.ExpHist(telemetry.MetricActorHandling, start, t0, 3, values, actor),
	}, []*tracepb.Span{
		otlptest.Span("w1", 0, 7, "square", t0.Add(-time.Second), t0, ""),
		otlptest.Span("w1", 1, 8, "square", t0.Add(-time.Second), t0, "boom"),
	})
}

func TestDecodeRoundTrip(t *testing.T) {
	t0 := start.Add(10 * time.Second)
	b, err := Decode(sampleBatch(t0, 1000, []float64{0.001, 0.002, 0.004}))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Processes) != 1 || b.Processes[0] != (Process{Instance: "inst-1", Service: "sink", Host: "h1", PID: 42}) {
		t.Fatalf("processes %+v", b.Processes)
	}
	if len(b.Points) != 3 {
		t.Fatalf("%d points", len(b.Points))
	}
	c := b.Points[0]
	if c.Kind != Counter || c.Value != 1000 || c.Time != t0.UnixNano() || c.Start != start.UnixNano() ||
		c.Attrs.JSON() != `{"zmqflow.actor":"sink","zmqflow.direction":"in"}` {
		t.Errorf("counter %+v", c)
	}
	if g := b.Points[1]; g.Kind != Gauge || g.Value != 3 {
		t.Errorf("gauge %+v", g)
	}
	h := b.Points[2].Hist
	if b.Points[2].Kind != Histogram || h == nil || h.Count != 3 || math.Abs(h.Sum-0.007) > 1e-12 || !h.Exp || h.Scale != 3 {
		t.Fatalf("histogram %+v", b.Points[2])
	}
	if q := h.Quantile(0.5); q < 0.0018 || q > 0.0022 {
		t.Errorf("median %v, want about 0.002", q)
	}
	want := []Task{
		{Instance: "inst-1", Worker: "w1", Slot: 0, Task: 7, Label: "square", Start: t0.Add(-time.Second).UnixNano(), End: t0.UnixNano()},
		{Instance: "inst-1", Worker: "w1", Slot: 1, Task: 8, Label: "square", Start: t0.Add(-time.Second).UnixNano(), End: t0.UnixNano(), Error: "boom"},
	}
	if len(b.Tasks) != 2 || b.Tasks[0] != want[0] || b.Tasks[1] != want[1] {
		t.Errorf("tasks %+v", b.Tasks)
	}
}

// mutate returns the frames of a sample batch after f changed its metric.
func mutate(f func(m *metricspb.Metric)) [][]byte {
	m := otlptest.ExpHist(telemetry.MetricActorHandling, start, start.Add(time.Second), 0, []float64{1, 2})
	f(m)
	return otlptest.Batch(proc, []*metricspb.Metric{m}, nil)
}

func TestDecodeRejects(t *testing.T) {
	ok := sampleBatch(start.Add(time.Second), 1, []float64{1})
	v := &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "x"}}
	for range MaxDepth {
		v = &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{{Key: "k", Value: v}}}}}
	}
	deep := &metricspb.ResourceMetrics{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "deep", Value: v}}}}
	deepBytes, _ := proto.Marshal(deep)
	cases := []struct {
		name   string
		frames [][]byte
		want   error
	}{
		{"one frame", ok[:1], ErrFrames},
		{"four frames", append(ok[:3:3], nil), ErrFrames},
		{"version", [][]byte{[]byte("zmqflow.telemetry.v0"), ok[1]}, ErrVersion},
		{"too large", [][]byte{ok[0], make([]byte, telemetry.MaxBatchBytes)}, ErrTooLarge},
		{"not protobuf", [][]byte{ok[0], {0xff, 0xff}}, ErrMalformed},
		{"nested too deep", [][]byte{ok[0], protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), deepBytes)}, ErrTooLarge},
		{"no instance id", otlptest.Batch(otlptest.Process{Service: "x"}, nil, nil), ErrMalformed},
		{"buckets do not add up", mutate(func(m *metricspb.Metric) { m.GetExponentialHistogram().DataPoints[0].Count = 5 }), ErrMalformed},
		{"NaN sum", mutate(func(m *metricspb.Metric) { nan := math.NaN(); m.GetExponentialHistogram().DataPoints[0].Sum = &nan }), ErrMalformed},
		{"scale", mutate(func(m *metricspb.Metric) { m.GetExponentialHistogram().DataPoints[0].Scale = 30 }), ErrMalformed},
		{"too many buckets", mutate(func(m *metricspb.Metric) {
			dp := m.GetExponentialHistogram().DataPoints[0]
			dp.Positive.BucketCounts = make([]uint64, MaxBuckets+1)
			dp.Count, dp.Positive.BucketCounts[0] = 1, 1
		}), ErrTooLarge},
		{"delta", mutate(func(m *metricspb.Metric) {
			m.GetExponentialHistogram().AggregationTemporality = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		}), ErrMalformed},
		{"time before start", mutate(func(m *metricspb.Metric) { m.GetExponentialHistogram().DataPoints[0].StartTimeUnixNano += 2e9 }), ErrMalformed},
		{"no time", mutate(func(m *metricspb.Metric) { m.GetExponentialHistogram().DataPoints[0].TimeUnixNano = 0 }), ErrMalformed},
		{"negative counter", otlptest.Batch(proc, []*metricspb.Metric{otlptest.Counter("c", "1", start, start, -1)}, nil), ErrMalformed},
		{"NaN gauge", otlptest.Batch(proc, []*metricspb.Metric{otlptest.Gauge("g", "1", start, math.NaN())}, nil), ErrMalformed},
		{"summary", otlptest.Batch(proc, []*metricspb.Metric{{Name: "s", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{}}}}, nil), ErrUnsupported},
		{"span ends before it starts", otlptest.Batch(proc, nil, []*tracepb.Span{otlptest.Span("w", 0, 0, "t", start.Add(time.Second), start, "")}), ErrMalformed},
		{"explicit bounds out of order", otlptest.Batch(proc, []*metricspb.Metric{{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			DataPoints: []*metricspb.HistogramDataPoint{{TimeUnixNano: uint64(start.UnixNano()), Count: 1,
				BucketCounts: []uint64{0, 1, 0}, ExplicitBounds: []float64{2, 1}}}}}}}, nil), ErrMalformed},
	}
	for _, c := range cases {
		_, err := Decode(c.frames)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "collect: ") {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestDecodeMessageBudget(t *testing.T) {
	// Many tiny data points: each costs a struct however small on the wire.
	m := &metricspb.Metric{Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{}}}
	for range MaxMessages {
		m.GetGauge().DataPoints = append(m.GetGauge().DataPoints, &metricspb.NumberDataPoint{})
	}
	if _, err := Decode(otlptest.Batch(proc, []*metricspb.Metric{m}, nil)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%d data points: %v, want ErrTooLarge", MaxMessages, err)
	}
}
