package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/proctest"
)

// The tests run the gridsearch binary as real processes: a master and
// workers over tcp on loopback. It is built once, with -race when the tests
// have it, and with the gridsearchtest tag, under which
// GRIDSEARCH_TEST_NO_PIDFD makes it wait for its commands' exits as on a
// kernel without pidfds.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gridsearch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gridsearch")
	code := 1
	args := []string{"build", "-tags", "gridsearchtest", "-o", binary}
	if raceEnabled() {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	if out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
	} else {
		code = m.Run()
	}
	cancel()
	os.RemoveAll(dir)
	os.Exit(code)
}

func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return true
			}
		}
	}
	return false
}

// testContext bounds each test: its processes are killed then, and every
// wait gives up. It is long enough for a busy machine to stall processes
// for a second or more many times over.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// proc is a running gridsearch process.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  chan string // stderr, line by line
	done   chan struct{}
	stderr []string
}

func start(t *testing.T, ctx context.Context, dir string, args ...string) *proc {
	t.Helper()
	return startCmd(t, ctx, dir, binary, args...)
}

// startCmd starts name (the binary, or a program that runs it, as nohup).
func startCmd(t *testing.T, ctx context.Context, dir, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, ctx, dir, nil, name, args...)
}

// startEnv starts name with env added to the test's environment.
func startEnv(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.CommandContext(ctx, name, args...), lines: make(chan string, 1000), done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	proctest.DieWithTest(p.cmd)
	p.cmd.Dir = dir
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() { p.cmd.Process.Kill(); p.wait() })
	return p
}

// wait waits for the process to end and returns its exit code.
func (p *proc) wait() int {
	for l := range p.lines {
		p.stderr = append(p.stderr, l)
	}
	p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode()
}

// expect waits for a stderr line matching re and returns its submatches.
func (p *proc) expect(t *testing.T, ctx context.Context, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("no line matching %q on stderr", re)
			}
			p.stderr = append(p.stderr, l)
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no line matching %q on stderr: %v", re, ctx.Err())
		}
	}
}

type record struct {
	Point  int             `json:"point"`
	Params map[string]int  `json:"params"`
	Result json.RawMessage `json:"result"`
	Exit   int             `json:"exit"`
	Worker string          `json:"worker"`
}

// readResults reads a results file, failing on a line that is not JSON.
func readResults(t *testing.T, path string) []record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []record
	for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'}) {
		if len(l) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("%s:%d: %v: %q", path, i+1, err, l)
		}
		recs = append(recs, r)
	}
	return recs
}

// waitLines waits until the results file has at least n lines.
func waitLines(t *testing.T, ctx context.Context, path string, n int) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("%s: %d lines", path, n), func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Count(b, []byte{'\n'}) >= n
	})
}

// waitFor polls cond (files: there is no event to wait for) until it holds,
// failing the test when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// doneBy reports whether the results file at path has a point done by the
// worker process pid (its records' worker is "host:pid/slot").
func doneBy(path string, pid int) bool {
	b, _ := os.ReadFile(path)
	for l := range bytes.Lines(b) {
		var r record
		if json.Unmarshal(l, &r) == nil && strings.HasSuffix(strings.Split(r.Worker, "/")[0], fmt.Sprintf(":%d", pid)) {
			return true
		}
	}
	return false
}

// runningOn reports whether the worker process pid holds a gated point (see
// gatedSquare) of the grid whose directory is dir.
func runningOn(dir string, pid int) bool {
	m, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("running.%d.*", pid)))
	return len(m) > 0
}

// checkSquares checks that recs hold each point i = 1..n exactly once with
// the result {"v": i*i}.
func checkSquares(t *testing.T, recs []record, n int) {
	t.Helper()
	seen := map[int]int{}
	for _, r := range recs {
		i := r.Params["i"]
		seen[i]++
		if r.Point != i-1 || r.Exit != 0 || string(r.Result) != fmt.Sprintf(`{"v":%d}`, i*i) {
			t.Errorf("point %d: %+v", i, r)
		}
	}
	for i := 1; i <= n; i++ {
		if seen[i] != 1 {
			t.Errorf("point i=%d written %d times", i, seen[i])
		}
	}
	if len(recs) != n {
		t.Errorf("%d records, want %d", len(recs), n)
	}
}

