package telemetry

import (
	"math"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The encoding is checked by decoding it with the generated types of
// opentelemetry-proto: every field lands where the schema says, and none is
// unknown to it.

// unwrap splits an Export*ServiceRequest, field 1 repeated, into its
// elements: the request types live in collector/..., which this module
// does not import.
func unwrap(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			t.Fatalf("request: field %d type %d (n %d), want 1 bytes", num, typ, n)
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			t.Fatalf("request: bad length")
		}
		out = append(out, v)
		b = b[n:]
	}
	return out
}

// noUnknown fails if any message in m holds fields its schema does not
// know: a field number we got wrong.
func noUnknown(t *testing.T, m protoreflect.Message) {
	t.Helper()
	if u := m.GetUnknown(); len(u) > 0 {
		t.Fatalf("%s has unknown fields % x", m.Descriptor().FullName(), u)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				noUnknown(t, v.List().Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			noUnknown(t, v.Message())
		}
		return true
	})
}

func attrMap(t *testing.T, kvs []*commonpb.KeyValue) map[string]any {
	t.Helper()
	m := make(map[string]any)
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		default:
			t.Fatalf("attribute %s: value %T", kv.Key, v)
		}
	}
	return m
}

func testResource() *resource {
	return &resource{attrs: []Attr{String("service.name", "svc"), Int("process.pid", 42)}}
}

func checkResourceScope(t *testing.T, res map[string]any, name, version string) {
	t.Helper()
	if res["service.name"] != "svc" || res["process.pid"] != int64(42) || len(res) != 2 {
		t.Errorf("resource attributes %v", res)
	}
	if name != ScopeName || version != Version {
		t.Errorf("scope %q %q", name, version)
	}
}

func TestMetricsEncoding(t *testing.T) {
	var h Histogram
	for _, ns := range []int64{0, 1000, 1000, 2_000_000, 1_000_000_000} {
		h.RecordNs(ns)
	}
	hs := h.snapshot()
	pts := []point{
		{name: "c", unit: "{message}", kind: kindSum, i: 1 << 40, attrs: []Attr{String("k", "v"), Int("n", -3)}},
		{name: "d", unit: "s", kind: kindDuration, f: 1.5, isFloat: true},
		{name: "g", unit: "{peer}", kind: kindGauge, i: -7},
		{name: "h", unit: "s", kind: kindHist, hist: hs, attrs: []Attr{String("a", "b")}},
	}
	const start, now = 1_700_000_000_000_000_000, 1_700_000_001_000_000_000
	b := appendMetrics(nil, testResource(), start, now, pts)
	elems := unwrap(t, b)
	if len(elems) != 1 {
		t.Fatalf("%d ResourceMetrics, want 1", len(elems))
	}
	var rm metricspb.ResourceMetrics
	if err := proto.Unmarshal(elems[0], &rm); err != nil {
		t.Fatal(err)
	}
	noUnknown(t, rm.ProtoReflect())
	if len(rm.ScopeMetrics) != 1 {
		t.Fatalf("%d scopes", len(rm.ScopeMetrics))
	}
	sm := rm.ScopeMetrics[0]
	checkResourceScope(t, attrMap(t, rm.Resource.Attributes), sm.Scope.Name, sm.Scope.Version)
	ms := sm.Metrics
	if len(ms) != 4 {
		t.Fatalf("%d metrics, want 4", len(ms))
	}

	c := ms[0].GetSum()
	if ms[0].Name != "c" || ms[0].Unit != "{message}" || c == nil || !c.IsMonotonic ||
		c.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE || len(c.DataPoints) != 1 {
		t.Fatalf("sum metric %v", ms[0])
	}
	dp := c.DataPoints[0]
	if dp.GetAsInt() != 1<<40 || dp.StartTimeUnixNano != start || dp.TimeUnixNano != now {
		t.Errorf("sum point %v", dp)
	}
	if a := attrMap(t, dp.Attributes); a["k"] != "v" || a["n"] != int64(-3) || len(a) != 2 {
		t.Errorf("sum attributes %v", a)
	}

	d := ms[1].GetSum()
	if d == nil || ms[1].Unit != "s" || d.DataPoints[0].GetAsDouble() != 1.5 || !d.IsMonotonic {
		t.Errorf("duration metric %v", ms[1])
	}

	g := ms[2].GetGauge()
	if g == nil || len(g.DataPoints) != 1 || g.DataPoints[0].GetAsInt() != -7 || g.DataPoints[0].TimeUnixNano != now {
		t.Errorf("gauge metric %v", ms[2])
	}

	eh := ms[3].GetExponentialHistogram()
	if eh == nil || eh.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE || len(eh.DataPoints) != 1 {
		t.Fatalf("histogram metric %v", ms[3])
	}
	hp := eh.DataPoints[0]
	if hp.Count != 5 || hp.ZeroCount != 1 || hp.Scale != Scale || hp.GetSum() != 1.002002 ||
		hp.StartTimeUnixNano != start || hp.TimeUnixNano != now {
		t.Errorf("histogram point count %d zero %d scale %d sum %v", hp.Count, hp.ZeroCount, hp.Scale, hp.GetSum())
	}
	if a := attrMap(t, hp.Attributes); a["a"] != "b" {
		t.Errorf("histogram attributes %v", a)
	}
	// Each value is in the bucket the schema puts it in.
	got := map[int32]uint64{}
	var total uint64
	for i, n := range hp.Positive.BucketCounts {
		if n > 0 {
			got[hp.Positive.Offset+int32(i)] += n
		}
		total += n
	}
	want := map[int32]uint64{}
	for _, v := range []float64{1e-6, 1e-6, 2e-3, 1} {
		want[int32(math.Ceil(math.Log2(v)*(1<<Scale)))-1]++
	}
	if total+hp.ZeroCount != hp.Count || len(got) != len(want) {
		t.Fatalf("buckets %v, want %v", got, want)
	}
	for i, n := range want {
		if got[i] != n {
			t.Errorf("bucket %d holds %d, want %d (all %v)", i, got[i], n, got)
		}
	}
}

