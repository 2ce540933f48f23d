package main

// Tests of the plots: each kind written by the binary as a user runs it,
// and read back: a PNG decodes at its size, an SVG is well-formed XML
// with the title's text.

import (
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// product is a command whose result's v is the product of its arguments,
// and that fails (exit 3) when the first is 3.
var product = []string{"sh", "-c", `[ "$1" = 3 ] && exit 3; awk 'BEGIN { p = 1; for (i = 1; i < ARGC; i++) p *= ARGV[i]; printf "{\"v\": %g}\n", p }' "$@"`, "sh"}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 600 {
		t.Errorf("%s: %v, want 800x600", path, b)
	}
}

// checkSVG reads path as XML and returns its text, failing the test when
// it is not well-formed or lacks any of want.
func checkSVG(t *testing.T, path string, want ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(string(b)))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	for _, w := range want {
		if !strings.Contains(text.String(), w) {
			t.Errorf("%s: no text %q in %q", path, w, text.String())
		}
	}
}

// plotRun runs product over params with flags, and checks its exit status.
func plotRun(t *testing.T, dir string, wantExit int, flags []string, placeholders ...string) *proc {
	t.Helper()
	args := append([]string{"run", "-workers", "2", "-progress", "none"}, flags...)
	args = append(append(append(args, "--"), product...), placeholders...)
	p := start(t, testContext(t), dir, args...)
	if code := p.wait(); code != wantExit {
		t.Fatalf("%q: exit %d, want %d: %s\n%s", args, code, wantExit, p.stdout.String(), p.stderr)
	}
	return p
}

// A 1-D grid is a line (a log axis for a log spec, its failed point
// marked), a 2-D one a heatmap, a 3-D one a heatmap per pair of axes, in
// PNG or SVG, each titled with the command and the field.
func TestPlotKinds(t *testing.T) {
	dir := t.TempDir()
	// 1-D: x=3 fails.
	plotRun(t, dir, 1, []string{"-out", "one.jsonl", "-param", "x=0.03:300:log:5", "-maximize", "v"}, "{x}")
	checkPNG(t, filepath.Join(dir, "one.png"))
	plotRun(t, dir, 1, []string{"-out", "one.jsonl", "-force", "-param", "x=0.03:300:log:5", "-maximize", "v", "-plot", "svg"}, "{x}")
	checkSVG(t, filepath.Join(dir, "one.svg"), "maximize v over x", "red x: failed", "sh -c")

	// 2-D, into a file of its own name.
	p := plotRun(t, dir, 1, []string{"-out", "two.jsonl", "-param", "a=1..4", "-param", "b=4..6", "-minimize", "v", "-plot", "heat.svg"}, "{a}", "{b}")
	if !strings.Contains(p.stdout.String(), "results: two.jsonl, heat.svg") {
		t.Errorf("report: %s", p.stdout.String())
	}
	checkSVG(t, filepath.Join(dir, "heat.svg"), "minimize v", "grey: no value", "sh '{a}' '{b}'")
	plotRun(t, dir, 1, []string{"-out", "two.jsonl", "-force", "-param", "a=1..4", "-param", "b=4..6", "-minimize", "v"}, "{a}", "{b}")
	checkPNG(t, filepath.Join(dir, "two.png"))

	// 3-D: one per pair, the best over the third.
	plotRun(t, dir, 0, []string{"-out", "three.jsonl", "-param", "a=4..5", "-param", "b=1,2", "-param", "c=5..7", "-maximize", "v", "-plot", "svg"}, "{a}", "{b}", "{c}")
	for _, f := range []string{"three-a-b.svg", "three-a-c.svg", "three-b-c.svg"} {
		checkSVG(t, filepath.Join(dir, f), "maximize v: the best over")
	}
	checkSVG(t, filepath.Join(dir, "three-a-b.svg"), "the best over c")
	plotRun(t, dir, 0, []string{"-out", "three.jsonl", "-force", "-param", "a=4..5", "-param", "b=1,2", "-param", "c=5..7", "-maximize", "v"}, "{a}", "{b}", "{c}")
	checkPNG(t, filepath.Join(dir, "three-b-c.png"))
}