// square is the command: it takes a while and prints {"v": i*i}.
var square = []string{"--", "sh", "-c", `sleep 0.03; echo "{\"v\": $(($1 * $1))}"`, "sh", "{i}"}

// gatedSquare is square whose points past free wait, before they start, for
// the file dir/release: a test holds a run at a point of its choosing with
// it, rather than racing the run. A point that waits says so first with
// the file dir/running.PID.i, PID being its worker process (the command's
// parent).
func gatedSquare(dir string, free int) []string {
	return []string{"--", "sh", "-c", fmt.Sprintf(`if [ $1 -gt %d ]; then : > "$2/running.$PPID.$1"; `+
		`while [ ! -e "$2/release" ]; do sleep 0.02; done; fi; sleep 0.03; echo "{\"v\": $(($1 * $1))}"`, free),
		"sh", "{i}", dir}
}

// release lets the points of a gatedSquare go on.
func release(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Three worker processes; the first, killed with points under way after it
// has done some, leaves them to the other two. Points past the 30th wait
// for the test (gatedSquare), so that each worker holds some when the
// first is killed, however the processes' starts fall.
func TestRemoteWorkersOneKilled(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	const n = 150
	out := filepath.Join(dir, "r.jsonl")
	master := start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0",
		"-out", out, "-progress", "none", "-param", fmt.Sprintf("i=1..%d", n)}, gatedSquare(dir, 30)...)...)
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	var workers []*proc
	worker := func() *proc {
		w := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "2")
		workers = append(workers, w)
		return w
	}
	first := worker()
	waitFor(t, ctx, "a point done by the first worker", func() bool { return doneBy(out, first.cmd.Process.Pid) })
	worker()
	worker()
	for i, w := range workers {
		waitFor(t, ctx, fmt.Sprintf("worker %d holding a point", i), func() bool { return runningOn(dir, w.cmd.Process.Pid) })
	}
	// Killed with its points under way: the broker hands them to the others.
	workers[0].cmd.Process.Kill()
	release(t, dir)
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d\n%s\n%s", code, master.stdout.String(), strings.Join(master.stderr, "\n"))
	}
	recs := readResults(t, out)
	checkSquares(t, recs, n)
	byWorker := map[string]int{}
	for _, r := range recs {
		byWorker[strings.Split(r.Worker, "/")[0]]++
	}
	if len(byWorker) != 3 {
		t.Errorf("points by worker process: %v, want 3 processes", byWorker)
	}
	if !strings.Contains(master.stdout.String(), fmt.Sprintf("%d done, 0 failed", n)) {
		t.Errorf("summary: %s", master.stdout.String())
	}
	for _, w := range workers[1:] {
		w.cmd.Process.Signal(syscall.SIGTERM)
		if code := w.wait(); code != 0 {
			t.Errorf("worker exit %d: %s", code, w.stderr)
		}
	}
	t.Logf("by worker: %v; %s", byWorker, master.stdout.String())
}

// A run interrupted part way, resumed: the points done are not done again.
// Points past the 30th wait for the test (gatedSquare), so that the
// interrupt surely comes before the end, however slow the machine.
func TestResumeAfterInterrupt(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	const n = 120
	out := filepath.Join(dir, "r.jsonl")
	args := append([]string{"run", "-workers", "2", "-out", out, "-progress", "none", "-param", fmt.Sprintf("i=1..%d", n)}, gatedSquare(dir, 30)...)
	first := start(t, ctx, dir, args...)
	waitLines(t, ctx, out, 20)
	first.cmd.Process.Signal(os.Interrupt)
	if code := first.wait(); code != 130 {
		t.Fatalf("interrupted run: exit %d, want 130: %s", code, first.stderr)
	}
	partial := readResults(t, out)
	if len(partial) < 20 || len(partial) > 30 {
		t.Fatalf("interrupted run wrote %d points, want the 20 to 30 not held back", len(partial))
	}
	release(t, dir)

	// A different grid is refused, with one line, and the file is kept.
	other := start(t, ctx, dir, append([]string{"run", "-resume", "-out", out, "-param", "i=1..7"}, square...)...)
	if code := other.wait(); code != 2 || len(other.stderr) != 1 || !strings.Contains(other.stderr[0], "another grid") {
		t.Errorf("resume with another grid: exit %d, stderr %q", code, other.stderr)
	}

	second := start(t, ctx, dir, append([]string{"run", "-resume"}, args[1:]...)...)
	if code := second.wait(); code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, second.stderr)
	}
	checkSquares(t, readResults(t, out), n)
	if want := fmt.Sprintf("%d done, 0 failed of %d points (%d more done before)", n-len(partial), n-len(partial), len(partial)); !strings.Contains(second.stdout.String(), want) {
		t.Errorf("resumed summary %q, want %q", second.stdout.String(), want)
	}

	// A cut last line (a crash mid-write) is dropped by the next resume.
	f, _ := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"point":3,"par`)
	f.Close()
	third := start(t, ctx, dir, append([]string{"run", "-resume"}, args[1:]...)...)
	if code := third.wait(); code != 0 {
		t.Fatalf("third run: exit %d: %s", code, third.stderr)
	}
	checkSquares(t, readResults(t, out), n)
}

