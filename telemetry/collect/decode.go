package collect

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Bounds on what one batch may hold. A batch within them costs the
// collector memory in proportion to its size on the wire.
const (
	// MaxDepth bounds the nesting of protobuf messages (an OTLP batch
	// needs 8; attribute values that are lists or maps add to it).
	MaxDepth = 16
	// MaxMessages bounds the protobuf messages in one batch, each costing
	// a Go struct of some hundred bytes however few bytes it had on the
	// wire; and a batch may hold at most one message every MessageBytes
	// bytes (real ones take ten or more), so that what it costs stays in
	// proportion to its size.
	MaxMessages  = 1 << 16
	MessageBytes = 4
	// MaxBuckets bounds the buckets of one histogram (each side of an
	// exponential one).
	MaxBuckets = 1024
	// MaxAttrs bounds the attributes of one point, span or resource.
	MaxAttrs = 64
	// MaxText bounds a name, an attribute's key or value, in bytes.
	MaxText = 1024
)

// resourceMetricsDesc and resourceSpansDesc describe field 1, the repeated
// element, of OTLP's two export requests: the requests' own generated types
// live in OTLP's collector packages, which pull in grpc, so the wrapper
// around field 1 is walked by hand.
var (
	resourceMetricsDesc = (&metricspb.ResourceMetrics{}).ProtoReflect().Descriptor()
	resourceSpansDesc   = (&tracepb.ResourceSpans{}).ProtoReflect().Descriptor()
)

// Decode checks and decodes one batch as received: frame 0 the version,
// frame 1 the metrics, an optional frame 2 the task spans (see the
// telemetry package's doc). It reads the frames without keeping them. A
// batch that is not one returns an error wrapping one of the package's
// sentinels, and no partial Batch.
func Decode(frames [][]byte) (Batch, error) {
	if len(frames) < 2 || len(frames) > 3 {
		return Batch{}, fmt.Errorf("%w: %d, want 2 or 3", ErrFrames, len(frames))
	}
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	if size > telemetry.MaxBatchBytes {
		return Batch{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, size, telemetry.MaxBatchBytes)
	}
	if !bytes.Equal(frames[0], []byte(telemetry.Version)) {
		return Batch{}, fmt.Errorf("%w: %.40q", ErrVersion, frames[0])
	}
	budget := min(MaxMessages, (size-len(frames[0]))/MessageBytes+64)
	rms, err := unmarshalRequest(frames[1], resourceMetricsDesc, &budget, func() *metricspb.ResourceMetrics { return new(metricspb.ResourceMetrics) })
	if err != nil {
		return Batch{}, fmt.Errorf("metrics frame: %w", err)
	}
	var rss []*tracepb.ResourceSpans
	if len(frames) == 3 {
		rss, err = unmarshalRequest(frames[2], resourceSpansDesc, &budget, func() *tracepb.ResourceSpans { return new(tracepb.ResourceSpans) })
		if err != nil {
			return Batch{}, fmt.Errorf("trace frame: %w", err)
		}
	}
	var b Batch
	if err := b.addMetrics(rms); err != nil {
		return Batch{}, err
	}
	if err := b.addSpans(rss); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// unmarshalRequest decodes an ExportXServiceRequest: field 1, repeated,
// each a T; other fields are skipped, as protobuf does with unknown ones.
// Before a T is unmarshalled its nesting and message count are checked
// against MaxDepth and what is left of budget.
func unmarshalRequest[T proto.Message](b []byte, desc protoreflect.MessageDescriptor, budget *int, alloc func() T) ([]T, error) {
	var out []T
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		if err := scan(v, desc, 1, budget); err != nil {
			return nil, err
		}
		m := alloc()
		if err := (proto.UnmarshalOptions{RecursionLimit: MaxDepth + 1}).Unmarshal(v, m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// scan walks a message's wire form without decoding it, counting the
// messages it holds against budget and its nesting against MaxDepth, so
// that a small hostile batch cannot make proto.Unmarshal build millions of
// structs.
func scan(b []byte, desc protoreflect.MessageDescriptor, depth int, budget *int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrTooLarge, MaxDepth)
	}
	if *budget--; *budget < 0 {
		return fmt.Errorf("%w: more than %d protobuf messages, or one every %d bytes", ErrTooLarge, MaxMessages, MessageBytes)
	}
	fields := desc.Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		fd := fields.ByNumber(num)
		if fd != nil && fd.Kind() == protoreflect.MessageKind && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			if err := scan(v, fd.Message(), depth+1, budget); err != nil {
				return err
			}
		}
		b = b[n:]
	}
	return nil
}
