package main

// Tests of what a user sees on the terminal: the gridsearch binary run as
// a user runs it (see main_test.go's start), its stderr and exit status
// checked, and the files it leaves.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// files lists dir's files, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// A command that does not exist is refused before the run, with one line
// and nothing written.
func TestMissingCommandRefused(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "plain"), []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		cmd  string
		want string
	}{
		{"/nonexistent", "command /nonexistent: no such file"},
		{"./plain", "command ./plain: not executable"},
		{"no-such-command-gridsearch", "not found in PATH"},
	} {
		p := start(t, ctx, dir, "run", "-param", "p=1,2", "--", tc.cmd, "{p}")
		if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line with %q", tc.cmd, code, p.stderr, tc.want)
		}
	}
	if got := files(t, dir); len(got) != 1 {
		t.Errorf("files left: %q, want only plain", got)
	}
}

// Failed points show on stderr as they come: the first three whole, with
// why and their stderr's tail, then a count that names the results file.
func TestFailuresShown(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	p := start(t, ctx, dir, "run", "-workers", "2", "-out", out, "-progress", "none", "-param", "i=1..8",
		"--", "sh", "-c", `printf 'l1\nl2\nl3\nlast of %s\n' $1 >&2; [ $1 -le 2 ] && echo 1 || exit 7`, "sh", "{i}")
	if code := p.wait(); code != 1 {
		t.Fatalf("exit %d, want 1: %q", code, p.stderr)
	}
	whole := regexp.MustCompile(`^gridsearch: point (\d) \(i=(\d)\) failed: exit status 7$`)
	var shown []string
	for i, l := range p.stderr {
		m := whole.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		shown = append(shown, m[2])
		// Its stderr's last three lines follow.
		want := []string{"    stderr: l2", "    stderr: l3", "    stderr: last of " + m[2]}
		if len(p.stderr) < i+4 || strings.Join(p.stderr[i+1:i+4], "|") != strings.Join(want, "|") {
			t.Errorf("failure %q followed by %q, want %q", l, p.stderr[i+1:], want)
		}
	}
	if len(shown) != 3 {
		t.Errorf("failures shown whole: %q, want 3 of them in:\n%s", shown, strings.Join(p.stderr, "\n"))
	}
	if last := p.stderr[len(p.stderr)-1]; last != "gridsearch: 6 points failed, the first 3 shown above; see "+out {
		t.Errorf("last stderr line %q, want the count of all 6 failures", last)
	}
	if !strings.Contains(p.stdout.String(), "2 done, 6 failed of 8 points") {
		t.Errorf("summary: %s", p.stdout.String())
	}
	// A command that cannot start (here its name is a placeholder, which
	// is not checked before the run) shows why.
	p = start(t, ctx, dir, "run", "-workers", "1", "-out", filepath.Join(dir, "s.jsonl"), "-progress", "none", "-param", "c=/nonexistent", "--", "{c}")
	if code := p.wait(); code != 1 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], `point 0 (c=/nonexistent) failed: `) || !strings.Contains(p.stderr[0], "no such file") {
		t.Errorf("exit %d, stderr %q", code, p.stderr)
	}
}

// A resume of a grid that is done says so, and what the file holds,
// without the figures of a run that ran nothing; one slot is "1 slot", on
// the master and on the worker.
func TestResumeFinishedGrid(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	args := append([]string{"-out", "r.jsonl", "-progress", "none", "-param", "i=1..3"}, square...)
	master := start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0"}, args...)...)
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	w := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "1")
	select {
	case l := <-w.lines: // its first line
		if !strings.HasPrefix(l, "gridsearch worker: 1 slot on ") {
			t.Errorf("worker's first line %q, want gridsearch worker: 1 slot on ...", l)
		}
	case <-ctx.Done():
		t.Fatal("the worker said nothing")
	}
	if code := master.wait(); code != 0 || !regexp.MustCompile(`^3 done, 0 failed of 3 points in \S+; efficiency \S+ \(busy \S+ on 1 slot\)\n`).MatchString(master.stdout.String()) {
		t.Errorf("first run: exit %d, stdout:\n%s", code, master.stdout.String())
	}
	w.cmd.Process.Kill()
	w.wait()

	p := start(t, ctx, dir, append([]string{"run", "-resume", "-workers", "1"}, args...)...)
	want := "nothing left to run: r.jsonl has every point of the grid (3 points): 3 done, 0 failed\nresults: r.jsonl\n"
	if code := p.wait(); code != 0 || p.stdout.String() != want {
		t.Errorf("resume of a finished grid: exit %d, stdout:\n%s\nwant:\n%s", code, p.stdout.String(), want)
	}
	checkSquares(t, readResults(t, filepath.Join(dir, "r.jsonl")), 3)
}

