package collect

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/zmqflow/zmqflow/telemetry"
)

func TestHistQuantileAndSub(t *testing.T) {
	h := &Hist{Count: 10, Bounds: []float64{1, 2, 4}, Counts: []uint64{0, 5, 5, 0}}
	if q := h.Quantile(0.5); q != 2 {
		t.Errorf("median %v, want 2", q)
	}
	if q := h.Quantile(0.75); q != 3 {
		t.Errorf("p75 %v, want 3", q)
	}
	later := &Hist{Count: 20, Bounds: []float64{1, 2, 4}, Counts: []uint64{0, 5, 5, 10}}
	d, ok := later.Sub(h)
	if !ok || d.Count != 10 || d.Counts[3] != 10 {
		t.Fatalf("delta %+v %v", d, ok)
	}
	if q := d.Quantile(0.5); q != 4 { // above the last bound: its lower bound
		t.Errorf("delta median %v, want 4", q)
	}
	if _, ok := h.Sub(later); ok {
		t.Error("a histogram minus a later one: want not ok")
	}
	// Exponential, the later one at a coarser scale.
	e1 := &Hist{Count: 2, Exp: true, Scale: 1, PosOffset: 4, Pos: []uint64{1, 1}}
	e2 := &Hist{Count: 5, Exp: true, Scale: 0, PosOffset: 2, Pos: []uint64{2, 3}}
	d, ok = e2.Sub(e1)
	if !ok || d.Count != 3 || d.Scale != 0 || d.PosOffset != 2 || d.Pos[0] != 0 || d.Pos[1] != 3 {
		t.Fatalf("exponential delta %+v %v", d, ok)
	}
	if c := e2.Classic(1); len(c) != 1 || c[16] != 5 {
		t.Errorf("classic %v, want 16:5", c)
	}
}

