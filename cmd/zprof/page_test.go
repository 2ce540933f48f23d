package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// chromium returns Debian's chromium, or skips the test without it
// (fails, under ZMQFLOW_REQUIRE_INTEROP=1, as test.sh runs).
func chromium(t *testing.T) string {
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("ZMQFLOW_REQUIRE_INTEROP") == "1" {
			t.Fatalf("chromium is required (apt-get install -y chromium): %v", err)
		}
		t.Skipf("no chromium to load the page in (apt-get install -y chromium): %v", err)
	}
	return path
}

// artefacts is where the screenshots go: $ZMQFLOW_ARTEFACTS, or the
// test's temporary directory.
func artefacts(t *testing.T) string {
	if dir := os.Getenv("ZMQFLOW_ARTEFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// headless runs chromium headless on url with args (--dump-dom,
// --screenshot), after the page's scripts ran for 5 s of virtual time.
func headless(t *testing.T, ctx context.Context, bin, url string, args ...string) []byte {
	t.Helper()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000", "--window-size=1200,1500"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.b)
	}
	return out
}

// limitedBuffer keeps the first 8 KiB written to it: chromium's stderr.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 8<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

var dataPoints = regexp.MustCompile(`<svg id="(\w+)"[^>]*data-points="(\d+)"`)

// checkCharts checks that each of the page's charts, as rendered, holds
// data points.
func checkCharts(t *testing.T, what string, dom []byte) {
	t.Helper()
	got := map[string]int{}
	for _, m := range dataPoints.FindAllSubmatch(dom, -1) {
		got[string(m[1])], _ = strconv.Atoi(string(m[2]))
	}
	for _, chart := range []string{"throughput", "out", "latency", "depth", "tasks"} {
		if got[chart] == 0 {
			t.Errorf("%s: chart %s holds no data points (%v)", what, chart, got)
		}
	}
	t.Logf("%s: data points %v", what, got)
}

var actorRow = regexp.MustCompile(`<tr data-name="([^"]*)"><td>[^<]*</td>` + strings.Repeat(`<td class="n">([^<]*)</td>`, 5) + `</tr>`)

// checkOutbox checks that the page, as rendered, shows each producer's
// Outbox "results" as zprof top does: a row with its messages out a
// second, and "-" for messages in, handling time and mailbox depth, which
// it has not; and a line on the chart of messages out, none on that of
// messages in.
func checkOutbox(t *testing.T, what string, dom []byte, ps []*producer) {
	t.Helper()
	rows := map[string][]string{}
	for _, m := range actorRow.FindAllSubmatch(dom, -1) {
		var cells []string
		for _, c := range m[2:] {
			cells = append(cells, string(c))
		}
		rows[string(m[1])] = cells
	}
	legend := func(id string) string {
		_, after, _ := strings.Cut(string(dom), `id="`+id+`-legend">`)
		legend, _, _ := strings.Cut(after, "</div>")
		return legend
	}
	for _, p := range ps {
		name := fmt.Sprintf("results · %s[%d]", p.name, p.Cmd.Process.Pid)
		r, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("%s: no row for the Outbox %q among %d rows", what, name, len(rows))
		case r[0] != "-" || r[2] != "-" || r[3] != "-" || r[4] != "-":
			t.Errorf("%s: the Outbox %q shows in/s, p50, p99, depth %q, want - for each", what, name, []string{r[0], r[2], r[3], r[4]})
		default:
			if _, err := strconv.ParseFloat(r[1], 64); err != nil {
				t.Errorf("%s: the Outbox %q shows out/s %q, want its rate", what, name, r[1])
			}
		}
		if !strings.Contains(legend("out"), ">"+name+"<") || strings.Contains(legend("throughput"), ">"+name+"<") {
			t.Errorf("%s: the Outbox %q on the charts of messages out %v, in %v; want out only", what, name,
				strings.Contains(legend("out"), ">"+name+"<"), strings.Contains(legend("throughput"), ">"+name+"<"))
		}
		// An ordinary actor sends through its Outboxes: no messages out
		// of its own, "-" in the table.
		actor := fmt.Sprintf("sink · %s[%d]", p.name, p.Cmd.Process.Pid)
		if r, ok := rows[actor]; !ok || r[1] != "-" || strings.Contains(legend("out"), ">"+actor+"<") {
			t.Errorf("%s: the actor %q shows out/s %q (row found: %v), want -, and no line of messages out", what, actor, r, ok)
		}
	}
}