// -resume counts a failed point as failed, not done: it is reported, the
// exit status is 1 while one is left, and -resume-failed runs it again.
func TestResumeFailed(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	// Points past 5 fail until the file dir/fixed exists.
	args := []string{"run", "-workers", "2", "-out", out, "-progress", "none", "-param", "i=1..8", "--",
		"sh", "-c", `[ $1 -gt 5 ] && [ ! -e "$2/fixed" ] && exit 3; echo "{\"v\": $(($1 * $1))}"`, "sh", "{i}", dir}
	run := func(flags ...string) (int, string, []string) {
		t.Helper()
		p := start(t, ctx, dir, append(append([]string{"run"}, flags...), args[1:]...)...)
		code := p.wait()
		return code, p.stdout.String(), p.stderr
	}
	if code, stdout, _ := run(); code != 1 || !strings.Contains(stdout, "5 done, 3 failed of 8 points") {
		t.Fatalf("first run: exit %d, %s", code, stdout)
	}
	code, stdout, stderr := run("-resume")
	if code != 1 || !strings.Contains(stdout, "nothing left to run: "+out+" has every point of the grid (8 points): 5 done, 3 failed\n") ||
		!strings.Contains(stdout, "3 points failed before and were not run again: -resume-failed runs them") {
		t.Errorf("-resume: exit %d, stdout:\n%s", code, stdout)
	}
	if !strings.Contains(strings.Join(stderr, "\n"), "3 points failed in the run resumed and are not run again") {
		t.Errorf("-resume: stderr %q", stderr)
	}
	if recs := readResults(t, out); len(recs) != 8 {
		t.Errorf("-resume ran points: %d records, want 8", len(recs))
	}
	if code, stdout, _ := run("-resume-failed"); code != 1 || !strings.Contains(stdout, "0 done, 3 failed of 3 points (5 more done before)") {
		t.Errorf("-resume-failed, still failing: exit %d, %s", code, stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := run("-resume-failed", "-csv"); code != 0 || !strings.Contains(stdout, "3 done, 0 failed of 3 points (5 more done before)") {
		t.Errorf("-resume-failed, fixed: exit %d, %s", code, stdout)
	}
	// Every point now has a success; the CSV has one row a point, its
	// success.
	recs := readResults(t, out)
	ok := map[int]bool{}
	for _, r := range recs {
		if r.Exit == 0 {
			ok[r.Params["i"]] = true
		}
	}
	if len(ok) != 8 || len(recs) != 14 {
		t.Errorf("%d records, points with a success %v; want 14 records (8 + 3 + 3) and all 8", len(recs), ok)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "r.csv"))
	if rows := strings.Count(string(csv), "\n"); rows != 9 || strings.Contains(string(csv), ",3,,") {
		t.Errorf("CSV of %d lines, want a header and 8 successes:\n%s", rows, csv)
	}
	if code, stdout, _ := run("-resume"); code != 0 || !strings.Contains(stdout, "nothing left to run: "+out+" has every point of the grid (8 points): 8 done, 0 failed\n") {
		t.Errorf("-resume when all done: exit %d, %s", code, stdout)
	}
}

// A master bound on every address names its host in the worker hint, not
// 0.0.0.0; a worker connected by an address of the host works.
func TestWildcardBindHint(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	master := start(t, ctx, dir, append([]string{"run", "-bind", "tcp://*:*", "-workers", "0",
		"-out", filepath.Join(dir, "r.jsonl"), "-progress", "none", "-param", "i=1..4"}, square...)...)
	m := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)
	if strings.Contains(m[0], "0.0.0.0") || strings.Contains(m[0], "*") {
		t.Errorf("hint %q names the wildcard", m[0])
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(m[1], "tcp://"))
	if err != nil || host != gridsearch.Hostname() {
		t.Fatalf("hint endpoint %q: host %q, want %q (%v)", m[1], host, gridsearch.Hostname(), err)
	}
	w := start(t, ctx, dir, "worker", "-connect", "tcp://127.0.0.1:"+port, "-slots", "2")
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d: %q", code, master.stderr)
	}
	checkSquares(t, readResults(t, filepath.Join(dir, "r.jsonl")), 4)
	w.cmd.Process.Signal(os.Interrupt)
	w.wait()
}

