package main

// Tests of the records' fields and of run's flags for halting, dry runs,
// points from a file and per-point files, each through the binary.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// fullRecord is a results line with the fields these tests look at.
type fullRecord struct {
	Point           int                        `json:"point"`
	Params          map[string]json.RawMessage `json:"params"`
	Exit            int                        `json:"exit"`
	Attempts        int                        `json:"attempts"`
	Start           string                     `json:"start"`
	Stdout          string                     `json:"stdout"`
	Stderr          string                     `json:"stderr"`
	StdoutTruncated bool                       `json:"stdout_truncated"`
	StderrTruncated bool                       `json:"stderr_truncated"`
	Stray           bool                       `json:"stray"`
	Result          json.RawMessage            `json:"result"`
}

// param is the value of parameter name as text.
func (r fullRecord) param(name string) string { return strings.Trim(string(r.Params[name]), `"`) }

func readFull(t *testing.T, path string) []fullRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []fullRecord
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var r fullRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// Each record has its start, in UTC with milliseconds; an output past its
// cap is marked, and its kept part is the cap's length.
func TestRecordStartAndTruncation(t *testing.T) {
	dir := t.TempDir()
	before := time.Now().Add(-time.Second)
	p := start(t, testContext(t), dir, "run", "-workers", "2", "-progress", "none", "-out", "r.jsonl", "-param", "n=10,1100000",
		"--", "sh", "-c", `head -c $1 /dev/zero | tr '\0' x; head -c $(($1 / 100)) /dev/zero | tr '\0' y >&2`, "sh", "{n}")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d: %q", code, p.stderr)
	}
	after := time.Now().Add(time.Second)
	recs := readFull(t, filepath.Join(dir, "r.jsonl"))
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for _, r := range recs {
		at, err := time.Parse(gridsearch.StartFormat, r.Start)
		if err != nil || !strings.HasSuffix(r.Start, "Z") || len(r.Start) != len("2006-01-02T15:04:05.000Z") || at.Before(before) || at.After(after) {
			t.Errorf("point %d: start %q (%v), want RFC 3339 with ms in UTC, between %v and %v", r.Point, r.Start, err, before, after)
		}
		big := r.param("n") != "10"
		if r.StdoutTruncated != big || r.StderrTruncated != big {
			t.Errorf("n=%s: stdout_truncated %v, stderr_truncated %v, want %v", r.param("n"), r.StdoutTruncated, r.StderrTruncated, big)
		}
		wantOut, wantErr := 10, 0
		if big {
			wantOut, wantErr = gridsearch.MaxStdout, gridsearch.MaxStderr
		}
		if len(r.Stdout) != wantOut || len(r.Stderr) != wantErr {
			t.Errorf("n=%s: kept %d bytes of stdout, %d of stderr; want %d, %d", r.param("n"), len(r.Stdout), len(r.Stderr), wantOut, wantErr)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "r.jsonl"))
	if strings.Count(string(b), `"stdout_truncated":true`) != 1 {
		t.Errorf("the marker is not in the file once: %.200s", b)
	}
}

// ran lists the points whose command started (each touches dir/ran.<point>).
func ran(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "ran.*"))
	for i := range m {
		m[i] = strings.TrimPrefix(filepath.Base(m[i]), "ran.")
	}
	return m
}

// -halt N and soon,fail=N stop handing out points after N failures and
// let running ones end; no point that had not started runs after the
// halt (on one slot: exactly N ran). fail=P% counts from 10 points.
func TestHaltSoonAndPercent(t *testing.T) {
	for _, tc := range []struct {
		halt  string
		lines int
	}{
		{"2", 2},
		{"soon,fail=2", 2},
		// Odd points fail: 50% is first reached at 10 finished, 1
		// failure in 1 at the first.
		{"fail=50%", 10},
	} {
		dir := t.TempDir()
		p := start(t, testContext(t), dir, "run", "-workers", "1", "-progress", "none", "-out", "r.jsonl", "-halt", tc.halt, "-param", "i=1..30",
			"--", "sh", "-c", `touch "$2/ran.$1"; [ "$3" = all ] && exit 1; [ $(($1 % 2)) = 0 ] || exit 1`, "sh", "{i}", dir, map[bool]string{false: "all", true: "odd"}[strings.HasSuffix(tc.halt, "%")])
		code := p.wait()
		if code != 1 || len(p.stderr) == 0 || !strings.Contains(p.stderr[len(p.stderr)-1], "halted after") {
			t.Errorf("-halt %s: exit %d, stderr %q", tc.halt, code, p.stderr)
		}
		recs := readFull(t, filepath.Join(dir, "r.jsonl"))
		if len(recs) != tc.lines || len(ran(t, dir)) != tc.lines {
			t.Errorf("-halt %s: %d records, %d points ran (%v); want %d", tc.halt, len(recs), len(ran(t, dir)), ran(t, dir), tc.lines)
		}
	}
}

