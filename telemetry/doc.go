// Package telemetry profiles zmqflow programs: every actor, stage, broker,
// worker and socket measured in the process, and the figures shipped in
// batches over ZeroMQ to a collector (cmd/zprof), without slowing down what
// they measure.
//
// It is off by default, and then it costs nothing: no clock is read and no
// goroutine runs. Setting ZMQFLOW_PROFILE to an endpoint (for example
// tcp://host:5580) turns it on for any program built on zmqflow; Start does the
// same from Go.
//
// # The wire
//
// A batch is one ZeroMQ message, sent over PUSH every interval (never per
// message), in the standard OpenTelemetry (OTLP) protobuf schema, so that a
// collector can forward it to the tools people already run:
//
//   - frame 0: the version tag "zmqflow.telemetry.v1" (Version);
//   - frame 1: an OTLP ExportMetricsServiceRequest;
//   - frame 2, when there are finished tasks to report: an OTLP
//     ExportTraceServiceRequest, one span per task.
//
// Sums and histograms are cumulative from the process's start, so a batch
// lost or dropped on the way loses nothing but time resolution: the next one
// carries the totals. A batch is at most MaxBatchBytes.
//
// Every batch has one resource, the process, with the attributes service.name
// (the program), service.instance.id (unique per process run), host.name and
// process.pid, and one scope, ScopeName. The metrics and their attributes are
// the constants of names.go.
package telemetry
