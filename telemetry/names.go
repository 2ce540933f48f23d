package telemetry

// The wire's fixed names: a collector and a producer built from different
// versions agree on these.
const (
	// Version is frame 0 of every batch.
	Version = "zmqflow.telemetry.v1"
	// ScopeName is the OTLP instrumentation scope of every metric and span.
	ScopeName = "github.com/zmqflow/zmqflow"
	// MaxBatchBytes bounds one batch on the wire, all frames together.
	MaxBatchBytes = 4 << 20
	// EnvProfile is the environment variable that turns profiling on: its
	// value is the collector's endpoint.
	EnvProfile = "ZMQFLOW_PROFILE"
	// EnvProfileChild, set (to "1") in the environment of a process that
	// another profiled process started (ChildEnv), tells it that its parent
	// reports an absent collector for it.
	EnvProfileChild = "ZMQFLOW_PROFILE_CHILD"
)

// Metric names. Units follow OTLP: "s" for durations, "By" for bytes,
// "{message}" and the like for counts.
const (
	// Per actor (attribute AttrActor). Messages is a monotonic cumulative
	// Sum with AttrDirection: "in" for messages handled, "out" for messages
	// sent through a reference.
	MetricActorMessages = "zmqflow.actor.messages"
	// Handling and queueing times, exponential histograms in seconds.
	MetricActorHandling = "zmqflow.actor.handling.duration"
	MetricActorQueueing = "zmqflow.actor.queueing.duration"
	// Mailbox depth, a gauge.
	MetricActorMailboxDepth = "zmqflow.actor.mailbox.depth"
	// Time blocked at a full mailbox or peer (backpressure), a monotonic
	// Sum in seconds.
	MetricActorBlocked = "zmqflow.actor.blocked.duration"
	// Monotonic Sums: dead letters, failures, restarts.
	MetricActorDeadLetters = "zmqflow.actor.dead_letters"
	MetricActorErrors      = "zmqflow.actor.errors"
	MetricActorRestarts    = "zmqflow.actor.restarts"
	// A broker's own figures (actor.Figures), with AttrActor and
	// AttrFigure: totals as a monotonic Sum, levels as a gauge.
	MetricActorFigureTotal = "zmqflow.actor.figure.total"
	MetricActorFigureLevel = "zmqflow.actor.figure.level"

	// Per socket type and endpoint (attributes AttrSocketType and
	// AttrSocketEndpoint: the sockets of a process that share both add
	// up). Messages and bytes are monotonic Sums with AttrDirection;
	// drops a monotonic Sum; peers a gauge.
	MetricSocketMessages = "zmqflow.socket.messages"
	MetricSocketBytes    = "zmqflow.socket.bytes"
	MetricSocketDrops    = "zmqflow.socket.drops"
	MetricSocketPeers    = "zmqflow.socket.peers"

	// Per process, with OpenTelemetry's semantic-convention names.
	MetricProcessCPUTime     = "process.cpu.time"     // Sum, s
	MetricProcessMemoryUsage = "process.memory.usage" // gauge, resident bytes
	MetricGoroutines         = "go.goroutine.count"   // gauge
	MetricGCPause            = "go.gc.pause.duration" // exponential histogram, s
	// Batches this process dropped because the collector was slow or
	// absent, a monotonic Sum.
	MetricBatchesDropped = "zmqflow.telemetry.batches.dropped"
)

// Attribute keys.
const (
	AttrActor          = "zmqflow.actor"
	AttrDirection      = "zmqflow.direction" // "in" or "out"
	AttrFigure         = "zmqflow.figure"
	AttrSocketType     = "zmqflow.socket.type"
	AttrSocketEndpoint = "zmqflow.socket.endpoint"

	// A task span's attributes, for the timeline: the worker that ran it
	// (host:pid or a name), the slot on that worker (an int), and the task's
	// index in its job (an int). The span's name is the task's label and its
	// status is an error when the task failed.
	AttrWorker = "zmqflow.worker"
	AttrSlot   = "zmqflow.slot"
	AttrTask   = "zmqflow.task"
)

// Names added after the first contract; a collector that does not know
// them stores them as any other metric.
const (
	// Finished tasks this process did not report because more than
	// MaxTasks waited for one batch, or their batch was dropped, a
	// monotonic Sum.
	MetricTasksDropped = "zmqflow.telemetry.tasks.dropped"
	// Series beyond MaxSeries when no done series had been shipped to
	// make room for them, measured but not shipped, a monotonic Sum.
	MetricSeriesDropped = "zmqflow.telemetry.series.dropped"
	// The mode of process.cpu.time: "user" or "system".
	AttrCPUMode = "cpu.mode"
)