// -halt now,fail=1 kills the running points at once and does not record
// them; a resumed run does them.
func TestHaltNow(t *testing.T) {
	dir := t.TempDir()
	// Point 0 fails once point 1 has started (its pid in pid.1); point 1
	// would sleep for a minute.
	p := start(t, testContext(t), dir, "run", "-workers", "2", "-progress", "none", "-out", "r.jsonl", "-halt", "now,fail=1", "-param", "i=0,1",
		"--", "sh", "-c", `if [ $1 = 0 ]; then for k in $(seq 200); do [ -s "$2/pid.1" ] && exit 1; sleep 0.05; done; exit 2; fi; echo $$ > "$2/pid.1.tmp"; mv "$2/pid.1.tmp" "$2/pid.1"; exec sleep 60`, "sh", "{i}", dir)
	if code := p.wait(); code != 1 || !strings.Contains(strings.Join(p.stderr, "\n"), "halted after 1 point failed (-halt now,fail=1)") {
		t.Fatalf("exit %d, stderr %q", code, p.stderr)
	}
	recs := readFull(t, filepath.Join(dir, "r.jsonl"))
	if len(recs) != 1 || recs[0].param("i") != "0" || recs[0].Exit != 1 {
		t.Errorf("records %+v, want point 0's failure only", recs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid.1"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGone(t, pid, time.Now().Add(10*time.Second), "the halt")
}

// -dry-run prints each point's command, shell-quoted, and runs and writes
// nothing; a command not on this machine is no error then.
func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	p := start(t, testContext(t), dir, "run", "-dry-run", "-param", "p=1,2", "-param", "s=a b,it's",
		"--", "no-such-command-here", "--p={p}", "{s}", "slot {%}", "#{#}")
	if code := p.wait(); code != 0 || len(p.stderr) != 0 {
		t.Fatalf("exit %d, stderr %q", code, p.stderr)
	}
	want := strings.Join([]string{
		`no-such-command-here --p=1 'a b' 'slot {%}' '#0'`,
		`no-such-command-here --p=1 'it'\''s' 'slot {%}' '#1'`,
		`no-such-command-here --p=2 'a b' 'slot {%}' '#2'`,
		`no-such-command-here --p=2 'it'\''s' 'slot {%}' '#3'`,
	}, "\n") + "\n"
	if got := p.stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("files written: %q", got)
	}
}

// -points runs the rows of a CSV or JSON Lines file, one point a row, and
// -resume and -resume-failed continue such a run.
func TestPointsFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.csv"), []byte("p,name\n3,x\n1,y\n2,x\n7,z\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "p.jsonl"), []byte(`{"p": 3, "name": "x"}`+"\n"+`{"p": 1, "name": "y"}`+"\n"+`{"p": 2, "name": "x"}`+"\n"+`{"p": 7, "name": "z"}`+"\n"), 0o644)
	// p=7 fails until dir/fixed exists.
	cmd := []string{"--", "sh", "-c", `[ $1 = 7 ] && [ ! -e "$3/fixed" ] && exit 4; echo "{\"v\": $1, \"n\": \"$2\"}"`, "sh", "{p}", "{name}", dir}
	for _, f := range []string{"p.csv", "p.jsonl"} {
		out := f + ".out.jsonl"
		os.Remove(filepath.Join(dir, "fixed"))
		run := func(flags ...string) (int, string) {
			t.Helper()
			p := start(t, testContext(t), dir, append(append([]string{"run", "-workers", "2", "-progress", "none", "-points", f, "-out", out, "-maximize", "v"}, flags...), cmd...)...)
			code := p.wait()
			return code, p.stdout.String()
		}
		if code, s := run(); code != 1 || !strings.Contains(s, "3 done, 1 failed of 4 points") || !strings.Contains(s, "best (maximize v): p=3 name=x = 3") {
			t.Fatalf("%s: exit %d: %s", f, code, s)
		}
		recs := readFull(t, filepath.Join(dir, out))
		got := map[string]string{}
		for _, r := range recs {
			got[r.param("p")] = r.param("name")
		}
		if len(recs) != 4 || got["3"] != "x" || got["1"] != "y" || got["2"] != "x" || got["7"] != "z" {
			t.Errorf("%s: records %+v", f, recs)
		}
		if code, s := run("-resume"); code != 1 || !strings.Contains(s, "has every point of the grid (4 points): 3 done, 1 failed\n1 point failed before and was not run again") {
			t.Errorf("%s -resume: exit %d: %s", f, code, s)
		}
		os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644)
		if code, s := run("-resume-failed"); code != 0 || !strings.Contains(s, "1 done, 0 failed of 1 point (3 more done before)") || !strings.Contains(s, "best (maximize v): p=7 name=z = 7") {
			t.Errorf("%s -resume-failed: exit %d: %s", f, code, s)
		}
	}
}