var legendEntry = regexp.MustCompile(`<span><svg[^>]*><line [^>]*stroke="(#[0-9a-f]{6})"[^>]*></line></svg>([^<]*)</span>`)

// checkColours checks that each actor or outbox has one colour on every
// chart of the page, as rendered: its handling-time lines too, one a
// quantile.
func checkColours(t *testing.T, what string, dom []byte) {
	t.Helper()
	colour := map[string]string{} // actor -> colour
	where := map[string]string{}  // actor -> where it got it
	entries := 0
	for _, chart := range []string{"throughput", "out", "latency", "depth"} {
		_, after, _ := strings.Cut(string(dom), `id="`+chart+`-legend">`)
		legend, _, _ := strings.Cut(after, "</div>")
		for _, m := range legendEntry.FindAllStringSubmatch(legend, -1) {
			entries++
			name := m[2]
			if chart == "latency" {
				name = name[:max(0, strings.LastIndexByte(name, ' '))]
			}
			at := chart + " " + m[2]
			if c, ok := colour[name]; ok && c != m[1] {
				t.Errorf("%s: %q is %s on %s, %s on %s", what, name, c, where[name], m[1], at)
			} else if !ok {
				colour[name], where[name] = m[1], at
			}
		}
	}
	if entries == 0 || len(colour) < 2 {
		t.Errorf("%s: %d legend entries, %d actors: nothing to compare", what, entries, len(colour))
	}
}

// The live page and the static report, loaded in headless Chromium, draw
// the run's data, Outboxes included, each actor in one colour.
func TestPageInChromium(t *testing.T) {
	bin := chromium(t)
	// Four Chromium starts, each several seconds on a busy machine: this
	// test's bound is longer than the others'.
	ctx, cancel := context.WithTimeout(context.Background(), 4*testTimeout)
	defer cancel()
	out := artefacts(t)
	db := filepath.Join(t.TempDir(), "z.db")
	c := startCollector(t, ctx, "tcp://127.0.0.1:0", db)
	var ps []*producer
	for i := range 3 {
		ps = append(ps, startProducer(t, ctx, c.pull, fmt.Sprintf("w%d", i), 30, 100, "-outboxes", "results"))
	}
	for _, p := range ps {
		p.wait(t, ctx)
	}
	waitTotals(t, ctx, c, ps)
	dom := headless(t, ctx, bin, c.http, "--dump-dom")
	checkCharts(t, "live page", dom)
	checkOutbox(t, "live page", dom, ps)
	checkColours(t, "live page", dom)
	live := filepath.Join(out, "zprof-live.png")
	headless(t, ctx, bin, c.http, "--screenshot="+live)
	c.stop(t, ctx)

	report := filepath.Join(t.TempDir(), "report.html")
	if code := run(ctx, []string{"report", "-db", db, "-o", report}, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("zprof report: exit %d", code)
	}
	dom = headless(t, ctx, bin, "file://"+report, "--dump-dom")
	checkCharts(t, "report", dom)
	checkOutbox(t, "report", dom, ps)
	checkColours(t, "report", dom)
	shot := filepath.Join(out, "zprof-report.png")
	headless(t, ctx, bin, "file://"+report, "--screenshot="+shot)
	for _, f := range []string{live, shot} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
	t.Logf("screenshots: %s, %s", live, shot)
}
