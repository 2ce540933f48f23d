package telemetry

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The OTLP protobuf schema, written by hand with protowire so that the
// package needs no generated types: the field numbers of
// opentelemetry-proto's collector/metrics/v1, metrics/v1, trace/v1,
// common/v1 and resource/v1 that a batch uses. otlp_test.go decodes what
// these write with the generated types.
const (
	fRequestResource = 1 // Export{Metrics,Trace}ServiceRequest.resource_{metrics,spans}

	fResourceAttrs = 1 // Resource.attributes

	fResScope = 1 // ResourceMetrics.resource, ResourceSpans.resource
	fResInner = 2 // ResourceMetrics.scope_metrics, ResourceSpans.scope_spans

	fScope        = 1 // ScopeMetrics.scope, ScopeSpans.scope
	fScopeItems   = 2 // ScopeMetrics.metrics, ScopeSpans.spans
	fScopeName    = 1 // InstrumentationScope.name
	fScopeVersion = 2 // InstrumentationScope.version

	fKVKey    = 1 // KeyValue.key
	fKVValue  = 2 // KeyValue.value
	fAnyStr   = 1 // AnyValue.string_value
	fAnyInt   = 3 // AnyValue.int_value
	fAnyFloat = 4 // AnyValue.double_value

	fMetricName  = 1  // Metric.name
	fMetricUnit  = 3  // Metric.unit
	fMetricGauge = 5  // Metric.gauge
	fMetricSum   = 7  // Metric.sum
	fMetricExpH  = 10 // Metric.exponential_histogram

	fPoints      = 1 // Gauge, Sum, ExponentialHistogram .data_points
	fTemporality = 2 // Sum, ExponentialHistogram .aggregation_temporality
	fMonotonic   = 3 // Sum.is_monotonic
	cumulative   = 2 // AGGREGATION_TEMPORALITY_CUMULATIVE

	fNumStart  = 2 // NumberDataPoint.start_time_unix_nano
	fNumTime   = 3 // NumberDataPoint.time_unix_nano
	fNumDouble = 4 // NumberDataPoint.as_double
	fNumInt    = 6 // NumberDataPoint.as_int
	fNumAttrs  = 7 // NumberDataPoint.attributes

	fHistAttrs    = 1 // ExponentialHistogramDataPoint.attributes
	fHistStart    = 2 // .start_time_unix_nano
	fHistTime     = 3 // .time_unix_nano
	fHistCount    = 4 // .count
	fHistSum      = 5 // .sum
	fHistScale    = 6 // .scale
	fHistZero     = 7 // .zero_count
	fHistPositive = 8 // .positive
	fBucketOffset = 1 // Buckets.offset
	fBucketCounts = 2 // Buckets.bucket_counts

	fSpanTrace   = 1  // Span.trace_id
	fSpanID      = 2  // Span.span_id
	fSpanName    = 5  // Span.name
	fSpanKind    = 6  // Span.kind
	fSpanStart   = 7  // Span.start_time_unix_nano
	fSpanEnd     = 8  // Span.end_time_unix_nano
	fSpanAttrs   = 9  // Span.attributes
	fSpanStatus  = 15 // Span.status
	kindInternal = 1  // SPAN_KIND_INTERNAL
	fStatusMsg   = 2  // Status.message
	fStatusCode  = 3  // Status.code
	statusOK     = 1  // STATUS_CODE_OK
	statusError  = 2  // STATUS_CODE_ERROR
)