func TestBadInputs(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "exists.jsonl"), []byte("{}\n"), 0o644)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"run", "-param", "p=1:2:x", "--", "echo", "{p}"}, `count "x"`},
		{[]string{"run", "-param", "p=0:1:log:3", "--", "echo"}, "more than 0"},
		{[]string{"run", "-param", "p=1,2", "--", "echo", "{q}"}, "{q}"},
		{[]string{"run", "-param", "p=1,2"}, "no command"},
		{[]string{"run", "--", "echo"}, "grid is empty"},
		{[]string{"run", "-param", "p=5..1", "--", "echo"}, "empty range"},
		{[]string{"run", "-param", "p=1", "-param", "p=2", "--", "echo"}, "twice"},
		{[]string{"run", "-nope", "--", "echo"}, "-nope"},
		{[]string{"run", "-workers", "0", "-param", "p=1", "--", "echo"}, "-bind"},
		{[]string{"run", "-workers", "-1", "-param", "p=1", "--", "echo"}, "-workers -1: want the number of local slots, 0 or more"},
		{[]string{"run", "-slurm", "-3", "-param", "p=1", "--", "echo"}, "-slurm -3: want the number of worker jobs to submit, at least 1"},
		{[]string{"run", "-out", "exists.jsonl", "-param", "p=1", "--", "echo"}, "exists"},
		{[]string{"run", "-resume", "-param", "p=1", "--", "echo"}, "-out"},
		{[]string{"worker"}, "-connect"},
		{[]string{"worker", "-connect", "tcp://127.0.0.1:1", "-idle", "1s"}, "-idle"},
		{[]string{"worker", "-connect", "master:5555"}, "-connect master:5555: want transport://address; give the master's address"},
		{[]string{"worker", "-connect", "tcp://master"}, "-connect tcp://master: address master: missing port"},
		{[]string{"worker", "-connect", "tcp://*:5555"}, "-connect tcp://*:5555: a wildcard host is only for Bind"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"bench", "-only", "T3"}, "T3"},
		{[]string{"bench", "-runs", "0"}, "-runs"},
		{[]string{"bench", "-t0-points", "0"}, "-t0-points"},
	} {
		p := start(t, ctx, dir, tc.args...)
		code := p.wait()
		if code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], tc.msg) || !strings.HasPrefix(p.stderr[0], "gridsearch: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, p.stderr, tc.msg)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "gridsearch-*")); len(m) > 0 {
		t.Errorf("bad inputs left files: %v", m)
	}
}

// Each command's -h prints its usage and flags on stdout and exits 0; the
// demo's names no command, which it refuses.
func TestHelp(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want []string // in stdout
		not  string   // nor this
	}{
		{[]string{"-h"}, []string{"gridsearch run", "-only T1,T2,T0,true,sleep"}, ""},
		{[]string{"run", "-h"}, []string{"usage: gridsearch run [flags] -- COMMAND ARGS...", "-param"}, ""},
		{[]string{"demo", "-h"}, []string{"usage: gridsearch [demo] [flags]", "-workers"}, "COMMAND"},
		{[]string{"worker", "-h"}, []string{"usage: gridsearch worker", "-slots"}, ""},
		{[]string{"bench", "-h"}, []string{"usage: gridsearch bench", "-only", "-sleep-points", "-true-points"}, ""},
	} {
		p := start(t, ctx, dir, tc.args...)
		code := p.wait()
		out := p.stdout.String()
		if code != 0 || len(p.stderr) != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", tc.args, code, p.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
		if tc.not != "" && strings.Contains(out, tc.not) {
			t.Errorf("%q: stdout has %q:\n%s", tc.args, tc.not, out)
		}
	}
}

