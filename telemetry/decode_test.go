package telemetry

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// figures decodes a batch's metrics frame into "name{k=v,...}" -> value:
// a Sum's or Gauge's value, a histogram's count.
func figures(t *testing.T, frames [][]byte) map[string]float64 {
	t.Helper()
	if len(frames) < 2 || string(frames[0]) != Version {
		t.Fatalf("batch of %d frames, first %q", len(frames), frames[0])
	}
	out := make(map[string]float64)
	for _, e := range unwrap(t, frames[1]) {
		var rm metricspb.ResourceMetrics
		if err := proto.Unmarshal(e, &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case *metricspb.Metric_Sum:
					for _, p := range d.Sum.DataPoints {
						out[seriesName(m.Name, p.Attributes)] = number(p)
					}
				case *metricspb.Metric_Gauge:
					for _, p := range d.Gauge.DataPoints {
						out[seriesName(m.Name, p.Attributes)] = number(p)
					}
				case *metricspb.Metric_ExponentialHistogram:
					for _, p := range d.ExponentialHistogram.DataPoints {
						out[seriesName(m.Name, p.Attributes)] = float64(p.Count)
					}
				}
			}
		}
	}
	return out
}

func number(p *metricspb.NumberDataPoint) float64 {
	if v, ok := p.Value.(*metricspb.NumberDataPoint_AsInt); ok {
		return float64(v.AsInt)
	}
	return p.GetAsDouble()
}

func seriesName(name string, attrs []*commonpb.KeyValue) string {
	var kv []string
	for _, a := range attrs {
		switch v := a.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			kv = append(kv, a.Key+"="+v.StringValue)
		case *commonpb.AnyValue_IntValue:
			kv = append(kv, fmt.Sprintf("%s=%d", a.Key, v.IntValue))
		}
	}
	sort.Strings(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

// spans decodes a batch's trace frame, if it has one.
func spans(t *testing.T, frames [][]byte) []*tracepb.Span {
	t.Helper()
	if len(frames) < 3 {
		return nil
	}
	var out []*tracepb.Span
	for _, e := range unwrap(t, frames[2]) {
		var rs tracepb.ResourceSpans
		if err := proto.Unmarshal(e, &rs); err != nil {
			t.Fatal(err)
		}
		for _, ss := range rs.ScopeSpans {
			out = append(out, ss.Spans...)
		}
	}
	return out
}
