package cputime

import "time"

// PerOp is the process's CPU time since start (a Process reading), in
// nanoseconds per op over n ops: the cpu-ns/op figure benchmarks report.
func PerOp(start time.Duration, n int) float64 {
	return float64(Process()-start) / float64(n)
}
