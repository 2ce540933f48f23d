package collect

import (
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"bytes"
	"fmt"
	"github.com/zmqflow/zmqflow/internal/otlptest"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// Decode allocates in proportion to the batch: the protobuf structs
// (MaxMessages bounds how many a byte can make), their copies in the
// Batch, and the errors. Measured worst cases under the fuzzer stay well
// within these; the constant is the descriptors' and fmt's first use.
const (
	decodeAllocPerByte = 64
	decodeAllocFixed   = 64 << 10
)

// FuzzDecode feeds Decode the frames of fuzzcheck.Frames: it must never
// panic, must bound what it allocates, and what it accepts must hold
// together.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := fuzzcheck.Frames(data)
		var b Batch
		var err error
		fuzzcheck.CheckAlloc(t, fmt.Sprintf("Decode of %d bytes", fuzzcheck.WireSize(frames)),
			decodeAllocPerByte*fuzzcheck.WireSize(frames)+decodeAllocFixed, func() { b, err = Decode(frames) })
		if err != nil {
			return
		}
		for _, p := range b.Points {
			if p.Instance == "" || p.Time < p.Start || math.IsNaN(p.Value) {
				t.Fatalf("accepted point %+v", p)
			}
			if h := p.Hist; h != nil {
				var n uint64
				h.each(func(_, _ float64, c uint64) { n += c })
				if n != h.Count {
					t.Fatalf("accepted histogram of %d holding %d", h.Count, n)
				}
				h.Quantile(0.99)
				h.Classic(classicBuckets)
			}
		}
		for _, tk := range b.Tasks {
			if tk.End < tk.Start {
				t.Fatalf("accepted task %+v", tk)
			}
		}
	})
}

// seeds are the fuzz target's starting points: a good batch, and the same
// cut, doubled and with a frame missing.
func seeds() map[string][][]byte {
	good := sampleBatch(start.Add(10*time.Second), 1000, []float64{0.001, 0.002, 0.004})
	return map[string][][]byte{
		"good":      good,
		"metrics":   good[:2],
		"cut":       {good[0], good[1][:len(good[1])/2]},
		"doubled":   {good[0], append(append([]byte(nil), good[1]...), good[1]...), good[2]},
		"nospans":   {good[0], good[1], nil},
		"noversion": good[1:],
	}
}

// TestFuzzSeeds checks that the committed seed corpus is the one seeds
// makes; ZMQFLOW_WRITE_SEEDS=1 rewrites it.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	write := os.Getenv("ZMQFLOW_WRITE_SEEDS") == "1"
	for name, frames := range seeds() {
		sep := byte(0)
		for bytes.Contains(bytes.Join(frames, nil), []byte{sep}) {
			sep++
		}
		data := append([]byte{sep}, bytes.Join(frames, []byte{sep})...)
		file := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		path := filepath.Join(dir, name)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != file {
			t.Errorf("seed %s missing or stale (ZMQFLOW_WRITE_SEEDS=1 rewrites it): %v", name, err)
		}
	}
}

// The densest batches there are: the most protobuf messages a byte, each
// a Go struct. Decode's allocation bound must hold for them too.
func TestDecodeAllocDense(t *testing.T) {
	dense := map[string]*metricspb.Metric{
		"4-byte data points": {Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{}}},
		"empty attributes":   {Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{{}}}}},
	}
	for range 20000 { // one message every MessageBytes: within the budget
		g := dense["4-byte data points"].GetGauge()
		g.DataPoints = append(g.DataPoints, &metricspb.NumberDataPoint{Flags: 1})
	}
	for range MaxAttrs {
		dp := dense["empty attributes"].GetGauge().DataPoints[0]
		dp.Attributes = append(dp.Attributes, &commonpb.KeyValue{})
	}
	for name, m := range dense {
		frames := otlptest.Batch(proc, []*metricspb.Metric{m}, nil)
		wire := fuzzcheck.WireSize(frames)
		n := fuzzcheck.Allocated(func() { Decode(frames) })
		t.Logf("%s: %d bytes on the wire, %d allocated (%.1fx)", name, wire, n, float64(n)/float64(wire))
		fuzzcheck.CheckAlloc(t, name, decodeAllocPerByte*wire+decodeAllocFixed, func() { Decode(frames) })
	}
}