// A field that no succeeded point's result has is warned of at the first
// result without it, and is an error that names the fields there are, and no plot is drawn; the demo, whose field is
// known, refuses it before the run.
func TestPlotUnknownField(t *testing.T) {
	dir := t.TempDir()
	p := start(t, testContext(t), dir, "run", "-workers", "2", "-progress", "none", "-out", "r.jsonl", "-param", "i=1..3", "-maximize", "score",
		"--", "sh", "-c", `echo "{\"loss\": $1}"`, "sh", "{i}")
	if code := p.wait(); code != 1 {
		t.Fatalf("exit %d, want 1: %q", code, p.stderr)
	}
	// A warning at the first result without it, then the error.
	warn := regexp.MustCompile(`^gridsearch: warning: -maximize score: point (\d)'s result has no field "score"; point (\d)'s fields: loss$`)
	want := regexp.MustCompile(`^gridsearch: -maximize score: no succeeded point's result has field "score"; point \d's fields: loss$`)
	if len(p.stderr) != 2 || !warn.MatchString(p.stderr[0]) || !want.MatchString(p.stderr[1]) {
		t.Errorf("stderr %q, want a warning and the error", p.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.png")); err == nil {
		t.Error("a plot was drawn for an unknown field")
	}
	// Resumed, the file's results show it before the run.
	p = start(t, testContext(t), dir, "run", "-workers", "2", "-progress", "none", "-out", "r.jsonl", "-resume", "-param", "i=1..3", "-maximize", "score",
		"--", "sh", "-c", `echo "{\"loss\": $1}"`, "sh", "{i}")
	if code := p.wait(); code != 2 || len(p.stderr) != 1 || !want.MatchString(strings.TrimSuffix(p.stderr[0], " in r.jsonl")) {
		t.Errorf("resumed: exit %d, stderr %q", code, p.stderr)
	}
	p = start(t, testContext(t), dir, "-minimize", "score", "-out", "d.jsonl")
	if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], "the demo's result has one field, value") {
		t.Errorf("demo: exit %d, stderr %q", code, p.stderr)
	}
	if got := files(t, dir); strings.Join(got, " ") != "r.jsonl r.jsonl.meta.json" {
		t.Errorf("files: %q", got)
	}
}

// A command that prints more than its JSON on stdout has no result: the
// warning and the error say so, with the stdout, rather than name no field.
func TestPlotStdoutNotJSON(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-workers", "1", "-progress", "none", "-out", "r.jsonl", "-param", "i=1", "-maximize", "v",
		"--", "sh", "-c", `echo loading; echo "{\"v\": $1}"`, "sh", "{i}"}
	p := start(t, testContext(t), dir, append([]string{"run"}, args...)...)
	if code := p.wait(); code != 1 {
		t.Fatalf("exit %d, want 1: %q", code, p.stderr)
	}
	why := `point 0 has no result: its stdout is not JSON ("loading\n{\"v\": 1}\n"); print the JSON alone on stdout, anything else on stderr`
	want := []string{
		`gridsearch: warning: -maximize v: point 0's result has no field "v"; ` + why,
		`gridsearch: -maximize v: no succeeded point's result has field "v"; ` + why,
	}
	if strings.Join(p.stderr, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr %q, want %q", p.stderr, want)
	}
	p = start(t, testContext(t), dir, append([]string{"run", "-resume"}, args...)...)
	if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], why) {
		t.Errorf("resumed: exit %d, stderr %q, want 2 and %q", code, p.stderr, why)
	}
}

// -plot takes png, svg, none or a file name with one of those extensions.
func TestPlotFlag(t *testing.T) {
	dir := t.TempDir()
	p := start(t, testContext(t), dir, "run", "-plot", "x.pdf", "-param", "i=1", "--", "true")
	if code := p.wait(); code != 2 || len(p.stderr) != 1 || !strings.Contains(p.stderr[0], `-plot "x.pdf": want png, svg, none`) {
		t.Errorf("exit %d, stderr %q", code, p.stderr)
	}
}