// The demo refuses parameters its function cannot take, before any point
// runs: each point failed with "json: unsupported value: NaN".
func TestDemoBadParams(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-param", "x=0,1"}, "-param x: the demo's think(p, q) has parameters p and q only"},
		{[]string{"demo", "-param", "p=a,b"}, "-param p=a,b: the demo's think(p, q) takes finite numbers"},
		{[]string{"-param", "q=1e400"}, "-param q=1e400"},
	} {
		p := start(t, ctx, dir, append(tc.args, "-workers", "1", "-progress", "none")...)
		code := p.wait()
		if code != 2 || len(p.stderr) != 1 || !strings.HasPrefix(p.stderr[0], "gridsearch: "+tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line %q", tc.args, code, p.stderr, tc.msg)
		}
	}
	if got := files(t, dir); len(got) > 0 {
		t.Errorf("refused demos left %q", got)
	}
	// One of p and q given: the other keeps its default.
	p := start(t, ctx, dir, "-param", "p=0,1", "-workers", "1", "-progress", "none", "-out", "d.jsonl", "-plot", "none")
	if code := p.wait(); code != 0 || !strings.Contains(p.stdout.String(), "32 done, 0 failed of 32 points") {
		t.Errorf("demo -param p=0,1: exit %d, stdout %q, stderr %q", code, p.stdout.String(), p.stderr)
	}
}

func TestDemo(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	p := start(t, ctx, dir, "-workers", "4", "-out", "demo.jsonl", "-csv")
	if code := p.wait(); code != 0 {
		t.Fatalf("demo: exit %d: %s", code, p.stderr)
	}
	s := p.stdout.String()
	for _, want := range []string{"256 done, 0 failed", "best (maximize value): p=0 q=0.8", "results: demo.jsonl, demo.png, demo.csv"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	for _, f := range []string{"demo.png", "demo.csv", "demo.jsonl.meta.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// A worker killed with SIGKILL takes its running command with it: the point
// is run elsewhere, and nothing is left running for it.
func TestKilledWorkerKillsItsCommand(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	master := start(t, ctx, dir, "run", "-bind", "tcp://127.0.0.1:*", "-workers", "0",
		"-out", filepath.Join(dir, "r.jsonl"), "-progress", "none", "-param", "i=1..2",
		"--", "sh", "-c", `echo $$ > pid.$1.$$; exec sleep 60`, "sh", "{i}")
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	w := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "2")
	var pids []int
	for len(pids) < 2 {
		pids = pids[:0]
		files, _ := filepath.Glob(filepath.Join(dir, "pid.*"))
		for _, f := range files {
			var pid int
			if b, err := os.ReadFile(f); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
				fmt.Sscan(string(b), &pid)
				pids = append(pids, pid)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("commands never started: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	w.cmd.Process.Kill()
	w.wait()
	deadline := time.Now().Add(goneWithin)
	for _, pid := range pids {
		waitGone(t, pid, deadline, "its worker was killed")
	}
}

// A point whose worker is killed while it runs is run again by another,
// and its record counts both runs: attempts 2. The point waits for the
// test (gatedSquare) so that the first worker surely holds it when killed.
func TestKilledWorkerCountsAttempt(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	master := start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0",
		"-out", out, "-progress", "none", "-param", "i=1..1"}, gatedSquare(dir, 0)...)...)
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	first := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "1")
	waitFor(t, ctx, "the first worker holding the point", func() bool { return runningOn(dir, first.cmd.Process.Pid) })
	first.cmd.Process.Kill()
	first.wait()
	release(t, dir)
	second := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "1")
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d\n%s\n%s", code, master.stdout.String(), strings.Join(master.stderr, "\n"))
	}
	recs := readFull(t, out)
	if len(recs) != 1 || recs[0].Exit != 0 || recs[0].Attempts != 2 {
		t.Errorf("records %+v, want one done, attempts 2", recs)
	}
	second.cmd.Process.Signal(syscall.SIGTERM)
	second.wait()
}

