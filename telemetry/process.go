package telemetry

import (
	"bytes"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
)

// processPoints is how many figures readProcess appends, at most.
const processPoints = 5

// readProcess appends the process's figures: CPU time, resident memory,
// goroutines and GC pauses. It runs once a batch, from the exporter.
func readProcess(pts []point) []point {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		pts = append(pts,
			cpuPoint(cpuUser, ru.Utime),
			cpuPoint(cpuSystem, ru.Stime))
	}
	if rss, ok := residentBytes(); ok {
		pts = append(pts, point{name: MetricProcessMemoryUsage, unit: "By", kind: kindGauge, i: rss})
	}
	pts = append(pts, point{name: MetricGoroutines, unit: "{goroutine}", kind: kindGauge, i: int64(runtime.NumGoroutine())})
	return append(pts, point{name: MetricGCPause, unit: "s", kind: kindHist, hist: gcPauses()})
}

// The attributes of the CPU time's two series, made once.
var (
	cpuUser   = []Attr{String(AttrCPUMode, "user")}
	cpuSystem = []Attr{String(AttrCPUMode, "system")}
)

func cpuPoint(attrs []Attr, tv syscall.Timeval) point {
	s := float64(tv.Sec) + float64(tv.Usec)*1e-6
	return point{name: MetricProcessCPUTime, unit: "s", kind: kindDuration, f: s, isFloat: true, attrs: attrs}
}

// statmMax bounds what is read of /proc/self/statm: seven numbers.
const statmMax = 256

// residentBytes reads the resident set from /proc/self/statm (Linux).
func residentBytes() (int64, bool) {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, statmMax))
	if err != nil {
		return 0, false
	}
	pages, ok := parseStatm(b)
	if !ok {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// parseStatm returns the second field of statm, the resident pages.
func parseStatm(b []byte) (int64, bool) {
	fields := bytes.Fields(b)
	if len(fields) < 2 || len(fields[1]) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

var gcSample = []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}

// gcPauses converts the runtime's histogram of GC pauses into exponential
// buckets: each of the runtime's buckets goes whole into the bucket that
// holds its geometric middle. The runtime's buckets are narrower than ours
// (it keeps several per doubling), so little is blurred. There is no sum.
func gcPauses() histSnap {
	metrics.Read(gcSample)
	if gcSample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return histSnap{}
	}
	return fromRuntime(gcSample[0].Value.Float64Histogram())
}

func fromRuntime(rh *metrics.Float64Histogram) histSnap {
	var h Histogram
	for i, n := range rh.Counts {
		if n == 0 || i+1 >= len(rh.Buckets) {
			continue
		}
		lo, hi := rh.Buckets[i], rh.Buckets[i+1]
		var v float64
		switch {
		case lo <= 0 && hi <= 0:
			h.zero.Add(n)
			continue
		case lo <= 0 || math.IsInf(lo, -1):
			v = hi
		case math.IsInf(hi, 1):
			v = lo
		default:
			v = math.Sqrt(lo * hi)
		}
		h.bucket(bucketOf(v)).Add(n)
	}
	s := h.snapshot()
	s.hasSum, s.sum = false, 0
	return s
}