// A worker says on stderr, once, that it has heard no master for -lost,
// and again when it hears one.
func TestWorkerLostMaster(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	run := func(out string) *proc {
		return start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0",
			"-out", filepath.Join(dir, out), "-progress", "none", "-param", "i=1..4"}, square...)...)
	}
	first := run("a.jsonl")
	ep := first.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	w := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "2", "-lost", "3s")
	if code := first.wait(); code != 0 {
		t.Fatalf("first master exit %d: %q", code, first.stderr)
	}
	lost := fmt.Sprintf("gridsearch worker: no master heard at %s for 3s; still trying", ep)
	back := fmt.Sprintf("gridsearch worker: a master is heard at %s again", ep)
	w.expect(t, ctx, "^"+regexp.QuoteMeta(lost)+"$")
	// The next master on the same endpoint.
	second := start(t, ctx, dir, append([]string{"run", "-bind", ep, "-workers", "0",
		"-out", filepath.Join(dir, "b.jsonl"), "-progress", "none", "-param", "i=1..4"}, square...)...)
	w.expect(t, ctx, "^"+regexp.QuoteMeta(back)+"$")
	if code := second.wait(); code != 0 {
		t.Fatalf("second master exit %d: %q", code, second.stderr)
	}
	checkSquares(t, readResults(t, filepath.Join(dir, "b.jsonl")), 4)
	w.cmd.Process.Signal(os.Interrupt)
	if code := w.wait(); code != 0 {
		t.Errorf("worker exit %d", code)
	}
	// The lost line came, and the back line after it. (A machine stalled
	// for more than 3 s may add a pair while the first master ran: the
	// test does not count them.)
	lastLost, lastBack := -1, -1
	for i, l := range w.stderr {
		switch l {
		case lost:
			lastLost = i
		case back:
			lastBack = i
		}
	}
	if lastLost < 0 || lastBack < lastLost {
		t.Errorf("worker stderr %q: want the lost line after the first master, then the back line", w.stderr)
	}
}

// A worker whose -connect names a host that does not resolve (a typo)
// says so, rather than only that no master is heard; it keeps trying.
// Stopped, it exits 1: no master served it.
func TestWorkerHostNotFound(t *testing.T) {
	ctx := testContext(t)
	w := start(t, ctx, t.TempDir(), "worker", "-connect", "tcp://no-such-master.invalid:5555", "-slots", "1", "-lost", "0")
	w.expect(t, ctx, `^gridsearch worker: cannot find the master's host no-such-master\.invalid \(.+\); still trying$`)
	w.cmd.Process.Signal(os.Interrupt)
	if code := w.wait(); code != 1 || !strings.Contains(w.stderr[len(w.stderr)-1], "no master served this worker") {
		t.Errorf("worker exit %d: %q; want 1, saying no master served it", code, w.stderr)
	}
}

// A results file whose last line lost only its newline (the run was
// killed between the line and its end) is resumed with that point run
// again: -resume cuts the line off, and must not count it as done.
func TestResumeLastLineWithoutNewline(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	args := append([]string{"run", "-workers", "2", "-progress", "none", "-out", out, "-param", "i=1..4"}, square...)
	if p := start(t, ctx, dir, args...); p.wait() != 0 {
		t.Fatalf("first run: %q", p.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, ctx, dir, append([]string{"run", "-resume"}, args[1:]...)...)
	if code := p.wait(); code != 0 {
		t.Fatalf("resumed: exit %d: %q", code, p.stderr)
	}
	checkSquares(t, readResults(t, out), 4)
	if want := "1 done, 0 failed of 1 point (3 more done before)"; !strings.HasPrefix(p.stdout.String(), want) {
		t.Errorf("summary %q, want %q", p.stdout.String(), want)
	}
}

// A bind on a port in use: one line, no doubled prefix, nothing written,
// so that the rerun is not refused.
func TestBindInUse(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ep := "tcp://" + l.Addr().String()
	p := start(t, ctx, dir, append([]string{"run", "-bind", ep, "-out", "r.jsonl", "-progress", "none", "-param", "i=1..3"}, square...)...)
	want := "gridsearch: -bind " + ep + ": address already in use"
	if code := p.wait(); code != 1 || len(p.stderr) != 1 || !strings.HasPrefix(p.stderr[0], want) || strings.Count(p.stderr[0], "gridsearch:") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line starting %q", code, p.stderr, want)
	}
	if got := files(t, dir); len(got) > 0 {
		t.Errorf("a run that could not bind left %q", got)
	}
	// -halt's error has no doubled prefix either.
	p = start(t, ctx, dir, "run", "-workers", "1", "-halt", "1", "-progress", "none", "-out", "h.jsonl", "-param", "i=1..3", "--", "false", "{i}")
	p.wait()
	if last := p.stderr[len(p.stderr)-1]; !strings.HasPrefix(last, "gridsearch: halted after ") || strings.Count(last, "gridsearch:") != 1 {
		t.Errorf("-halt: last stderr line %q", last)
	}
}

