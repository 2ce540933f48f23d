package patterns_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time of the whole process, every thread's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