// appendMsg appends field num holding the message that body appends. The
// length goes in front of the body once it is known: one byte is kept for
// it, and the body moved along in the rare case it needs more.
func appendMsg(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	at := len(b)
	b = append(b, 0)
	b = body(b)
	n := len(b) - at - 1
	if extra := protowire.SizeVarint(uint64(n)) - 1; extra > 0 {
		b = append(b, make([]byte, extra)...)
		copy(b[at+1+extra:], b[at+1:len(b)-extra])
	}
	protowire.AppendVarint(b[:at], uint64(n))
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	return appendFixed64(b, num, math.Float64bits(v))
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendAttrs(b []byte, num protowire.Number, attrs []Attr) []byte {
	for _, a := range attrs {
		b = appendMsg(b, num, func(b []byte) []byte {
			b = appendString(b, fKVKey, a.Key)
			return appendMsg(b, fKVValue, func(b []byte) []byte {
				if a.IsInt {
					return appendVarint(b, fAnyInt, uint64(a.Int))
				}
				return appendString(b, fAnyStr, a.Str)
			})
		})
	}
	return b
}

// resource is what every batch says of the process.
type resource struct {
	attrs []Attr // service.name, service.instance.id, host.name, process.pid
}

func (r *resource) appendTo(b []byte) []byte {
	return appendMsg(b, fResScope, func(b []byte) []byte {
		return appendAttrs(b, fResourceAttrs, r.attrs)
	})
}

func appendScope(b []byte) []byte {
	return appendMsg(b, fScope, func(b []byte) []byte {
		b = appendString(b, fScopeName, ScopeName)
		return appendString(b, fScopeVersion, Version)
	})
}

// point is one data point of a batch: a series read at one time.
type point struct {
	name, unit string
	kind       kind
	attrs      []Attr
	start      uint64  // when its totals began, if not the batch's start
	i          int64   // kindSum, kindGauge
	f          float64 // kindDuration (seconds); also a Sum of seconds
	isFloat    bool
	hist       histSnap
}

// appendMetrics appends an ExportMetricsServiceRequest of one resource
// and one scope holding pts, each its own Metric. start is when the
// cumulative sums began (the process's start) for the points that carry
// no start of their own, now the time of the read, both in Unix
// nanoseconds.
func appendMetrics(b []byte, res *resource, start, now uint64, pts []point) []byte {
	return appendMsg(b, fRequestResource, func(b []byte) []byte {
		b = res.appendTo(b)
		return appendMsg(b, fResInner, func(b []byte) []byte {
			b = appendScope(b)
			for i := range pts {
				b = appendMsg(b, fScopeItems, func(b []byte) []byte {
					return appendMetric(b, &pts[i], start, now)
				})
			}
			return b
		})
	})
}

func appendMetric(b []byte, p *point, start, now uint64) []byte {
	if p.start != 0 {
		// A start after the time would have the collector reject the
		// batch: a wall clock that stepped back.
		start = min(p.start, now)
	}
	b = appendString(b, fMetricName, p.name)
	b = appendString(b, fMetricUnit, p.unit)
	switch p.kind {
	case kindGauge:
		return appendMsg(b, fMetricGauge, func(b []byte) []byte {
			return appendMsg(b, fPoints, func(b []byte) []byte {
				return appendNumber(b, p, 0, now)
			})
		})
	case kindHist:
		return appendMsg(b, fMetricExpH, func(b []byte) []byte {
			b = appendMsg(b, fPoints, func(b []byte) []byte {
				return appendHist(b, p, start, now)
			})
			return appendVarint(b, fTemporality, cumulative)
		})
	}
	return appendMsg(b, fMetricSum, func(b []byte) []byte {
		b = appendMsg(b, fPoints, func(b []byte) []byte {
			return appendNumber(b, p, start, now)
		})
		b = appendVarint(b, fTemporality, cumulative)
		return appendVarint(b, fMonotonic, 1)
	})
}

func appendNumber(b []byte, p *point, start, now uint64) []byte {
	if start != 0 {
		b = appendFixed64(b, fNumStart, start)
	}
	b = appendFixed64(b, fNumTime, now)
	if p.isFloat {
		b = appendDouble(b, fNumDouble, p.f)
	} else {
		b = appendFixed64(b, fNumInt, uint64(p.i)) // sfixed64
	}
	return appendAttrs(b, fNumAttrs, p.attrs)
}

func appendHist(b []byte, p *point, start, now uint64) []byte {
	h := &p.hist
	b = appendAttrs(b, fHistAttrs, p.attrs)
	b = appendFixed64(b, fHistStart, start)
	b = appendFixed64(b, fHistTime, now)
	b = appendFixed64(b, fHistCount, h.count)
	if h.hasSum {
		b = appendDouble(b, fHistSum, h.sum)
	}
	b = appendVarint(b, fHistScale, protowire.EncodeZigZag(Scale))
	b = appendFixed64(b, fHistZero, h.zero)
	if len(h.counts) == 0 {
		return b
	}
	return appendMsg(b, fHistPositive, func(b []byte) []byte {
		b = appendVarint(b, fBucketOffset, protowire.EncodeZigZag(int64(h.offset)))
		return appendMsg(b, fBucketCounts, func(b []byte) []byte {
			for _, n := range h.counts {
				b = protowire.AppendVarint(b, n)
			}
			return b
		})
	})
}

// span is a finished task for the timeline.
type span struct {
	id         [8]byte
	name       string
	start, end uint64 // Unix nanoseconds
	attrs      []Attr
	err        string
	failed     bool
}

// appendTrace appends an ExportTraceServiceRequest of one resource and one
// scope holding spans, all of the process's trace.
func appendTrace(b []byte, res *resource, trace [16]byte, spans []span) []byte {
	return appendMsg(b, fRequestResource, func(b []byte) []byte {
		b = res.appendTo(b)
		return appendMsg(b, fResInner, func(b []byte) []byte {
			b = appendScope(b)
			for i := range spans {
				b = appendMsg(b, fScopeItems, func(b []byte) []byte {
					return appendSpan(b, trace, &spans[i])
				})
			}
			return b
		})
	})
}

func appendSpan(b []byte, trace [16]byte, s *span) []byte {
	b = protowire.AppendTag(b, fSpanTrace, protowire.BytesType)
	b = protowire.AppendBytes(b, trace[:])
	b = protowire.AppendTag(b, fSpanID, protowire.BytesType)
	b = protowire.AppendBytes(b, s.id[:])
	b = appendString(b, fSpanName, s.name)
	b = appendVarint(b, fSpanKind, kindInternal)
	b = appendFixed64(b, fSpanStart, s.start)
	b = appendFixed64(b, fSpanEnd, s.end)
	b = appendAttrs(b, fSpanAttrs, s.attrs)
	return appendMsg(b, fSpanStatus, func(b []byte) []byte {
		if !s.failed {
			return appendVarint(b, fStatusCode, statusOK)
		}
		b = appendString(b, fStatusMsg, s.err)
		return appendVarint(b, fStatusCode, statusError)
	})
}