func TestTraceEncoding(t *testing.T) {
	trace := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	start := time.Unix(1000, 5)
	spans := []span{
		{id: [8]byte{0, 0, 0, 0, 0, 0, 0, 1}, name: "point", start: uint64(start.UnixNano()), end: uint64(start.UnixNano()) + 99,
			attrs: []Attr{String(AttrWorker, "w1"), Int(AttrSlot, 2), Int(AttrTask, 7)}},
		{id: [8]byte{0, 0, 0, 0, 0, 0, 0, 2}, name: "bad", failed: true, err: "boom"},
	}
	elems := unwrap(t, appendTrace(nil, testResource(), trace, spans))
	if len(elems) != 1 {
		t.Fatalf("%d ResourceSpans", len(elems))
	}
	var rs tracepb.ResourceSpans
	if err := proto.Unmarshal(elems[0], &rs); err != nil {
		t.Fatal(err)
	}
	noUnknown(t, rs.ProtoReflect())
	ss := rs.ScopeSpans[0]
	checkResourceScope(t, attrMap(t, rs.Resource.Attributes), ss.Scope.Name, ss.Scope.Version)
	if len(ss.Spans) != 2 {
		t.Fatalf("%d spans", len(ss.Spans))
	}
	s := ss.Spans[0]
	if string(s.TraceId) != string(trace[:]) || s.SpanId[7] != 1 || len(s.SpanId) != 8 || s.Name != "point" ||
		s.Kind != tracepb.Span_SPAN_KIND_INTERNAL || s.StartTimeUnixNano != uint64(start.UnixNano()) ||
		s.EndTimeUnixNano != uint64(start.UnixNano())+99 || s.Status.Code != tracepb.Status_STATUS_CODE_OK {
		t.Errorf("span %v", s)
	}
	if a := attrMap(t, s.Attributes); a[AttrWorker] != "w1" || a[AttrSlot] != int64(2) || a[AttrTask] != int64(7) {
		t.Errorf("span attributes %v", a)
	}
	if f := ss.Spans[1]; f.Status.Code != tracepb.Status_STATUS_CODE_ERROR || f.Status.Message != "boom" {
		t.Errorf("failed span status %v", f.Status)
	}
}

// A body longer than 127 bytes needs a longer length than the byte kept
// for it: appendMsg moves it along.
func TestAppendMsgLongBody(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 20000, 3 << 20} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i)
		}
		b := appendMsg([]byte{9}, 5, func(b []byte) []byte { return append(b, body...) })
		num, typ, tn := protowire.ConsumeTag(b[1:])
		v, vn := protowire.ConsumeBytes(b[1+tn:])
		if num != 5 || typ != protowire.BytesType || vn < 0 || string(v) != string(body) || 1+tn+vn != len(b) || b[0] != 9 {
			t.Fatalf("body of %d bytes: field %d, %d bytes back", n, num, len(v))
		}
	}
}

func TestBucketIndex(t *testing.T) {
	base := math.Exp2(1.0 / (1 << Scale))
	for _, v := range []float64{1e-9, 3e-7, 1, 2, 0.5, 1.0905, 1.0906, 3.3, 1e3, 12345.678} {
		i := bucketIndex(v)
		lo, hi := math.Pow(base, float64(i)), math.Pow(base, float64(i+1))
		if !(lo < v*(1+1e-12) && v <= hi*(1+1e-12)) {
			t.Errorf("%v in bucket %d = (%v, %v]", v, i, lo, hi)
		}
	}
	if bucketIndex(1) != -1 || bucketIndex(2) != bucketsPerOctave-1 {
		t.Errorf("powers of two: 1 in %d, 2 in %d", bucketIndex(1), bucketIndex(2))
	}
}

// bucketIndex agrees with the boundaries' definition everywhere in an
// octave, near each boundary too.
func TestBucketIndexOctave(t *testing.T) {
	for _, e := range []int{-30, -1, 0, 5} {
		for i := 0; i < 1<<14; i++ {
			v := math.Ldexp(1+float64(i)/(1<<14), e)
			want := int(math.Ceil(math.Log2(v)*(1<<Scale))) - 1
			got := bucketIndex(v)
			if got != want {
				// Within rounding of a boundary either side is right.
				b := math.Exp2(float64(got+1) / (1 << Scale))
				b0 := math.Exp2(float64(got) / (1 << Scale))
				if math.Abs(v-b)/v > 1e-12 && math.Abs(v-b0)/v > 1e-12 {
					t.Fatalf("%v: bucket %d, want %d", v, got, want)
				}
			}
		}
	}
}
