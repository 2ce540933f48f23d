package run

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Tasks puts the requests a worker's handler finishes on the profile's
// timeline (telemetry.Task), when profiling is on: one row per worker of
// the process, named host:pid, the requests numbered in the order handled.
// Its methods are safe for concurrent use, and do nothing on a nil *Tasks
// (a worker whose handler records its own tasks).
type Tasks struct {
	slot int
	next atomic.Int64
}

// NewTasks gives a worker its row on the timeline.
func NewTasks() *Tasks { return &Tasks{slot: int(slots.Add(1) - 1)} }

// slots numbers the process's workers.
var slots atomic.Int64

// Start returns when a request starts, for Done: the zero time, and no
// clock read, when there is nothing to record.
func (t *Tasks) Start() time.Time {
	if t == nil || !telemetry.Enabled() {
		return time.Time{}
	}
	return time.Now()
}

// Done records a request handled from start (Start's) until now, under
// label; err is why it failed, or nil.
func (t *Tasks) Done(label string, start time.Time, err error) {
	if t == nil || start.IsZero() || !telemetry.Enabled() {
		return
	}
	telemetry.Task(telemetry.TaskSpan{Label: label, Worker: processName(), Slot: t.slot,
		Index: int(t.next.Add(1) - 1), Start: start, End: time.Now(), Err: err})
}

// processName names the process's workers on the timeline.
var processName = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
})
