package collect

import (
	"bytes"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/telemetry"
)

// storedCollector is a collector with a store of its own, closed at the
// test's end.
func storedCollector(t *testing.T) (*Collector, *Store) {
	st, err := OpenStore(filepath.Join(t.TempDir(), "z.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return NewCollector(st), st
}

// heapInUse is the live heap, after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapProfile writes a heap profile to $ZPROF_HEAPPROFILE-name, when set:
// where a flood's bytes go (go tool pprof -sample_index=inuse_space).
func heapProfile(t *testing.T, name string) {
	path := os.Getenv("ZPROF_HEAPPROFILE")
	if path == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(path + "-" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}

// dropped reads the counter name from the collector's /metrics: where an
// operator sees what its limits dropped.
func dropped(t *testing.T, c *Collector, name string) uint64 {
	t.Helper()
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	_, line, ok := bytes.Cut(body, []byte("\n"+name+" "))
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	v, err := strconv.ParseFloat(string(line), 64)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(v)
}

func gaugePoint(t time.Time, v float64, attrs ...*commonpb.KeyValue) *metricspb.NumberDataPoint {
	return &metricspb.NumberDataPoint{TimeUnixNano: uint64(t.UnixNano()), Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v}, Attributes: attrs}
}

// The heap a flood may leave behind, with a 2x margin over what was
// measured (see the package's doc, "Limits"), and the number of series
// and processes sent: more than the collector keeps.
const (
	floodSeries     = MaxSeries / 2
	floodProcesses  = 3 * MaxProcesses
	floodSeriesHeap = 2 * 70 << 20
	floodProcsHeap  = 2 * 24 << 20
	floodWindowHeap = 2 * 50 << 20
	floodQueueHeap  = 2 * 20 << 20
)

// A peer that names a new series in every point, each with attributes of
// a kilobyte and an actor of its own (a line of its own on the
// live page too), costs the collector a bounded heap; what it sent over
// the limits is dropped and counted on /metrics.
func TestFloodSeries(t *testing.T) {
	c, st := storedCollector(t)
	before := heapInUse()
	pad := strings.Repeat("p", 1000)
	p := otlptest.Process{Service: "flood", Instance: "flood-1", Host: "h", PID: 1}
	const perBatch = 2048
	at := start
	for sent := 0; sent < floodSeries; {
		m := &metricspb.Metric{Name: telemetry.MetricActorMailboxDepth, Unit: "{message}", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{}}}
		for range min(perBatch, floodSeries-sent) {
			m.GetGauge().DataPoints = append(m.GetGauge().DataPoints, gaugePoint(at, 1,
				otlptest.Str(telemetry.AttrActor, fmt.Sprintf("actor-%08d", sent)), otlptest.Str("pad", pad)))
			sent++
		}
		at = at.Add(time.Millisecond)
		if _, err := c.Ingest(otlptest.Batch(p, []*metricspb.Metric{m}, nil), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	st.Flush()
	after := heapInUse()
	heapProfile(t, "series")
	used := after - before
	kept := 0
	c.Agg.Each(func(*ProcessInfo, *Point) { kept++ })
	t.Logf("%d series sent, %d kept (%.1f MB counted): heap %.1f MB, %.0f bytes a series kept",
		floodSeries, kept, float64(c.Agg.bytes)/(1<<20), float64(used)/(1<<20), float64(used)/float64(kept))
	if used > floodSeriesHeap {
		t.Errorf("heap grew by %d MB after the flood, at most %d", used>>20, floodSeriesHeap>>20)
	}
	// Through Dropped: /metrics would list every series kept.
	if d := c.Dropped(); d.Points != uint64(floodSeries-kept) || d.Window == 0 {
		t.Errorf("dropped %+v, want %d points and some of the live page's", d, floodSeries-kept)
	}
	runtime.KeepAlive(c)
}

// A peer that names a new process instance in every resource, thousands
// a batch, costs the collector a bounded heap, though nothing forgets
// them in between; the processes over the limit are dropped with their
// points and counted on /metrics.
func TestFloodProcesses(t *testing.T) {
	c, st := storedCollector(t)
	before := heapInUse()
	name, host := strings.Repeat("s", 200), strings.Repeat("h", 200)
	const perBatch = 4096
	for sent := 0; sent < floodProcesses; {
		var rms []*metricspb.ResourceMetrics
		for range min(perBatch, floodProcesses-sent) {
			m := &metricspb.Metric{Name: telemetry.MetricActorMailboxDepth, Unit: "{message}", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{
				DataPoints: []*metricspb.NumberDataPoint{gaugePoint(start, 1, otlptest.Str(telemetry.AttrActor, "a"))}}}}
			rms = append(rms, &metricspb.ResourceMetrics{
				Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
					otlptest.Str("service.name", name), otlptest.Str("service.instance.id", fmt.Sprintf("instance-%08d", sent)),
					otlptest.Str("host.name", host), otlptest.Int("process.pid", int64(sent))}},
				ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{m}}},
			})
			sent++
		}
		if _, err := c.Ingest([][]byte{[]byte(telemetry.Version), otlptest.Request(rms...)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		st.Flush()
	}
	after := heapInUse()
	heapProfile(t, "processes")
	used := after - before
	t.Logf("%d processes sent, %d kept (%.1f MB counted): heap %.1f MB, %.0f bytes a process kept",
		floodProcesses, len(c.Agg.Processes()), float64(c.Agg.bytes)/(1<<20), float64(used)/(1<<20), float64(used)/float64(len(c.Agg.Processes())))
	if used > floodProcsHeap {
		t.Errorf("heap grew by %d MB after the flood, at most %d", used>>20, floodProcsHeap>>20)
	}
	if d := dropped(t, c, "zprof_processes_dropped_total"); d != floodProcesses-MaxProcesses {
		t.Errorf("%d processes dropped, want %d", d, floodProcesses-MaxProcesses)
	}
	if n := len(c.Agg.Processes()); n != MaxProcesses {
		t.Errorf("%d processes kept, want %d", n, MaxProcesses)
	}
	runtime.KeepAlive(c)
}

