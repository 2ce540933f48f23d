package broker_test

import (
	"time"

	"github.com/zmqflow/zmqflow/internal/taskset"
)

// The task sets of benchmarks.md section 3 live in internal/taskset; these
// are the names the broker's tests use for them.

func taskSet(name string) []time.Duration                { return taskset.Durations(name, 1) }
func greedy(ds []time.Duration, w int) time.Duration     { return taskset.Greedy(ds, w) }
func roundRobin(ds []time.Duration, w int) time.Duration { return taskset.RoundRobin(ds, w) }
func sum(ds []time.Duration) time.Duration               { return taskset.Sum(ds) }
