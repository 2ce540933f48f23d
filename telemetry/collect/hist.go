package collect

import "math"

// Hist is a cumulative histogram: OTLP's explicit-bucket histogram (Bounds
// and Counts) or its exponential one (Exp, Scale, Zero, Pos and Neg).
// Counts add up to Count. Decode's and Sub's histograms are never changed
// afterwards: any goroutine may read them.
type Hist struct {
	Count  uint64
	Sum    float64
	MinMax bool // Min and Max hold the smallest and largest values seen
	Min    float64
	Max    float64

	// Explicit buckets: Counts[i] counts the values in (Bounds[i-1],
	// Bounds[i]], the last one those above the last bound.
	Bounds []float64
	Counts []uint64

	// Exponential buckets: index i counts the values in (b^i, b^(i+1)], b =
	// 2^(2^-Scale); Pos[j] is index PosOffset+j, Neg the same for -values.
	Exp       bool
	Scale     int32
	Zero      uint64
	PosOffset int32
	Pos       []uint64
	NegOffset int32
	Neg       []uint64
}

// expBound is the upper bound of exponential bucket index i at scale.
func expBound(scale int32, i int64) float64 {
	return math.Exp2(math.Ldexp(float64(i), -int(scale)))
}

// buckets is the number of buckets, in each's order.
func (h *Hist) buckets() int {
	if !h.Exp {
		return len(h.Counts)
	}
	return len(h.Neg) + 1 + len(h.Pos)
}

// bucket returns bucket k's bounds and count, k in each's order: the
// bounds of an exponential histogram are computed only for the buckets
// asked for.
func (h *Hist) bucket(k int) (lo, hi float64, n uint64) {
	if !h.Exp {
		lo, hi = math.Inf(-1), math.Inf(1)
		if k > 0 {
			lo = h.Bounds[k-1]
		}
		if k < len(h.Bounds) {
			hi = h.Bounds[k]
		}
		return lo, hi, h.Counts[k]
	}
	switch {
	case k < len(h.Neg):
		j := len(h.Neg) - 1 - k
		i := int64(h.NegOffset) + int64(j)
		return -expBound(h.Scale, i+1), -expBound(h.Scale, i), h.Neg[j]
	case k == len(h.Neg):
		return 0, 0, h.Zero
	}
	j := k - len(h.Neg) - 1
	i := int64(h.PosOffset) + int64(j)
	return expBound(h.Scale, i), expBound(h.Scale, i+1), h.Pos[j]
}

// count is bucket k's count alone.
func (h *Hist) count(k int) uint64 {
	switch {
	case !h.Exp:
		return h.Counts[k]
	case k < len(h.Neg):
		return h.Neg[len(h.Neg)-1-k]
	case k == len(h.Neg):
		return h.Zero
	}
	return h.Pos[k-len(h.Neg)-1]
}

// each calls f with every bucket, lowest values first.
func (h *Hist) each(f func(lo, hi float64, n uint64)) {
	for k := range h.buckets() {
		f(h.bucket(k))
	}
}

// Quantile estimates the q-quantile (0 <= q <= 1), interpolating within the
// bucket it falls in, within Min and Max when known. It returns NaN for an
// empty histogram or a quantile in a bucket without a finite bound.
func (h *Hist) Quantile(q float64) float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	var seen float64
	for k := range h.buckets() {
		n := h.count(k)
		if n == 0 || seen+float64(n) < rank {
			seen += float64(n)
			continue
		}
		lo, hi, _ := h.bucket(k)
		if h.MinMax {
			lo, hi = math.Max(lo, h.Min), math.Min(hi, h.Max)
		}
		switch {
		case math.IsInf(lo, 0) && math.IsInf(hi, 0):
			return math.NaN()
		case math.IsInf(lo, 0):
			return hi
		case math.IsInf(hi, 0):
			return lo
		}
		return lo + (hi-lo)*math.Max(0, rank-seen)/float64(n)
	}
	return math.NaN()
}