// A peer that draws more lines on the live page, and longer, than it
// keeps costs a bounded heap; the points over its limits are dropped and
// counted on /metrics. (Lines are fed to the window directly: through
// Ingest, this many points would take minutes to decode.)
func TestFloodWindow(t *testing.T) {
	c := NewCollector(nil)
	before := heapInUse()
	const lines, ticks = 2 * MaxLines, 400 // enough to fill MaxWindowBytes
	samples := make([]Sample, lines)
	for i := range samples {
		samples[i] = Sample{Point: Point{Instance: "flood-1", Metric: telemetry.MetricActorMailboxDepth, Kind: Gauge,
			Attrs: Attrs{{telemetry.AttrActor, fmt.Sprintf("actor-%08d-%s", i, strings.Repeat("p", 40))}}, Value: 1}}
	}
	for tick := range ticks {
		for i := range samples {
			samples[i].Time = start.UnixNano() + int64(tick)*1e8 // within the window's span
		}
		c.Win.Add(samples, nil)
	}
	after := heapInUse()
	heapProfile(t, "window")
	used := after - before
	t.Logf("%d lines of %d points sent: heap %.1f MB, window counted %.1f MB", lines, ticks, float64(used)/(1<<20), float64(c.Win.bytes)/(1<<20))
	if used > floodWindowHeap {
		t.Errorf("heap grew by %d MB after the flood, at most %d", used>>20, floodWindowHeap>>20)
	}
	if d := dropped(t, c, "zprof_window_dropped_total"); d == 0 {
		t.Errorf("%d lines of %d points sent, none dropped", lines, ticks)
	}
	runtime.KeepAlive(c)
}

// Forget lets go of what the processes it drops held, in the store's ids
// too, and makes room for new processes under the limits.
func TestCollectorForgetFreesRoom(t *testing.T) {
	c, st := storedCollector(t)
	feed(t, c, sampleBatch(start.Add(time.Second), 10, []float64{0.001}))
	st.Flush()
	if n := len(st.ids); n != 3 {
		t.Fatalf("%d series ids, want 3", n)
	}
	c.Forget(time.Now().Add(time.Hour))
	if n := len(st.ids); n != 0 || len(c.Agg.Processes()) != 0 || c.Agg.bytes != 0 {
		t.Errorf("after Forget: %d series ids, %d processes, %d bytes counted; want none", n, len(c.Agg.Processes()), c.Agg.bytes)
	}
}

// A store that falls behind (a disk too slow, a flood too fast) queues a
// bounded heap of samples and tasks, and counts what it drops. (A Store
// without a database: its writer would empty the queue.)
func TestFloodStoreQueue(t *testing.T) {
	st := &Store{}
	before := heapInUse()
	samples := make([]Sample, 1000)
	for i := range samples {
		samples[i] = Sample{Point: Point{Instance: "i", Metric: "m", Kind: Gauge}}
	}
	label := strings.Repeat("l", 1000)
	tasks := make([]Task, 100)
	sent := 0
	for st.Dropped() == 0 {
		ts := make([]Task, len(tasks)) // as decoded: text of their own
		for i := range ts {
			ts[i] = Task{Instance: "i", Worker: "w", Label: strings.Clone(label)}
		}
		st.Add(samples, ts, nil)
		sent += len(samples) + len(ts)
	}
	after := heapInUse()
	used := after - before
	t.Logf("%d samples and tasks queued: heap %.1f MB, counted %.1f MB", sent, float64(used)/(1<<20), float64(st.pend.bytes)/(1<<20))
	if used > floodQueueHeap {
		t.Errorf("heap grew by %d MB, at most %d", used>>20, floodQueueHeap>>20)
	}
	runtime.KeepAlive(st)
}
