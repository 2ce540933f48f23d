package telemetry

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// TaskSpan is one finished task, for the collector's timeline of tasks per
// worker slot. A plain value.
type TaskSpan struct {
	// Label names the task (the span's name): its kind, or its job.
	Label string
	// Worker is the worker that ran it: a name, or host:pid.
	Worker string
	// Slot is the slot of the worker that ran it, from 0.
	Slot int
	// Index is the task's index in its job.
	Index int
	// Start and End are when it ran.
	Start, End time.Time
	// Err is why it failed, or nil.
	Err error
}

// MaxTasks bounds the finished tasks that wait for one batch; those beyond
// are dropped and counted in MetricTasksDropped.
const MaxTasks = 10000

var tasks struct {
	mu    sync.Mutex
	spans []span
	seq   atomic.Uint64
}

// Task records a finished task: the next batch carries it as a span of the
// process's trace. When profiling is off it does nothing. Safe for
// concurrent use; it never blocks on the collector.
func Task(t TaskSpan) {
	if !Enabled() {
		return
	}
	s := span{
		name:  t.Label,
		start: uint64(t.Start.UnixNano()),
		end:   uint64(t.End.UnixNano()),
		attrs: []Attr{String(AttrWorker, t.Worker), Int(AttrSlot, int64(t.Slot)), Int(AttrTask, int64(t.Index))},
	}
	// Span ids unique in the process's trace, never zero.
	binary.BigEndian.PutUint64(s.id[:], tasks.seq.Add(1))
	if t.Err != nil {
		s.failed, s.err = true, t.Err.Error()
	}
	tasks.mu.Lock()
	defer tasks.mu.Unlock()
	if len(tasks.spans) >= MaxTasks {
		tasksDropped.Add(1)
		return
	}
	tasks.spans = append(tasks.spans, s)
}

// takeTasks returns the tasks that wait for a batch, and empties the queue.
func takeTasks() []span {
	tasks.mu.Lock()
	defer tasks.mu.Unlock()
	s := tasks.spans
	tasks.spans = nil
	return s
}