// A worker whose ssh session ends (SIGHUP) closes as on Ctrl-C: its
// commands' process groups are killed, children included, and it exits 0.
func TestHangUpWorkerKillsCommands(t *testing.T) {
	// The worker must start with SIGHUP at its default: it leaves an
	// ignored one alone (nohup, see TestWorkerIdle), and a test run under
	// nohup would pass its SIG_IGN on. While this process handles SIGHUP,
	// the processes it starts get the default (Go resets the signals it
	// handles in a child); Reset puts back what the run started with.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	ctx := testContext(t)
	dir := t.TempDir()
	master := start(t, ctx, dir, "run", "-bind", "tcp://127.0.0.1:*", "-workers", "0",
		"-out", filepath.Join(dir, "r.jsonl"), "-progress", "none", "-param", "i=1..1",
		"--", "sh", "-c", `sleep 60 & echo $! > bg.tmp; mv bg.tmp bg; wait`)
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	w := start(t, ctx, dir, "worker", "-connect", ep, "-slots", "1")
	var pid int
	for pid == 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "bg")); err == nil {
			fmt.Sscan(string(b), &pid)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("command never started: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	w.cmd.Process.Signal(syscall.SIGHUP)
	if code := w.wait(); code != 0 {
		t.Errorf("worker exit %d after SIGHUP: %s", code, w.stderr)
	}
	waitGone(t, pid, time.Now().Add(goneWithin), "its worker hung up")
}

// A worker that no master ever served exits with status 1 when a signal
// ends it, as when -idle does, saying so last: under a script or SLURM it
// must not look like one that did its share. (One that served exits 0:
// TestHangUpWorkerKillsCommands.)
func TestWorkerNeverServedSignal(t *testing.T) {
	ctx := testContext(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + l.Addr().String()
	l.Close() // nobody there: no master is ever heard
	w := start(t, ctx, t.TempDir(), "worker", "-connect", ep, "-slots", "1")
	w.expect(t, ctx, `^gridsearch worker: 1 slot`)
	w.cmd.Process.Signal(syscall.SIGTERM)
	code := w.wait()
	want := "gridsearch worker: no master served this worker at " + ep + " before it was stopped; exiting with status 1"
	if code != 1 || len(w.stderr) == 0 || w.stderr[len(w.stderr)-1] != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q last", code, w.stderr, want)
	}
}

// goneWithin is how long a killed process may take to be gone: it is at
// once, but a busy machine may take a second or more to get to it.
const goneWithin = 20 * time.Second

// waitGone fails the test if process pid is still running at deadline
// (and kills it then).
func waitGone(t *testing.T, pid int, deadline time.Time, after string) {
	t.Helper()
	for alive(pid) {
		if time.Now().After(deadline) {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
			t.Fatalf("process %d still running %v after %s", pid, goneWithin, after)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc: there is no event to wait for
	}
}

// A worker started with -idle serves its master, then exits by itself
// once the master has finished and gone quiet for that long. Started
// under nohup, it ignores the SIGHUP it is sent meanwhile. It exits no
// sooner than -idle after it started (it cannot have been idle longer);
// how long after its master it exits is logged: the test sees the master's
// end late by however long a busy machine takes to tell it.
func TestWorkerIdle(t *testing.T) {
	ctx := testContext(t)
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Fatalf("nohup (coreutils): %v", err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	master := start(t, ctx, dir, append([]string{"run", "-bind", "tcp://127.0.0.1:*", "-workers", "0",
		"-out", out, "-progress", "none", "-param", "i=1..10"}, square...)...)
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	started := time.Now()
	w := startCmd(t, ctx, dir, nohup, binary, "worker", "-connect", ep, "-slots", "2", "-idle", "5s")
	w.expect(t, ctx, `^gridsearch worker: 2 slots`)
	w.cmd.Process.Signal(syscall.SIGHUP)
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d: %s", code, master.stderr)
	}
	ended := time.Now()
	checkSquares(t, readResults(t, out), 10)
	w.expect(t, ctx, `^gridsearch worker: no master for 5s; exiting$`)
	if code := w.wait(); code != 0 {
		t.Errorf("worker exit %d: %s", code, w.stderr)
	}
	t.Logf("worker exited %v after its master ended (-idle 5s)", time.Since(ended).Round(time.Millisecond))
	if d := time.Since(started); d < 5*time.Second {
		t.Errorf("worker exited %v after it started, before -idle 5s", d)
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// The benchmark command, cut short: each measurement runs and reports in
// the format the README shows. The figures are matched loosely, never
// compared to their targets: on a busy machine, under the race detector,
// they are the machine's (the bench command is for an idle one).
func TestBench(t *testing.T) {
	ctx := testContext(t)
	p := start(t, ctx, t.TempDir(), "bench", "-quick", "-runs", "1", "-only", "T2,T0,true,sleep", "-t0-points", "500", "-true-points", "40",
		"-sleep-points", "40", "-sleep-workers", "2", "-sleep-slots", "3", "-sleep-secs", "0.01")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, p.stdout.String(), strings.Join(p.stderr, "\n"))
	}
	out := p.stdout.String()
	for _, re := range []string{
		`(?m)^T2 x0.25, 32 workers: T [0-9.]+s, G 0.395s, G/T [0-9.]+ \(target >= 0.98; runs [0-9.]+-[0-9.]+\), RRsim [0-9.]+s, sum [0-9.]+s$`,
		`(?m)^  G of the sleeps as they took, over T: [0-9.]+ \(dispatch alone\)$`,
		`(?m)^T0 500 no-op points, 2 workers: [0-9.]+s, \d+ points/s \(target >= 80000/s\)$`,
		`(?m)^40 points of sleep 0.01, 2 workers of 3 slots over tcp: [0-9.]+s against the ideal 0.067s, [0-9.]+x \(target <= 1.05\); master CPU \d+ µs per point$`,
		`(?m)^  gridsearch / xargs -P6 -n1 sleep on this machine alone: [0-9.]+$`,
		`(?m)^T0 40 /bin/true points, 2 workers: gridsearch [0-9.]+s$`,
		`(?m)^  gridsearch / xargs -P2 -n1 /bin/true: [0-9.]+ \(target <= 1.05; runs`,
		`(?m)^  (gridsearch / parallel -j2 /bin/true \{\}: [0-9.]+ \(target <= 0.3|parallel: not installed)`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no line matching %s in:\n%s", re, out)
		}
	}
	if strings.Contains(out, "T1") {
		t.Errorf("-only left out T1, yet:\n%s", out)
	}
}

// The benchmark's counts of one read in the singular: 1 run, 1 worker,
// 1 slot, 1 point (they read "1 workers" and the like).
func TestBenchSingular(t *testing.T) {
	ctx := testContext(t)
	p := start(t, ctx, t.TempDir(), "bench", "-runs", "1", "-only", "T0,sleep", "-t0-points", "1",
		"-sleep-points", "1", "-sleep-workers", "1", "-sleep-slots", "1", "-sleep-secs", "0.01")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, p.stdout.String(), strings.Join(p.stderr, "\n"))
	}
	out := p.stdout.String()
	for _, re := range []string{
		`(?m)^medians of 1 run; `,
		`(?m)^T0 1 no-op point, 1 worker: `,
		`(?m)^T0 1 no-op point, 2 workers: `,
		`(?m)^1 point of sleep 0.01, 1 worker of 1 slot over tcp: `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no line matching %s in:\n%s", re, out)
		}
	}
}

func TestSpareProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	want := max(2, min(3, 2*runtime.NumCPU()))
	if os.Getenv("GOMAXPROCS") != "" {
		want = 2 // the user's to set
	}
	spareProc(2)
	if n := runtime.GOMAXPROCS(0); n != want {
		t.Errorf("GOMAXPROCS %d after spareProc(2) at 2, want %d", n, want)
	}
	spareProc(1)
	if n := runtime.GOMAXPROCS(0); n != want {
		t.Errorf("GOMAXPROCS %d after spareProc(1) at %d, want it kept", n, want)
	}
}
