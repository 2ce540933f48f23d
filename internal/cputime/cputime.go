//go:build unix

// Package cputime reads the CPU time a process has used, for benchmarks
// and bench commands that report CPU per operation beside wall time: on a
// machine shared with other work, wall time counts the waits for a core;
// CPU time does not.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time of the whole process so far, user and
// system, every thread's; 0 if it cannot be read.
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
