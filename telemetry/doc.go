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
// # Turning it on
//
// With the environment variable, no code changes: the first socket or
// actor the program makes (the first call of Enabled) reads
// ZMQFLOW_PROFILE and starts the exporter. A value that is not
// transport://address is reported in one line on stderr and profiling
// stays off; the program runs on. From Go, Start(ctx, endpoint, opts...)
// does the same, with WithInterval (1 s by default) and WithName (the
// service.name; the executable's name by default).
//
// Sockets and actors made while profiling is on are measured; those made
// before are not (start it first). Stop sends the last batch and waits,
// within its ctx, for it to be delivered, so that the collector holds the
// run's exact totals; once the collector is known to be away (its
// endpoint refused the connection, or the connection was lost) it does
// not wait. Flush is Stop within FlushTimeout, for a deferred
// call at the top of a program's main (after every other deferred Close
// has run). Without it, a program that ends loses the figures of its last
// interval. Every program under examples/ calls it.
//
// Package telemetry is a leaf: it imports neither socket nor actor, which
// import it. Batches leave through a Transport that package socket
// registers at init (SetTransport): a PUSH socket connected to the
// endpoint, with a send high-water mark of 2 batches. The exporter hands it
// each batch without waiting (TrySend): a batch that finds no room, because
// the collector is slow, absent or restarting, is dropped and counted
// (MetricBatchesDropped, ReadStats), never waited for. Since sums are
// cumulative, the next batch that gets through carries the totals. The
// first batch lost, or a last batch that Stop could not deliver, is
// reported in one line on stderr, once a process; when no collector is
// connected (ErrNoCollector) a line says where one was expected and how
// to start it, once, even after a line about another loss (a slow
// collector). A program that starts zmqflow programs of its own as
// child processes, on its stderr, gives them ChildEnv: an absent
// collector is then said once, by the parent, for all of them.
//
// # What is measured
//
// Per actor (actors and supervisors given no observer of their own, or of
// their supervisor, get one that records into this package): messages
// handled ("in"), and, for a package patterns reference (Outbox), messages
// sent ("out"); handling and queueing time as exponential histograms; the
// mailbox depth; time senders were blocked at a full mailbox; dead
// letters, failures and restarts; and a broker's own figures
// (actor.Figures, through actor.ProfileFigures when it was given no
// observer). Handling and queueing times are of a sample of the messages,
// its period adapted once a batch to each actor's rate (about 128 timed
// messages an interval), and the blocked time is estimated from a sample
// of the waits: reading the clock for every message would cost more than
// all the rest. Counts are exact. Actors of one name add up; those given
// no name (actor.WithName) are measured together as "actor" or
// "supervisor", so that a program that spawns an actor per request keeps
// a bounded number of series.
//
// Per socket: messages and bytes each way, drops (messages dropped at a
// high-water mark or unroutable, and those discarded at Close), and peers.
// Sockets are named by their type and first endpoint, and those of one
// name add up too: a client that reopens its socket on every retry keeps
// its series. A program that binds a new endpoint for every session (an
// ephemeral port) makes new series without end: once there are MaxSeries,
// series that nothing feeds any more (a closed socket's, a stopped actor's)
// make room for new ones, as soon as a batch has shipped their last
// totals. The same holds for a program that names each actor after its
// session or peer: the series the profiler keeps for an actor go this way
// once it stopped (not the figures a component reports, see
// actor.ProfileFigures, which are instruments), and a dead letter told to
// it after that still counts: it is added to its series without holding
// it, and makes the series again, with a start of its own, if it was let
// go meanwhile.
// Per process: CPU time (user and system), resident memory, goroutines,
// and GC pauses (the runtime's histogram, in the same exponential
// buckets). Per task, for the timeline of tasks per worker slot: what Task
// records, which gridsearch workers do for every point, and the pirate and
// Majordomo workers for every request.
//
// Histograms use OTLP exponential buckets at one fixed Scale (3: eight
// buckets per doubling, each about 9% wide), so that histograms from any
// process and interval merge by adding bucket counts.
//
// # Cost
//
// Off: sockets and actors check one bool when they are made, and a socket
// one pointer per Send and Recv. On: PUSH, PULL, DEALER and PAIR count a
// message under the lock Send or Recv takes anyway, the other types with
// one atomic add; per actor message, a counter and a mask test (under the
// mailbox's lock, or, for a message handed to an idle actor, by the sender
// that handed it, with no lock), and for the sampled messages three clock
// reads and two Recorder records (plain stores into a ring by the actor's
// goroutine alone, published with one atomic store per batch of messages;
// the bucketing is the exporter's). Records are lock-free, and allocate
// only for the first value in a range of 32 buckets. Once an interval the
// exporter reads the registry and encodes a batch (about 0.1 ms for a few
// dozen series). What profiling keeps live is small, because in a program
// whose live heap is a few MB, well under the GC's 4 MB minimum goal,
// every kilobyte kept live shortens the allocation between two GC cycles:
// a Recorder is its 1 KB ring; a histogram series holds only the chunks of
// buckets its values fell in (about 1 KB for an actor's times), and as much
// again for what its Recorders published; the exporter keeps nothing of a
// batch it handed over, its transport at most 2 batches, and its socket
// writes a batch without borrowing a large buffer. The benchmarks in
// bench_test.go and patterns' BenchmarkPipelineProfile (which reports GC
// cycles per message) measure it.
//
// Library code can add its own series: NewCounter, NewDuration, NewGauge
// and NewHistogram return process-wide instruments, shared by every caller
// with the same name and attributes, at most MaxSeries of them, and never
// let go; GaugeFunc, CounterFunc and DurationFunc add values read once a
// batch, and NewRecorder a Recorder of a histogram: a series whose
// functions and Recorders are all gone may make room for another (see
// MaxSeries). Their methods are safe for concurrent use, except a
// Recorder's, which is for one goroutine at a time.
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
// Sums and histograms are cumulative from the process's start (or, once the
// registry has let a series go, from their series' own start, which the
// point carries: see MaxSeries), so a batch lost or dropped on the way loses
// nothing but time resolution: the next one carries the totals. A batch is
// at most MaxBatchBytes.
//
// Every batch has one resource, the process, with the attributes service.name
// (the program), service.instance.id (unique per process run), host.name and
// process.pid, and one scope, ScopeName. The metrics and their attributes are
// the constants of names.go.
package telemetry
