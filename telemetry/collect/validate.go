package collect

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Timestamps before 2000 or after 2200 are not a clock's: a zero or a
// corrupt field.
const (
	minTime = 946684800 * 1e9
	maxTime = 7258118400 * 1e9
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// process checks a resource and returns the process it names.
func process(r *resourcepb.Resource) (Process, error) {
	attrs, err := attributes(r.GetAttributes())
	if err != nil {
		return Process{}, fmt.Errorf("resource: %w", err)
	}
	p := Process{Instance: attrs.Get("service.instance.id"), Service: attrs.Get("service.name"), Host: attrs.Get("host.name")}
	if p.Instance == "" {
		return Process{}, malformed("resource without service.instance.id")
	}
	if pid := attrs.Get("process.pid"); pid != "" {
		p.PID, _ = strconv.ParseInt(pid, 10, 64)
	}
	return p, nil
}

func (b *Batch) addProcess(p Process) {
	for _, q := range b.Processes {
		if q.Instance == p.Instance {
			return
		}
	}
	b.Processes = append(b.Processes, p)
}

func (b *Batch) addMetrics(rms []*metricspb.ResourceMetrics) error {
	for _, rm := range rms {
		p, err := process(rm.GetResource())
		if err != nil {
			return err
		}
		b.addProcess(p)
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if err := b.addMetric(p.Instance, m); err != nil {
					return fmt.Errorf("metric %.80q: %w", m.GetName(), err)
				}
			}
		}
	}
	return nil
}

func (b *Batch) addMetric(inst string, m *metricspb.Metric) error {
	if m.GetName() == "" || len(m.GetName()) > MaxText || len(m.GetUnit()) > MaxText {
		return malformed("name or unit empty or over %d bytes", MaxText)
	}
	base := Point{Instance: inst, Metric: m.GetName(), Unit: m.GetUnit()}
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		base.Kind = Gauge
		return b.addNumbers(base, d.Gauge.GetDataPoints(), false)
	case *metricspb.Metric_Sum:
		if d.Sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
			return malformed("temporality %v, want cumulative", d.Sum.GetAggregationTemporality())
		}
		base.Kind = UpDown
		if d.Sum.GetIsMonotonic() {
			base.Kind = Counter
		}
		return b.addNumbers(base, d.Sum.GetDataPoints(), d.Sum.GetIsMonotonic())
	case *metricspb.Metric_Histogram:
		if d.Histogram.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
			return malformed("temporality %v, want cumulative", d.Histogram.GetAggregationTemporality())
		}
		base.Kind = Histogram
		for _, dp := range d.Histogram.GetDataPoints() {
			h, err := explicitHist(dp)
			if err != nil {
				return err
			}
			if err := b.addPoint(base, dp.GetAttributes(), dp.GetStartTimeUnixNano(), dp.GetTimeUnixNano(), 0, h); err != nil {
				return err
			}
		}
		return nil
	case *metricspb.Metric_ExponentialHistogram:
		if d.ExponentialHistogram.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
			return malformed("temporality %v, want cumulative", d.ExponentialHistogram.GetAggregationTemporality())
		}
		base.Kind = Histogram
		for _, dp := range d.ExponentialHistogram.GetDataPoints() {
			h, err := expHist(dp)
			if err != nil {
				return err
			}
			if err := b.addPoint(base, dp.GetAttributes(), dp.GetStartTimeUnixNano(), dp.GetTimeUnixNano(), 0, h); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %T", ErrUnsupported, m.GetData())
}

func (b *Batch) addNumbers(base Point, dps []*metricspb.NumberDataPoint, monotonic bool) error {
	for _, dp := range dps {
		var v float64
		switch x := dp.GetValue().(type) {
		case *metricspb.NumberDataPoint_AsDouble:
			v = x.AsDouble
		case *metricspb.NumberDataPoint_AsInt:
			v = float64(x.AsInt)
		default:
			return malformed("data point without a value")
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return malformed("value %v", v)
		}
		if monotonic && v < 0 {
			return malformed("monotonic sum %v below zero", v)
		}
		if err := b.addPoint(base, dp.GetAttributes(), dp.GetStartTimeUnixNano(), dp.GetTimeUnixNano(), v, nil); err != nil {
			return err
		}
	}
	return nil
}

func (b *Batch) addPoint(p Point, kvs []*commonpb.KeyValue, start, t uint64, v float64, h *Hist) error {
	if t < minTime || t > maxTime || (start != 0 && (start < minTime || start > t)) {
		return malformed("timestamps start %d, time %d", start, t)
	}
	attrs, err := attributes(kvs)
	if err != nil {
		return err
	}
	p.Attrs, p.Start, p.Time, p.Value, p.Hist = attrs, int64(start), int64(t), v, h
	b.Points = append(b.Points, p)
	return nil
}

func checkSum(sum *float64) (float64, error) {
	if sum == nil {
		return 0, nil
	}
	if math.IsNaN(*sum) || math.IsInf(*sum, 0) {
		return 0, malformed("histogram sum %v", *sum)
	}
	return *sum, nil
}

func minMax(h *Hist, lo, hi *float64) error {
	if lo == nil || hi == nil {
		return nil
	}
	if math.IsNaN(*lo) || math.IsNaN(*hi) || *lo > *hi {
		return malformed("histogram min %v, max %v", *lo, *hi)
	}
	h.MinMax, h.Min, h.Max = true, *lo, *hi
	return nil
}

