//go:build !unix

// Package cputime reads the CPU time a process has used, for benchmarks
// and bench commands that report CPU per operation beside wall time.
package cputime

import "time"

// Process is not measured here: it returns 0.
func Process() time.Duration { return 0 }