// A bad points file is refused before the run with its line named.
func TestPointsFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"keys.jsonl", `{"p": 1}` + "\n" + `{"q": 2}` + "\n", "line 2: keys q, want those of the first line: p"},
		{"dup.csv", "p,q\n1,2\n3,4\n1,2\n", "line 4: the same point as line 2"},
		{"short.csv", "p,q\n1,2\n3\n", "line 3"},
		{"name.csv", "p,2x\n1,2\n", `line 1: parameter name "2x"`},
		{"empty.csv", "p\n", "no points"},
		{"long.csv", "p\n" + strings.Repeat("1", gridsearch.MaxPointsLine+1) + "\n", "line 2: longer than"},
		{"bool.jsonl", `{"p": true}` + "\n", "line 1: want an object of numbers and strings"},
	} {
		os.WriteFile(filepath.Join(dir, tc.name), []byte(tc.text), 0o644)
		p := start(t, testContext(t), dir, "run", "-points", tc.name, "-out", "r.jsonl", "--", "echo", "{p}")
		if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], "-points "+tc.name+": ") || !strings.Contains(p.stderr[0], tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.name, code, p.stderr, tc.want)
		}
	}
	p := start(t, testContext(t), dir, "run", "-points", "dup.csv", "-param", "p=1", "--", "echo", "{p}")
	if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], "-points and -param together") {
		t.Errorf("-points with -param: exit %d, stderr %q", code, p.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.jsonl")); err == nil {
		t.Error("a results file was written")
	}
}

// -results DIR has each point's stdout, stderr and record.
func TestResultsDir(t *testing.T) {
	dir := t.TempDir()
	p := start(t, testContext(t), dir, "run", "-workers", "2", "-progress", "none", "-out", "r.jsonl", "-results", "per", "-param", "i=0..2",
		"--", "sh", "-c", `echo "{\"v\": $1}"; echo "err $1" >&2`, "sh", "{i}")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d: %q", code, p.stderr)
	}
	for i := range 3 {
		d := filepath.Join(dir, "per", strconv.Itoa(i))
		out, _ := os.ReadFile(filepath.Join(d, "stdout"))
		errb, _ := os.ReadFile(filepath.Join(d, "stderr"))
		var rec fullRecord
		b, err := os.ReadFile(filepath.Join(d, "record.json"))
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if string(out) != "{\"v\": "+strconv.Itoa(i)+"}\n" || string(errb) != "err "+strconv.Itoa(i)+"\n" || err != nil || rec.Point != i || rec.Start == "" {
			t.Errorf("point %d: stdout %q, stderr %q, record %+v (%v)", i, out, errb, rec, err)
		}
	}
}

// A -results DIR that cannot be made stops the run before any point, with
// nothing written; a point whose own directory cannot be made stops the
// run, but every point that finished is in the results file, as the
// summary counts them.
func TestResultsDirUnwritable(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	p := start(t, ctx, dir, "run", "-workers", "2", "-progress", "none", "-out", "r.jsonl", "-results", "file/per", "-param", "i=0..5",
		"--", "sh", "-c", `: > "ran.$1"`, "sh", "{i}")
	if code := p.wait(); code != 1 || len(p.stderr) != 1 || !strings.HasPrefix(p.stderr[0], "gridsearch: -results file/per: ") {
		t.Errorf("exit %d, stderr %q; want 1 and one line about -results", code, p.stderr)
	}
	if got := files(t, dir); strings.Join(got, " ") != "file" {
		t.Errorf("files left: %q, want only file", got)
	}

	os.MkdirAll(filepath.Join(dir, "per"), 0o755)
	os.WriteFile(filepath.Join(dir, "per", "2"), nil, 0o644) // point 2's directory cannot be made
	p = start(t, ctx, dir, "run", "-workers", "1", "-progress", "none", "-out", "r2.jsonl", "-results", "per", "-param", "i=0..5",
		"--", "sh", "-c", `echo "{\"v\": $1}"`, "sh", "{i}")
	if code := p.wait(); code != 1 || !strings.Contains(strings.Join(p.stderr, "\n"), "gridsearch: -results per: point 2: ") {
		t.Errorf("exit %d, stderr %q; want 1 and a line about point 2", code, p.stderr)
	}
	recs := readResults(t, filepath.Join(dir, "r2.jsonl"))
	points := map[int]bool{}
	for _, r := range recs {
		points[r.Point] = true
	}
	if !points[0] || !points[1] || !points[2] || len(points) != len(recs) {
		t.Errorf("results file has points %v (%d lines), want 0, 1 and 2 once each", points, len(recs))
	}
	if want := fmt.Sprintf("%d done, 0 failed of 6 points", len(recs)); !strings.HasPrefix(p.stdout.String(), want) {
		t.Errorf("summary %q, want %q: the results file and the summary disagree", p.stdout.String(), want)
	}
}

