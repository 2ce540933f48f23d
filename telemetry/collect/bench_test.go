package collect

import (
	"path/filepath"
	"testing"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/telemetry"
)

// benchBatch is a batch of a process with actors actors (five series
// each, one a histogram) and two tasks, at tick i.
func benchBatch(p otlptest.Process, actors, i int) [][]byte {
	t0 := start.Add(time.Duration(i) * time.Second)
	var ms []*metricspb.Metric
	for a := range actors {
		attr := otlptest.Str(telemetry.AttrActor, string(rune('a'+a)))
		h := otlptest.NewHist(4)
		for k := range 20 + i {
			h.Add(float64(1+k%20) * 1e-4)
		}
		ms = append(ms,
			otlptest.Counter(telemetry.MetricActorMessages, "{message}", start, t0, int64(100*i), attr, otlptest.Str(telemetry.AttrDirection, "in")),
			otlptest.Counter(telemetry.MetricActorMessages, "{message}", start, t0, int64(100*i), attr, otlptest.Str(telemetry.AttrDirection, "out")),
			otlptest.Gauge(telemetry.MetricActorMailboxDepth, "{message}", t0, float64(i%7), attr),
			h.Metric(telemetry.MetricActorHandling, start, t0, attr),
			otlptest.Counter(telemetry.MetricActorErrors, "{error}", start, t0, 0, attr))
	}
	return otlptest.Batch(p, ms, []*tracepb.Span{
		otlptest.Span("w", 0, int64(2*i), "square", t0.Add(-time.Millisecond), t0, ""),
		otlptest.Span("w", 1, int64(2*i+1), "square", t0.Add(-time.Millisecond), t0, ""),
	})
}

// BenchmarkIngest is the collector's cost a batch of a 3-actor process:
// decoding, merging, the live window and the store's writes.
func BenchmarkIngest(b *testing.B) {
	st, err := OpenStore(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c := NewCollector(st)
	const procs = 100
	batches := make([][][]byte, 0, procs*10)
	for i := range 10 {
		for p := range procs {
			batches = append(batches, benchBatch(otlptest.Process{Service: "s", Instance: string(rune('A' + p)), PID: int64(p)}, 3, i+1))
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if i%len(batches) == 0 && i > 0 { // later ticks: series must move on
			st.Flush()
			c = NewCollector(st)
		}
		c.Ingest(batches[i%len(batches)], time.Now())
		if i%procs == procs-1 {
			st.Flush() // a second's batches, as the Store's ticker does
		}
	}
	st.Flush()
}

// BenchmarkDecode is Decode alone, of the same batch.
func BenchmarkDecode(b *testing.B) {
	batch := benchBatch(otlptest.Process{Service: "s", Instance: "i"}, 3, 5)
	b.SetBytes(int64(len(batch[1]) + len(batch[2])))
	b.ReportAllocs()
	for range b.N {
		if _, err := Decode(batch); err != nil {
			b.Fatal(err)
		}
	}
}