// feed decodes and ingests batches into c, failing t on any error.
func feed(t *testing.T, c *Collector, batches ...[][]byte) {
	t.Helper()
	for _, b := range batches {
		if _, err := c.Ingest(b, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAggregatorRates(t *testing.T) {
	a := NewAggregator()
	b1, _ := Decode(sampleBatch(start.Add(10*time.Second), 1000, []float64{0.001, 0.001}))
	b2, _ := Decode(sampleBatch(start.Add(12*time.Second), 1600, []float64{0.001, 0.001, 0.1, 0.1}))
	a.Add(b1, time.Now())
	s := a.Add(b2, time.Now())
	if len(s) != 3 || s[0].Rate != 300 {
		t.Fatalf("rate %v, want 300 a second", s[0].Rate)
	}
	if p := s[2].P50; p < 0.09 || p > 0.11 { // of the last interval only
		t.Errorf("p50 %v, want about 0.1", p)
	}
	if again := a.Add(b1, time.Now()); len(again) != 0 {
		t.Errorf("an older batch gave %d samples", len(again))
	}
	if ps := a.Processes(); len(ps) != 1 || ps[0].Batches != 3 {
		t.Errorf("processes %+v", ps)
	}
	a.Forget(time.Now().Add(time.Hour))
	n := 0
	a.Each(func(*ProcessInfo, *Point) { n++ })
	if n != 0 || len(a.Processes()) != 0 {
		t.Errorf("%d series left after Forget", n)
	}
}

// A series' first point has a rate from its start: a process that sends a
// single batch (a short worker's, at its end) shows on the throughput
// chart. Without a start, there is none.
func TestAggregatorFirstPointRate(t *testing.T) {
	a := NewAggregator()
	s := a.Add(Batch{Points: []Point{
		{Instance: "i", Metric: "m", Kind: Counter, Start: 1e9, Time: 3e9, Value: 2000},
		{Instance: "i", Metric: "n", Kind: Counter, Time: 3e9, Value: 2000},
	}}, time.Now())
	if len(s) != 2 || s[0].Rate != 1000 {
		t.Fatalf("first point's rate %v, want 1000 a second", s[0].Rate)
	}
	if !math.IsNaN(s[1].Rate) {
		t.Errorf("first point without a start: rate %v, want none", s[1].Rate)
	}
}

// A series that its producer let go and made again (telemetry.MaxSeries)
// comes back with a later start and totals from zero: its rate and
// quantiles are its own, not a drop from the old totals.
func TestAggregatorSeriesBeganAgain(t *testing.T) {
	a := NewAggregator()
	point := func(kind Kind, start, at int64, v float64, h *Hist) Point {
		return Point{Instance: "i", Metric: "m", Kind: kind, Start: start, Time: at, Value: v, Hist: h}
	}
	old := &Hist{Count: 10, Bounds: []float64{1, 2}, Counts: []uint64{10, 0, 0}}
	// More in every bucket than the old: taken for a later point of the
	// old series, it would give the four above the last bound alone.
	anew := &Hist{Count: 14, Bounds: []float64{1, 2}, Counts: []uint64{10, 0, 4}}
	a.Add(Batch{Points: []Point{point(Counter, 1e9, 10e9, 1000, nil)}}, time.Now())
	a.Add(Batch{Points: []Point{{Instance: "i", Metric: "h", Kind: Histogram, Start: 1e9, Time: 10e9, Hist: old}}}, time.Now())
	s := a.Add(Batch{Points: []Point{
		point(Counter, 20e9, 22e9, 30, nil),
		{Instance: "i", Metric: "h", Kind: Histogram, Start: 20e9, Time: 22e9, Hist: anew},
	}}, time.Now())
	if len(s) != 2 {
		t.Fatalf("%d samples, want 2", len(s))
	}
	if s[0].Rate != 15 {
		t.Errorf("began-again counter: rate %v, want 15 a second", s[0].Rate)
	}
	if s[1].P50 != 1 || s[1].Count != 14 {
		t.Errorf("began-again histogram: p50 %v, count %d; want 1, 14", s[1].P50, s[1].Count)
	}
}

func TestStoreAndReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.db")
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCollector(st)
	for i := range 5 {
		feed(t, c, sampleBatch(start.Add(time.Duration(i+1)*time.Second), int64(100*(i+1)), []float64{0.001, 0.002}))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db := readStore(t, path)
	var rows int
	var total float64
	if err := db.QueryRow(`SELECT count(*), max(value) FROM samples WHERE metric=?`, telemetry.MetricActorMessages).Scan(&rows, &total); err != nil {
		t.Fatal(err)
	}
	if rows != 5 || total != 500 {
		t.Errorf("%d rows, total %v; want 5, 500", rows, total)
	}
	var tasks, failed int
	db.QueryRow(`SELECT count(*), count(error) FROM tasks`).Scan(&tasks, &failed)
	if tasks != 10 || failed != 5 {
		t.Errorf("%d tasks, %d failed; want 10, 5", tasks, failed)
	}
	v, err := LoadView(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Throughput) != 1 || len(v.Throughput[0].Points) != 5 || v.Throughput[0].Points[0][1] != 100 {
		t.Errorf("throughput %+v", v.Throughput)
	}
	if len(v.Latency) != 3 || len(v.Depth) != 1 || len(v.Tasks) != 10 || len(v.Processes) != 1 {
		t.Errorf("view: %d latency, %d depth lines, %d tasks, %d processes", len(v.Latency), len(v.Depth), len(v.Tasks), len(v.Processes))
	}
	var page strings.Builder
	if err := WritePage(&page, &v); err != nil || !strings.Contains(page.String(), `"throughput":[{"name":"sink · sink[42]"`) {
		t.Errorf("report page: %v", err)
	}
}

func TestHandler(t *testing.T) {
	c := NewCollector(nil)
	feed(t, c, sampleBatch(start.Add(time.Second), 10, []float64{0.5}), sampleBatch(start.Add(2*time.Second), 30, []float64{0.5, 1.5}))
	if _, err := c.Ingest([][]byte{[]byte("x")}, time.Now()); err == nil {
		t.Fatal("a one-frame batch was taken in")
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	get := func(path string) string { return httpGet(t, srv, path) }
	m := get("/metrics")
	for _, want := range []string{
		"# TYPE zmqflow_actor_messages_total counter",
		`zmqflow_actor_messages_total{host_name="h1",service_instance_id="inst-1",service_name="sink",zmqflow_actor="sink",zmqflow_direction="in"} 30`,
		"# TYPE zmqflow_actor_handling_duration_seconds histogram",
		`zmqflow_actor_handling_duration_seconds_count{host_name="h1",service_instance_id="inst-1",service_name="sink",zmqflow_actor="sink"} 2`,
		"# TYPE zmqflow_actor_mailbox_depth gauge",
		`zprof_batches_total{result="rejected"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, m)
		}
	}
	var v View
	if err := json.Unmarshal([]byte(get("/api/view")), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Throughput) != 1 || len(v.Throughput[0].Points) != 2 || v.Throughput[0].Points[1][1] != 20 || len(v.Tasks) != 4 {
		t.Errorf("view %+v", v)
	}
	if !strings.Contains(get("/"), `<svg id="throughput"`) {
		t.Error("page lacks its charts")
	}
	if !math.IsNaN((&Hist{}).Quantile(0.5)) {
		t.Error("quantile of nothing: want NaN")
	}
}

func TestAttrsJSON(t *testing.T) {
	a := Attrs{{"a.b", "plain"}, {"q", "say \"hi\"\n<é>"}}
	var m map[string]string
	if err := json.Unmarshal([]byte(a.JSON()), &m); err != nil || m["a.b"] != "plain" || m["q"] != "say \"hi\"\n<é>" {
		t.Errorf("%s: %v %v", a.JSON(), m, err)
	}
}

// A database reopened (a restarted collector) goes on with the series it
// holds: one row of series each, their points all joined in samples.
func TestStoreReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.db")
	for run := range 2 {
		st, err := OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		c := NewCollector(st)
		for i := range 3 {
			feed(t, c, sampleBatch(start.Add(time.Duration(10*run+i+1)*time.Second), int64(10*run+i), []float64{0.001}))
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db := readStore(t, path)
	var series, samples int
	db.QueryRow(`SELECT count(*) FROM series`).Scan(&series)
	db.QueryRow(`SELECT count(*) FROM samples`).Scan(&samples)
	if series != 3 || samples != 18 {
		t.Errorf("%d series, %d samples; want 3, 18", series, samples)
	}
}

// Forget drops the processes and the lines gone quiet before the cutoff,
// and keeps the rest.
func TestWindowForget(t *testing.T) {
	w := NewWindow(0, 0, 0)
	w.SetProcess(ProcessView{Instance: "old", Last: 10})
	w.SetProcess(ProcessView{Instance: "new", Last: 100})
	w.point('t', "old line", 10, 1)
	w.point('t', "new line", 100, 1)
	w.Forget(50)
	if _, ok := w.procs["old"]; ok || len(w.procs) != 1 {
		t.Errorf("processes after Forget: %v", w.procs)
	}
	if _, ok := w.lines[lineKey{'t', "old line"}]; ok || len(w.lines) != 1 {
		t.Errorf("lines after Forget: %v", w.lines)
	}
}

// A database read for a report is left as it was found: no -wal or -shm
// beside it once closed, and no statement can write to it.
func TestReadStoreLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "z.db")
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, NewCollector(st), sampleBatch(start.Add(time.Second), 100, []float64{0.001}))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := ReadStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadView(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM samples`); err == nil {
		t.Error("a report's connection deleted rows")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left %v", ents)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("the database changed")
	}
	// One that is not there is not created.
	if db, err := ReadStore(ctx, filepath.Join(dir, "none.db")); err == nil {
		db.Close()
		t.Error("ReadStore opened a database that is not there")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left %v", ents)
	}
}

// A second Store on a database another has open is refused, with the
// database as it was: two would each number their series and overwrite
// the other's. Once the first closes, it opens.
func TestStoreOneCollectorADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.db")
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if st2, err := OpenStore(path); !errors.Is(err, ErrInUse) {
		if err == nil {
			st2.Close()
		}
		t.Fatalf("second OpenStore: %v, want ErrInUse", err)
	}
	feed(t, NewCollector(st), sampleBatch(start.Add(time.Second), 100, []float64{0.001}))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = OpenStore(path)
	if err != nil {
		t.Fatalf("OpenStore after the first closed: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// A line whose first point does not fit in MaxWindowBytes is not made:
// the point is dropped and counted, and the page shows no empty line.
func TestWindowNoEmptyLine(t *testing.T) {
	c := NewCollector(nil)
	w := c.Win
	const name = "a · b"
	// Room for the line, not for its first point.
	w.bytes = MaxWindowBytes - lineCost - len(name) - 16
	before := w.bytes
	w.point('d', name, 1, 1)
	if v := w.View(); len(v.Depth) != 0 {
		t.Errorf("lines %+v, want none", v.Depth)
	}
	if d := c.Dropped().Window; d != 1 {
		t.Errorf("%d points dropped, want 1", d)
	}
	if w.bytes != before {
		t.Errorf("window holds %d bytes, want %d as before", w.bytes, before)
	}

	// With room for it, the line is made with its point.
	w.bytes = MaxWindowBytes - lineCost - len(name) - 16*4
	w.point('d', name, 2, 5)
	if v := w.View(); len(v.Depth) != 1 || len(v.Depth[0].Points) != 1 || v.Depth[0].Points[0] != [2]float64{2, 5} {
		t.Errorf("lines %+v, want %q with its point", v.Depth, name)
	}
}

// A series' attributes are its JSON's text where the JSON holds them as
// they are, and their own where it escapes them: equal either way.
func TestInternAttrs(t *testing.T) {
	a := Attrs{{"", ""}, {"a.b", "plain"}, {"back\\slash", "é"}, {"q", "say \"hi\"\n<é>"}, {"z", `\"`}}
	js := a.JSON()
	got := internAttrs(a, js)
	if !slices.Equal(got, a) {
		t.Fatalf("internAttrs = %q, want %q", got, a)
	}
	within := func(s string) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(js)))
		return len(s) == 0 || (p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(js)))
	}
	for i, s := range []string{got[1].Key, got[1].Value, got[2].Value, got[3].Key} {
		if !within(s) {
			t.Errorf("string %d, %q, not within the JSON %s", i, s, js)
		}
	}
	if got := internAttrs(a, "{}"); !slices.Equal(got, a) {
		t.Errorf("against another JSON: %q, want %q", got, a)
	}

	// A new series' sample carries the JSON its attributes are within.
	b := Batch{Points: []Point{{Instance: "i", Metric: "m", Kind: Gauge, Attrs: a, Time: 1}}}
	s := NewAggregator().Add(b, time.Now())
	if len(s) != 1 || s[0].AttrsJSON != js || !slices.Equal(s[0].Attrs, a) {
		t.Fatalf("samples %+v, want one with %s", s, js)
	}
	js = s[0].AttrsJSON
	if !within(s[0].Attrs[1].Value) {
		t.Errorf("the series' attribute %q is not within its JSON", s[0].Attrs[1].Value)
	}
}

// Ingest and Reject return the count their own rejection made, and Ingest
// 0 for a batch taken in.
func TestIngestRejectCounts(t *testing.T) {
	c := NewCollector(nil)
	bad := [][]byte{[]byte("x")}
	if r, err := c.Ingest(bad, time.Now()); r != 1 || !errors.Is(err, ErrFrames) {
		t.Errorf("Ingest = %d, %v; want 1, %v", r, err, ErrFrames)
	}
	if r := c.Reject(); r != 2 {
		t.Errorf("Reject = %d, want 2", r)
	}
	if r, err := c.Ingest(bad, time.Now()); r != 3 || err == nil {
		t.Errorf("Ingest = %d, %v; want 3 and an error", r, err)
	}
	if r, err := c.Ingest(sampleBatch(start.Add(time.Second), 10, []float64{0.5}), time.Now()); r != 0 || err != nil {
		t.Errorf("Ingest of a good batch = %d, %v; want 0, nil", r, err)
	}
	if b, r, _ := c.Stats(); b != 1 || r != 3 {
		t.Errorf("Stats: %d taken in, %d rejected; want 1, 3", b, r)
	}
}

// readStore opens the store at path for reading, closed when the test
// ends.
func readStore(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := ReadStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// httpGet returns the body of srv's page at path, which must answer 200.
func httpGet(t *testing.T, srv *httptest.Server, path string) string {
	t.Helper()
	r, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("%s: %s %s", path, r.Status, b)
	}
	return string(b)
}
