// Package paired measures a benchmark's side against its anchor the way a
// shared machine allows: in alternating blocks, each timed, so that both
// meet the same moments of the machine, whose speed drifts by more than
// the differences measured. Two sub-benchmarks in processes of their own,
// or one after the other, compare moments as much as code.
package paired

import (
	"slices"
	"testing"
	"time"
)

// Run does b.N of side's operations and b.N of anchor's, in blocks of
// block, alternated (each side first in half the rounds); side and anchor
// do k operations and return how long they took. It reports the median of
// the blocks' ratios, side over anchor ("ratio"), and each one's median
// time per operation in ns (the metrics sideNs and anchorNs name); ns/op
// is then per pair of operations.
func Run(b *testing.B, block int, side, anchor func(k int) time.Duration, sideNs, anchorNs string) {
	var ratios, sides, anchors []float64
	b.ResetTimer()
	for done, round := 0, 0; done < b.N; done, round = done+block, round+1 {
		k := min(block, b.N-done)
		var ts, ta time.Duration
		if round%2 == 0 {
			ts, ta = side(k), anchor(k)
		} else {
			ta, ts = anchor(k), side(k)
		}
		ratios = append(ratios, float64(ts)/float64(ta))
		sides = append(sides, float64(ts)/float64(k))
		anchors = append(anchors, float64(ta)/float64(k))
	}
	b.StopTimer()
	b.ReportMetric(Median(ratios), "ratio")
	b.ReportMetric(Median(sides), sideNs)
	b.ReportMetric(Median(anchors), anchorNs)
}

// Median returns the middle of xs (the mean of the two middle ones for an
// even count); it sorts xs.
func Median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
