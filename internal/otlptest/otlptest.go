// Package otlptest makes telemetry batches the way a producer does, with
// OTLP's generated types, for the collector's tests: the frames of
// telemetry's wire contract, without the telemetry package's exporter. It
// is imported by tests and their helper programs only.
package otlptest

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Process is the resource of a batch.
type Process struct {
	Service, Instance, Host string
	PID                     int64
}

func (p Process) resource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		Str("service.name", p.Service), Str("service.instance.id", p.Instance),
		Str("host.name", p.Host), Int("process.pid", p.PID),
	}}
}

// Str and Int are attributes.
func Str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// Int is an integer attribute.
func Int(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

// Request encodes an ExportXServiceRequest of items, a batch's frame: its
// field 1, repeated, holds the resource data (the collector/... packages'
// types would pull in grpc).
func Request[T proto.Message](items ...T) []byte {
	var out []byte
	for _, m := range items {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, b)
	}
	return out
}

// Metrics decodes a batch's frame 1, an ExportMetricsServiceRequest, into
// its resources' metrics: the inverse of wrap, for tests that read what a
// producer sent. It fails on anything but field 1 of ResourceMetrics.
func Metrics(req []byte) ([]*metricspb.ResourceMetrics, error) {
	var out []*metricspb.ResourceMetrics
	for len(req) > 0 {
		num, typ, n := protowire.ConsumeTag(req)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return nil, errors.New("otlptest: not a field 1 of ResourceMetrics")
		}
		v, vn := protowire.ConsumeBytes(req[n:])
		if vn < 0 {
			return nil, protowire.ParseError(vn)
		}
		req = req[n+vn:]
		rm := new(metricspb.ResourceMetrics)
		if err := proto.Unmarshal(v, rm); err != nil {
			return nil, err
		}
		out = append(out, rm)
	}
	return out, nil
}

// Batch returns the frames of one batch of p's: the metrics, and the spans
// when there are any.
func Batch(p Process, metrics []*metricspb.Metric, spans []*tracepb.Span) [][]byte {
	scope := &commonpb.InstrumentationScope{Name: telemetry.ScopeName}
	frames := [][]byte{[]byte(telemetry.Version), Request(&metricspb.ResourceMetrics{
		Resource:     p.resource(),
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: scope, Metrics: metrics}},
	})}
	if len(spans) > 0 {
		frames = append(frames, Request(&tracepb.ResourceSpans{
			Resource:   p.resource(),
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: scope, Spans: spans}},
		}))
	}
	return frames
}

func ns(t time.Time) uint64 { return uint64(t.UnixNano()) }

// Counter is a monotonic cumulative sum.
func Counter(name, unit string, start, t time.Time, v int64, attrs ...*commonpb.KeyValue) *metricspb.Metric {
	return &metricspb.Metric{Name: name, Unit: unit, Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
		IsMonotonic:            true,
		AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
		DataPoints: []*metricspb.NumberDataPoint{{
			Attributes: attrs, StartTimeUnixNano: ns(start), TimeUnixNano: ns(t),
			Value: &metricspb.NumberDataPoint_AsInt{AsInt: v},
		}},
	}}}
}

// Gauge is a level.
func Gauge(name, unit string, t time.Time, v float64, attrs ...*commonpb.KeyValue) *metricspb.Metric {
	return &metricspb.Metric{Name: name, Unit: unit, Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{
		DataPoints: []*metricspb.NumberDataPoint{{
			Attributes: attrs, TimeUnixNano: ns(t),
			Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v},
		}},
	}}}
}

// ExpHist is a cumulative exponential histogram of values (all positive),
// at scale.
func ExpHist(name string, start, t time.Time, scale int32, values []float64, attrs ...*commonpb.KeyValue) *metricspb.Metric {
	h := NewHist(scale)
	for _, v := range values {
		h.Add(v)
	}
	return h.Metric(name, start, t, attrs...)
}

// Hist accumulates positive values into exponential buckets, as a
// producer's recorder does. It is not safe for concurrent use.
type Hist struct {
	scale  int32
	counts map[int]uint64
	n      uint64
	sum    float64
}

// NewHist returns an empty histogram at scale.
func NewHist(scale int32) *Hist { return &Hist{scale: scale, counts: make(map[int]uint64)} }

// Add records v > 0.
func (h *Hist) Add(v float64) {
	h.counts[int(math.Ceil(math.Ldexp(math.Log2(v), int(h.scale))))-1]++
	h.n++
	h.sum += v
}

// Metric is the histogram so far, as a cumulative OTLP metric in seconds.
func (h *Hist) Metric(name string, start, t time.Time, attrs ...*commonpb.KeyValue) *metricspb.Metric {
	sum := h.sum
	dp := &metricspb.ExponentialHistogramDataPoint{
		Attributes: attrs, StartTimeUnixNano: ns(start), TimeUnixNano: ns(t),
		Scale: h.scale, Count: h.n, Sum: &sum, Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{},
	}
	if h.n > 0 {
		lo, hi := math.MaxInt32, math.MinInt32
		for i := range h.counts {
			lo, hi = min(lo, i), max(hi, i)
		}
		dp.Positive.Offset = int32(lo)
		dp.Positive.BucketCounts = make([]uint64, hi-lo+1)
		for i, c := range h.counts {
			dp.Positive.BucketCounts[i-lo] = c
		}
	}
	return &metricspb.Metric{Name: name, Unit: "s", Data: &metricspb.Metric_ExponentialHistogram{
		ExponentialHistogram: &metricspb.ExponentialHistogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			DataPoints:             []*metricspb.ExponentialHistogramDataPoint{dp},
		}}}
}

// Span is one task a worker ran; errText non-empty marks it failed.
func Span(worker string, slot, task int64, label string, start, end time.Time, errText string) *tracepb.Span {
	s := &tracepb.Span{
		TraceId: make([]byte, 16), SpanId: binary.BigEndian.AppendUint64(nil, uint64(task)+1),
		Name: label, Kind: tracepb.Span_SPAN_KIND_INTERNAL,
		StartTimeUnixNano: ns(start), EndTimeUnixNano: ns(end),
		Attributes: []*commonpb.KeyValue{Str(telemetry.AttrWorker, worker), Int(telemetry.AttrSlot, slot), Int(telemetry.AttrTask, task)},
	}
	s.TraceId[15] = 1
	if errText != "" {
		s.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: errText}
	}
	return s
}
