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
	for _, chart := range []string{"throughput", "latency", "depth", "tasks"} {
		if got[chart] == 0 {
			t.Errorf("%s: chart %s holds no data points (%v)", what, chart, got)
		}
	}
	t.Logf("%s: data points %v", what, got)
}

// The live page and the static report, loaded in headless Chromium, draw
// the run's data.
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
		ps = append(ps, startProducer(t, ctx, c.pull, fmt.Sprintf("w%d", i), 30, 100))
	}
	for _, p := range ps {
		p.wait(t, ctx)
	}
	waitTotals(t, ctx, c, ps)
	checkCharts(t, "live page", headless(t, ctx, bin, c.http, "--dump-dom"))
	live := filepath.Join(out, "zprof-live.png")
	headless(t, ctx, bin, c.http, "--screenshot="+live)
	c.stop(t, ctx)

	report := filepath.Join(t.TempDir(), "report.html")
	if code := run(ctx, []string{"report", "-db", db, "-o", report}, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("zprof report: exit %d", code)
	}
	checkCharts(t, "report", headless(t, ctx, bin, "file://"+report, "--dump-dom"))
	shot := filepath.Join(out, "zprof-report.png")
	headless(t, ctx, bin, "file://"+report, "--screenshot="+shot)
	for _, f := range []string{live, shot} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
	t.Logf("screenshots: %s, %s", live, shot)
}
