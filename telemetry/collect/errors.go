package collect

import "errors"

// Errors returned by the package. Each is wrapped with detail (what was
// wrong and where in the batch); test them with errors.Is.
var (
	// ErrVersion is a batch whose frame 0 is not telemetry.Version.
	ErrVersion = errors.New("collect: unknown telemetry version")
	// ErrFrames is a batch with the wrong number of frames.
	ErrFrames = errors.New("collect: wrong number of frames")
	// ErrTooLarge is a batch over telemetry.MaxBatchBytes, or one holding
	// more of something (points, buckets, attributes, spans, nesting) than
	// the collector keeps.
	ErrTooLarge = errors.New("collect: batch too large")
	// ErrMalformed is a batch that does not parse as OTLP protobuf, or that
	// parses but breaks the wire's contract: a missing instance id, a
	// delta temporality, NaN or negative counts, bucket counts that do not
	// add up, timestamps out of order.
	ErrMalformed = errors.New("collect: malformed batch")
	// ErrUnsupported is a metric of a kind the collector does not store
	// (OTLP's Summary, or no data at all).
	ErrUnsupported = errors.New("collect: unsupported metric kind")
	// ErrInUse is OpenStore's error for a database another Store (another
	// zprof collect) has open: two would overwrite each other's series.
	ErrInUse = errors.New("collect: database in use by another collector")
)