// Sub returns h minus an earlier cumulative histogram of the same series:
// what was recorded in between. ok is false when prev is not an earlier
// state of h (a reset, or explicit buckets that changed).
func (h *Hist) Sub(prev *Hist) (d *Hist, ok bool) {
	if prev.Count > h.Count || prev.Exp != h.Exp {
		return nil, false
	}
	d = &Hist{Count: h.Count - prev.Count, Sum: h.Sum - prev.Sum, Exp: h.Exp}
	if !h.Exp {
		if len(prev.Bounds) != len(h.Bounds) || len(prev.Counts) != len(h.Counts) {
			return nil, false
		}
		for i, b := range h.Bounds {
			if prev.Bounds[i] != b {
				return nil, false
			}
		}
		d.Bounds = h.Bounds
		d.Counts, ok = subCounts(h.Counts, prev.Counts)
		return d, ok
	}
	if prev.Zero > h.Zero {
		return nil, false
	}
	d.Scale, d.Zero = min(h.Scale, prev.Scale), h.Zero-prev.Zero
	var okPos, okNeg bool
	d.PosOffset, d.Pos, okPos = subExp(h.PosOffset, h.Pos, h.Scale, prev.PosOffset, prev.Pos, prev.Scale, d.Scale)
	d.NegOffset, d.Neg, okNeg = subExp(h.NegOffset, h.Neg, h.Scale, prev.NegOffset, prev.Neg, prev.Scale, d.Scale)
	return d, okPos && okNeg
}

func subCounts(cur, prev []uint64) ([]uint64, bool) {
	out := make([]uint64, len(cur))
	for i, n := range cur {
		if prev[i] > n {
			return nil, false
		}
		out[i] = n - prev[i]
	}
	return out, true
}

// subExp subtracts prev's exponential buckets from cur's, both brought
// down to scale first.
func subExp(curOff int32, cur []uint64, curScale int32, prevOff int32, prev []uint64, prevScale, scale int32) (int32, []uint64, bool) {
	curOff, cur = downscale(curOff, cur, uint(curScale-scale))
	prevOff, prev = downscale(prevOff, prev, uint(prevScale-scale))
	out := append([]uint64(nil), cur...)
	for j, n := range prev {
		if n == 0 {
			continue
		}
		k := int64(prevOff) + int64(j) - int64(curOff)
		if k < 0 || k >= int64(len(out)) || out[k] < n {
			return 0, nil, false
		}
		out[k] -= n
	}
	return curOff, out, true
}

// downscale merges exponential buckets into those of a scale by lower:
// index i becomes i >> by.
func downscale(off int32, counts []uint64, by uint) (int32, []uint64) {
	if by == 0 || len(counts) == 0 {
		return off, counts
	}
	first := int64(off) >> by
	last := (int64(off) + int64(len(counts)) - 1) >> by
	out := make([]uint64, last-first+1)
	for j, n := range counts {
		out[((int64(off)+int64(j))>>by)-first] += n
	}
	return int32(first), out
}

// Classic returns the histogram as Prometheus's classic buckets: at most
// maxBuckets finite upper bounds, with the cumulative count of values at
// or below each.
func (h *Hist) Classic(maxBuckets int) map[float64]uint64 {
	type edge struct {
		hi  float64
		cum uint64
	}
	var edges []edge
	var cum uint64
	h.each(func(_, hi float64, n uint64) {
		cum += n
		if !math.IsInf(hi, 0) && !math.IsNaN(hi) {
			edges = append(edges, edge{hi, cum})
		}
	})
	step := 1
	if maxBuckets > 0 && len(edges) > maxBuckets {
		step = (len(edges) + maxBuckets - 1) / maxBuckets
	}
	out := make(map[float64]uint64, len(edges)/step+1)
	for i := len(edges) - 1; i >= 0; i -= step {
		out[edges[i].hi] = edges[i].cum
	}
	return out
}