func explicitHist(dp *metricspb.HistogramDataPoint) (*Hist, error) {
	sum, err := checkSum(dp.Sum)
	if err != nil {
		return nil, err
	}
	h := &Hist{Count: dp.GetCount(), Sum: sum, Bounds: dp.GetExplicitBounds(), Counts: dp.GetBucketCounts()}
	if err := minMax(h, dp.Min, dp.Max); err != nil {
		return nil, err
	}
	if len(h.Counts) > MaxBuckets {
		return nil, fmt.Errorf("%w: %d buckets, at most %d", ErrTooLarge, len(h.Counts), MaxBuckets)
	}
	if len(h.Counts) == 0 {
		h.Bounds = nil
		h.Counts = []uint64{h.Count}
	} else if len(h.Counts) != len(h.Bounds)+1 {
		return nil, malformed("%d buckets for %d bounds", len(h.Counts), len(h.Bounds))
	}
	for i, x := range h.Bounds {
		if math.IsNaN(x) || math.IsInf(x, 0) || (i > 0 && x <= h.Bounds[i-1]) {
			return nil, malformed("bounds not finite and increasing")
		}
	}
	return h, checkTotal(h.Count, 0, h.Counts)
}

func expHist(dp *metricspb.ExponentialHistogramDataPoint) (*Hist, error) {
	sum, err := checkSum(dp.Sum)
	if err != nil {
		return nil, err
	}
	h := &Hist{Count: dp.GetCount(), Sum: sum, Exp: true, Scale: dp.GetScale(), Zero: dp.GetZeroCount(),
		PosOffset: dp.GetPositive().GetOffset(), Pos: dp.GetPositive().GetBucketCounts(),
		NegOffset: dp.GetNegative().GetOffset(), Neg: dp.GetNegative().GetBucketCounts()}
	if err := minMax(h, dp.Min, dp.Max); err != nil {
		return nil, err
	}
	if h.Scale < -10 || h.Scale > 20 {
		return nil, malformed("scale %d outside [-10, 20]", h.Scale)
	}
	if len(h.Pos) > MaxBuckets || len(h.Neg) > MaxBuckets {
		return nil, fmt.Errorf("%w: %d+%d buckets, at most %d a side", ErrTooLarge, len(h.Pos), len(h.Neg), MaxBuckets)
	}
	if int64(h.PosOffset)+int64(len(h.Pos)) > math.MaxInt32 || int64(h.NegOffset)+int64(len(h.Neg)) > math.MaxInt32 {
		return nil, malformed("bucket offset out of range")
	}
	return h, checkTotal(h.Count, h.Zero, h.Pos, h.Neg)
}

// checkTotal checks that the buckets add up to count, without overflow.
func checkTotal(count, total uint64, sides ...[]uint64) error {
	for _, side := range sides {
		for _, n := range side {
			if total+n < total {
				return malformed("bucket counts overflow")
			}
			total += n
		}
	}
	if total != count {
		return malformed("buckets add up to %d, count %d", total, count)
	}
	return nil
}

// attributes renders OTLP attributes as sorted text.
func attributes(kvs []*commonpb.KeyValue) (Attrs, error) {
	if len(kvs) > MaxAttrs {
		return nil, fmt.Errorf("%w: %d attributes, at most %d", ErrTooLarge, len(kvs), MaxAttrs)
	}
	out := make(Attrs, 0, len(kvs))
	for _, kv := range kvs {
		v, err := attrValue(kv.GetValue())
		if err != nil {
			return nil, err
		}
		if kv.GetKey() == "" || len(kv.GetKey()) > MaxText || len(v) > MaxText {
			return nil, malformed("attribute key empty, or key or value over %d bytes", MaxText)
		}
		out = append(out, Attr{kv.GetKey(), v})
	}
	slices.SortFunc(out, func(a, b Attr) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(out); i++ {
		if out[i].Key == out[i-1].Key {
			return nil, malformed("attribute %.80q twice", out[i].Key)
		}
	}
	return out, nil
}

// attrValue renders the scalar attribute values as text; lists, maps and
// bytes, which the wire's contract does not use, are refused.
func attrValue(v *commonpb.AnyValue) (string, error) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue, nil
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10), nil
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue), nil
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64), nil
	case nil:
		return "", nil
	}
	return "", malformed("attribute value of type %T", v.GetValue())
}

func (b *Batch) addSpans(rss []*tracepb.ResourceSpans) error {
	for _, rs := range rss {
		p, err := process(rs.GetResource())
		if err != nil {
			return err
		}
		b.addProcess(p)
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				t, err := task(p.Instance, s)
				if err != nil {
					return fmt.Errorf("span %.80q: %w", s.GetName(), err)
				}
				b.Tasks = append(b.Tasks, t)
			}
		}
	}
	return nil
}

func task(inst string, s *tracepb.Span) (Task, error) {
	start, end := s.GetStartTimeUnixNano(), s.GetEndTimeUnixNano()
	if start < minTime || end > maxTime || start > end {
		return Task{}, malformed("timestamps start %d, end %d", start, end)
	}
	if len(s.GetName()) > MaxText || len(s.GetStatus().GetMessage()) > MaxText {
		return Task{}, malformed("name or status over %d bytes", MaxText)
	}
	attrs, err := attributes(s.GetAttributes())
	if err != nil {
		return Task{}, err
	}
	t := Task{Instance: inst, Worker: attrs.Get(telemetry.AttrWorker), Label: s.GetName(), Start: int64(start), End: int64(end)}
	if t.Worker == "" {
		t.Worker = inst
	}
	t.Slot, _ = strconv.ParseInt(attrs.Get(telemetry.AttrSlot), 10, 64)
	t.Task, _ = strconv.ParseInt(attrs.Get(telemetry.AttrTask), 10, 64)
	if s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Error = s.GetStatus().GetMessage()
		if t.Error == "" {
			t.Error = "error"
		}
	}
	return t, nil
}
