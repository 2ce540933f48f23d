// Package taskset is a dispatch benchmark after the seed article "Easy cluster parallelization
// with ZeroMQ": task durations that are the same on every machine, and the
// makespans a dispatcher is measured against. The broker's tests and
// gridsearch's bench command both use it.
package taskset

import (
	"container/heap"
	"time"
)

// M is the number of tasks in T1 and T2.
const M = 1000

// splitmix64 is the generator the durations are drawn from.
func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	z := (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// uniform is task i's draw in [0, 1), with seed 1.
func uniform(i int) float64 {
	const seed = 1
	return float64(splitmix64(seed*1000003+uint64(i))>>11) / (1 << 53)
}

// Durations returns the M durations of "T1" (skew: 1000 ms for 5% of the
// tasks, 200 ms for 20%, 20 ms for the rest; 103.88 s in all) or "T2"
// (blog: 1200 ms for 2%, 10 ms for the rest; 29.04 s), each multiplied by
// scale. Any other name panics: the sets are fixed.
func Durations(name string, scale float64) []time.Duration {
	if name != "T1" && name != "T2" {
		panic("taskset: unknown task set " + name)
	}
	d := make([]time.Duration, M)
	for i := range d {
		u := uniform(i)
		switch {
		case name == "T1" && u < 0.05:
			d[i] = time.Second
		case name == "T1" && u < 0.25:
			d[i] = 200 * time.Millisecond
		case name == "T1":
			d[i] = 20 * time.Millisecond
		case u < 0.02:
			d[i] = 1200 * time.Millisecond
		default:
			d[i] = 10 * time.Millisecond
		}
		d[i] = time.Duration(float64(d[i]) * scale)
	}
	return d
}

// Greedy is G: the makespan of the list schedule of ds, in order, on w
// workers with no overhead; what an ideal pull dispatcher achieves.
func Greedy(ds []time.Duration, w int) time.Duration {
	h := make(loads, w)
	for _, d := range ds {
		h[0] += d
		heap.Fix(&h, 0)
	}
	return maxOf(h)
}

// RoundRobin is RRsim: the makespan when task i goes to worker i mod w, as
// PUSH deals them.
func RoundRobin(ds []time.Duration, w int) time.Duration {
	sums := make([]time.Duration, w)
	for i, d := range ds {
		sums[i%w] += d
	}
	return maxOf(sums)
}

// Sum is the total work in ds.
func Sum(ds []time.Duration) (t time.Duration) {
	for _, d := range ds {
		t += d
	}
	return t
}

func maxOf(ds []time.Duration) (m time.Duration) {
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// loads is a min-heap of the workers' busy times.
type loads []time.Duration

func (h loads) Len() int           { return len(h) }
func (h loads) Less(i, j int) bool { return h[i] < h[j] }
func (h loads) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *loads) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *loads) Pop() any          { x := (*h)[len(*h)-1]; *h = (*h)[:len(*h)-1]; return x }
