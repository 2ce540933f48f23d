package collect

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/telemetry"
)

// outboxBatch is a batch of a worker: an actor "work" that handled
// handled messages, and an Outbox "results" (its PUSH to the sink) that
// sent sent of them, as the telemetry package reports them: the actor has
// messages in, a mailbox and a handling time; the Outbox messages out
// alone.
func outboxBatch(t0 time.Time, handled, sent int64) [][]byte {
	work, results := otlptest.Str(telemetry.AttrActor, "work"), otlptest.Str(telemetry.AttrActor, "results")
	return otlptest.Batch(proc, []*metricspb.Metric{
		otlptest.Counter(telemetry.MetricActorMessages, "{message}", start, t0, handled, work, otlptest.Str(telemetry.AttrDirection, "in")),
		otlptest.Gauge(telemetry.MetricActorMailboxDepth, "{message}", t0, 1, work),
		otlptest.ExpHist(telemetry.MetricActorHandling, start, t0, 3, []float64{0.001}, work),
		otlptest.Counter(telemetry.MetricActorMessages, "{message}", start, t0, sent, results, otlptest.Str(telemetry.AttrDirection, "out")),
	}, nil)
}

// pageView is the page's data as the page reads it, by JSON name.
type pageView struct {
	Throughput []Line `json:"throughput"`
	Out        []Line `json:"out"`
	Latency    []Line `json:"latency"`
	Depth      []Line `json:"depth"`
}

// checkOutboxView checks a view of outboxBatch's batches: the Outbox's
// messages out a second are on the page, on a line of their own, and it
// has no line of messages in, handling time or mailbox (not a line of
// zeros); the actor's messages in are, and it has no line of messages out.
func checkOutboxView(t *testing.T, what string, v pageView, out [][2]float64) {
	t.Helper()
	const actor, outbox = "work · sink[42]", "results · sink[42]"
	names := func(ls []Line) (n []string) {
		for _, l := range ls {
			n = append(n, l.Name)
		}
		return n
	}
	if len(v.Out) != 1 || v.Out[0].Name != outbox {
		t.Fatalf("%s: messages out %+v, want the Outbox's line alone, %q", what, v.Out, outbox)
	}
	if got := v.Out[0].Points; len(got) != len(out) || !equalPoints(got, out) {
		t.Errorf("%s: the Outbox's messages out a second %v, want %v", what, got, out)
	}
	if n := names(v.Throughput); len(n) != 1 || n[0] != actor {
		t.Errorf("%s: messages in lines %q, want the actor's alone", what, n)
	}
	for _, l := range append(v.Latency, v.Depth...) {
		if strings.HasPrefix(l.Name, "results ") {
			t.Errorf("%s: the Outbox has a line %q (%v): it has no such figure", what, l.Name, l.Points)
		}
	}
}

func equalPoints(a, b [][2]float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// An Outbox (a worker's PUSH of results) sends and never receives: the
// live page's data (/api/view) and the static report hold its messages out
// a second, and the page has a chart and a table row for them. (The page
// charted only messages in: an Outbox was on it nowhere.)
func TestViewOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.db")
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCollector(st)
	t1, t2 := start.Add(time.Second), start.Add(2*time.Second)
	// Rates from the series' start, then over the second between.
	feed(t, c, outboxBatch(t1, 10, 30), outboxBatch(t2, 30, 90))
	want := [][2]float64{{secs(t1.UnixNano()), 30}, {secs(t2.UnixNano()), 60}}

	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	get := func(path string) string { return httpGet(t, srv, path) }
	var live pageView
	if err := json.Unmarshal([]byte(get("/api/view")), &live); err != nil {
		t.Fatal(err)
	}
	checkOutboxView(t, "/api/view", live, want)
	page := get("/")
	for _, want := range []string{`<svg id="out"`, `<table id="actors">`, `v.out||[]`} {
		if !strings.Contains(page, want) {
			t.Errorf("the live page lacks %q", want)
		}
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	v, err := LoadView(context.Background(), readStore(t, path))
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	if err := WritePage(&report, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	var stored pageView
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	checkOutboxView(t, "report", stored, want)
	if !strings.Contains(report.String(), `"out":[{"name":"results · sink[42]"`) {
		t.Error("the report's page lacks the Outbox's line")
	}
}
