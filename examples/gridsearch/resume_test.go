package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -resume of a file that holds every kind of line takes from it what it
// always did, from one reading of the file: a success is skipped as done;
// a failure (an exit status, an error) is skipped as failed, or run again
// with -resume-failed; a point that failed, then succeeded, is done; a
// blank line is passed; a line longer than the reader's buffer is read
// whole; and a last line without its newline is cut off, its point run
// again.
func TestResumeReadsEveryKindOfLine(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	args := append([]string{"run", "-workers", "2", "-progress", "none", "-out", out, "-param", "i=1..6"}, square...)
	if p := start(t, ctx, dir, args...); p.wait() != 0 {
		t.Fatalf("first run: %q", p.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	byPoint := map[int]map[string]any{}
	for line := range bytes.Lines(b) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		byPoint[int(r["params"].(map[string]any)["i"].(float64))] = r
	}
	line := func(i int, change map[string]any) string {
		r := map[string]any{}
		for k, v := range byPoint[i] {
			r[k] = v
		}
		for k, v := range change {
			r[k] = v
		}
		b, _ := json.Marshal(r)
		return string(b) + "\n"
	}
	failed := map[string]any{"exit": 3, "result": nil}
	whole := line(1, nil) +
		line(2, failed) +
		"\n" +
		line(3, failed) + line(3, nil) +
		line(4, map[string]any{"stdout": strings.Repeat("x", 200<<10)}) +
		line(5, map[string]any{"exit": -1, "error": "timeout after 1s", "result": nil})
	cut := strings.TrimSuffix(line(6, nil), "\n")

	for _, tc := range []struct {
		flag, summary string
		ran           []int
	}{
		{"-resume", "1 done, 0 failed of 1 point (5 more before: 3 done, 2 failed)", []int{6}},
		{"-resume-failed", "3 done, 0 failed of 3 points (3 more done before)", []int{2, 5, 6}},
	} {
		if err := os.WriteFile(out, []byte(whole+cut), 0o644); err != nil {
			t.Fatal(err)
		}
		p := start(t, ctx, dir, append([]string{"run", tc.flag}, args[1:]...)...)
		code := p.wait()
		if !strings.HasPrefix(p.stdout.String(), tc.summary) {
			t.Errorf("%s: exit %d, summary %q, want %q; stderr %q", tc.flag, code, p.stdout.String(), tc.summary, p.stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(whole)) {
			t.Fatalf("%s: the lines resumed were changed", tc.flag)
		}
		var ran []int
		for l := range bytes.Lines(b[len(whole):]) {
			var r record
			if err := json.Unmarshal(l, &r); err != nil || r.Exit != 0 {
				t.Fatalf("%s: line %q after those resumed: %v", tc.flag, l, err)
			}
			ran = append(ran, r.Params["i"])
		}
		if len(ran) != len(tc.ran) || !sameSet(ran, tc.ran) {
			t.Errorf("%s: ran points %v, want %v", tc.flag, ran, tc.ran)
		}
	}
}

func sameSet(a, b []int) bool {
	in := map[int]int{}
	for _, x := range a {
		in[x]++
	}
	for _, x := range b {
		in[x]--
	}
	for _, n := range in {
		if n != 0 {
			return false
		}
	}
	return true
}

// A results file that grew between its reading and the run's start (a
// second run on the same -out) is refused, not cut where the first
// reading ended.
func TestResumeRefusesFileChanged(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.jsonl")
	m := meta{Fingerprint: "f"}
	if err := os.WriteFile(out, []byte(`{"params":{"p":1}}`+"\n"+`{"params":{"p":2`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath(out), m.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := checkResults(out, m, true, false, "")
	if err != nil || len(sc.done) != 1 {
		t.Fatalf("checkResults: %+v, %v", sc, err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("}}\n")
	f.Close()
	if res, err := createResults(out, m, sc); err == nil || !strings.Contains(err.Error(), "changed while the run started") {
		if res != nil {
			res.close()
		}
		t.Fatalf("createResults of a file that grew: %v", err)
	}
	if b, _ := os.ReadFile(out); !bytes.HasSuffix(b, []byte("}}\n")) {
		t.Errorf("the file that grew was cut: %q", b)
	}
}

// -resume with -maximize or -minimize looks for the field in the same one
// reading of the results file: in succeeded points only, naming the first
// one's fields when none has it; the file is not read again.
func TestResumeLooksForFieldInOneReading(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.jsonl")
	m := meta{Fingerprint: "f"}
	write := func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(metaPath(out), m.encode(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	failed := `{"point":0,"params":{"p":0},"exit":1,"result":{"score":1}}`
	without := `{"point":1,"params":{"p":1},"exit":0,"result":{"loss":2}}`
	with := `{"point":2,"params":{"p":2},"exit":0,"result":{"score":3}}`
	o := &options{out: out, resume: true, maximize: "score"}
	check := func() error {
		t.Helper()
		sc, err := checkResults(out, m, true, false, "score")
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(out) // what the check says comes from the reading above
		return o.more.checkResumedField(o, sc)
	}

	write(failed, without)
	err := check()
	if err == nil || err.Error() != `-maximize score: no succeeded point's result has field "score"; point 1's fields: loss in `+out {
		t.Errorf("no succeeded point with the field: %v", err)
	}
	write(failed, without, with)
	if err := check(); err != nil {
		t.Errorf("a succeeded point has the field: %v", err)
	}
	write(failed) // none succeeded: left to the report
	if err := check(); err != nil {
		t.Errorf("no succeeded point: %v", err)
	}
}