// -dry-run warns of a parameter the command never uses, as a run does: a
// dry run is where that mistake should show.
func TestDryRunWarnsUnused(t *testing.T) {
	dir := t.TempDir()
	p := start(t, testContext(t), dir, "run", "-dry-run", "-param", "p=1,2", "-param", "q=3,4", "--", "echo", "{p}")
	code := p.wait()
	want := "gridsearch: warning: parameter q is in no {q} of the command: its 2 values run the same command"
	if code != 0 || len(p.stderr) != 1 || p.stderr[0] != want {
		t.Errorf("exit %d, stderr %q; want 0 and %q", code, p.stderr, want)
	}
	if got := p.stdout.String(); got != "echo 1\necho 1\necho 2\necho 2\n" {
		t.Errorf("stdout %q", got)
	}
}

// A command that exits leaving a child that holds its stdout, run without
// -timeout on a remote worker, ends once its output is read rather than
// with the child: it is reported as it exited, with its result, marked
// stray in its record and on stderr, and the child is killed with the
// command's process group. A point beside it whose command ends alone is
// not stray, and its output, written as it exits, is whole. Both with
// pidfds and as on a kernel without them.
func TestStrayChildEndsPoint(t *testing.T) {
	t.Run("pidfd", func(t *testing.T) { testStrayChildEndsPoint(t, false) })
	t.Run("exitpipe", func(t *testing.T) { testStrayChildEndsPoint(t, true) })
}

func testStrayChildEndsPoint(t *testing.T, noPidfd bool) {
	ctx := testContext(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	master := start(t, ctx, dir, "run", "-bind", "tcp://127.0.0.1:*", "-workers", "0", "-progress", "none", "-out", out,
		"-param", "i=1..2", "--", "sh", "-c",
		`if [ $1 = 1 ]; then sleep 600 & echo $! > child.tmp; mv child.tmp child; fi; seq 1 5000 >&2; echo "{\"v\": $1}"`, "sh", "{i}")
	ep := master.expect(t, ctx, `gridsearch worker -connect (\S+)`)[1]
	var env []string
	if noPidfd {
		env = []string{"GRIDSEARCH_TEST_NO_PIDFD=1"}
	}
	w := startEnv(t, ctx, dir, env, binary, "worker", "-connect", ep, "-slots", "1")
	if noPidfd {
		w.expect(t, ctx, `^gridsearch: test: no pidfds`)
	}
	master.expect(t, ctx, `^gridsearch: point 0 \(i=1\): the command exited, but a process it started still held its stdout or stderr open`)
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d: %q", code, master.stderr)
	}
	recs := readFull(t, out)
	if len(recs) != 2 {
		t.Fatalf("records %+v, want two", recs)
	}
	for _, r := range recs {
		stray := r.Point == 0
		want := fmt.Sprintf(`{"v":%d}`, r.Point+1)
		if r.Exit != 0 || r.Stray != stray || string(r.Result) != want || !strings.HasSuffix(r.Stderr, "\n4999\n5000\n") {
			t.Errorf("point %d: exit %d, stray %v, result %s, stderr ending %q; want exit 0, stray %v, result %s, stderr ending in 5000",
				r.Point, r.Exit, r.Stray, r.Result, r.Stderr[max(len(r.Stderr)-20, 0):], stray, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("the child's pid: %q, %v", b, err)
	}
	waitGone(t, pid, time.Now().Add(goneWithin), "the point ended")
	w.cmd.Process.Signal(syscall.SIGTERM)
	w.wait()
}