// A parameter in no placeholder is warned of; {#}, {%} and the escapes
// reach the command.
func TestPlaceholders(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	p := start(t, ctx, dir, "run", "-workers", "2", "-out", out, "-progress", "none", "-param", "i=1..3", "-param", "unused=a,b",
		"--", "sh", "-c", `echo "{\"i\": $1, \"n\": $2, \"slot\": $3, \"lit\": \"$4\"}"`, "sh", "{i}", "{#}", "{%}", "{{i}}")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d: %q", code, p.stderr)
	}
	if want := "gridsearch: warning: parameter unused is in no {unused} of the command: its 2 values run the same command"; len(p.stderr) != 1 || p.stderr[0] != want {
		t.Errorf("stderr %q, want %q", p.stderr, want)
	}
	b, _ := os.ReadFile(out)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			Point  int `json:"point"`
			Result struct {
				I, N, Slot int
				Lit        string
			} `json:"result"`
			Worker string `json:"worker"`
		}
		if err := jsonUnmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		if r.Result.N != r.Point || r.Result.I != r.Point/2+1 || r.Result.Lit != "{i}" || r.Worker != fmt.Sprintf("local/%d", r.Result.Slot) {
			t.Errorf("record %s", l)
		}
	}
}

// Two runs started at once with the default name write two files.
func TestDefaultOutUnique(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	var ps []*proc
	for range 3 {
		ps = append(ps, start(t, ctx, dir, append([]string{"run", "-workers", "1", "-progress", "none", "-param", "i=1..2"}, square...)...))
	}
	for _, p := range ps {
		if code := p.wait(); code != 0 {
			t.Errorf("exit %d: %q", code, p.stderr)
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "gridsearch-*.jsonl"))
	if len(m) != 3 {
		t.Fatalf("results files %q, want 3", m)
	}
	for _, f := range m {
		if len(readResults(t, f)) != 2 {
			t.Errorf("%s: want 2 records", f)
		}
	}
	// In the same millisecond: a suffix.
	now := time.Now()
	var names []string
	for range 3 {
		res, name, err := createAuto(dir, now, meta{})
		if err != nil {
			t.Fatal(err)
		}
		res.close()
		names = append(names, filepath.Base(name))
	}
	base := now.Format(autoOutLayout)
	if want := []string{base + ".jsonl", base + "-2.jsonl", base + "-3.jsonl"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("names %q, want %q", names, want)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// The progress line counts running points apart from queued ones: never
// more running than slots.
func TestProgressRunningQueued(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	p := start(t, ctx, dir, "run", "-workers", "1", "-progress", "tty", "-out", "r.jsonl", "-param", "i=1..4",
		"--", "sh", "-c", "sleep 0.3", "sh", "{i}")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d: %q", code, p.stderr)
	}
	rx := regexp.MustCompile(`(\d+) running, (\d+) queued, [0-9.]+/s, ETA \S+, (\d+) slots?`)
	queued := false
	for _, m := range rx.FindAllStringSubmatch(strings.Join(p.stderr, "\n"), -1) {
		var run, q, slots int
		fmt.Sscan(m[1]+" "+m[2]+" "+m[3], &run, &q, &slots)
		if run > 1 || run > slots && slots > 0 {
			t.Errorf("progress %q: more running than the 1 slot", m[0])
		}
		queued = queued || q > 0
	}
	if !queued {
		t.Errorf("no progress line with points queued for the 1 slot: %q", p.stderr)
	}
}
