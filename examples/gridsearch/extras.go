package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// extras are run's flags for plots, halting, dry runs, points from a file
// and per-point files; kept apart from options so that each reads in one
// place.
type extras struct {
	plot    string   // -plot: png, svg, none or FILE.png|FILE.svg
	heatmap bool     // -heatmap=false, the old name of -plot none
	halt    string   // -halt, as parseHalt reads it
	rule    haltRule // -halt parsed, by check
	dryRun  bool
	points  string // -points FILE
	results string // -results DIR

	command []string // the run's, for the plots' titles
	warned  bool     // watchField has warned
}

func (e *extras) flags(fs *flag.FlagSet) {
	fs.StringVar(&e.plot, "plot", "png", "with -maximize or -minimize, plot the field beside -out: png or svg (named as -out, .png or .svg for .jsonl), a file name ending .png or .svg, or none; a line for one parameter, a heatmap for two, one heatmap per pair for more (best over the others)")
	fs.BoolVar(&e.heatmap, "heatmap", true, "the old name of -plot: -heatmap=false is -plot none")
	fs.StringVar(&e.halt, "halt", "", "stop on failures: N or soon,fail=N (no new points after N failed; running ones end), now,fail=N (running ones killed too), fail=P% (P percent of the points finished so far, counted from "+fmt.Sprint(gridsearch.DefaultHaltMinPoints)+" of them); points not started are never run after a halt")
	fs.BoolVar(&e.dryRun, "dry-run", false, "print each point's command, shell-quoted, one a line, and run nothing, write nothing")
	fs.StringVar(&e.points, "points", "", "the points from FILE instead of -param's product: CSV with a header row of parameter names, or JSON Lines of objects (a file whose first character is {), one point a row")
	fs.StringVar(&e.results, "results", "", "also write each point's stdout, stderr and record (JSON) to DIR/<point>/, as GNU parallel's --results")
}

// check checks the flags that can be checked alone.
func (e *extras) check() error {
	if !e.heatmap {
		e.plot = "none"
	}
	if err := checkPlotFlag(e.plot); err != nil {
		return err
	}
	var err error
	e.rule, err = parseHalt(e.halt)
	return err
}

// plot writes the plots of field for the report, and returns their files.
// A field that no succeeded record has is an error (and no plot), unless
// no point succeeded at all.
func (e *extras) writePlot(o *options, grid gridsearch.Grid, recs []gridsearch.Record, field string, maximize bool) ([]string, error) {
	s, found := newPlotSet(grid, recs, field, maximize, commandTitle(e.command))
	if !found && slices.ContainsFunc(recs, gridsearch.Record.OK) {
		return nil, fmt.Errorf("-%s %s: %w", goalFlag(s.maximize), field, unknownField(field, recs))
	}
	if e.plot == "none" {
		return nil, nil
	}
	base, format := plotBase(e.plot, o.out)
	return writePlots(s, base, format)
}

// unknownField is the error for a -maximize or -minimize field that no
// succeeded point's result has, naming the fields the first one has.
func unknownField(field string, recs []gridsearch.Record) error {
	for _, r := range recs {
		if r.OK() {
			return fmt.Errorf("no succeeded point's result has field %q; %s", field, fieldsOf(r))
		}
	}
	return fmt.Errorf("no succeeded point's result has field %q", field)
}

// fieldsOf names the top-level fields of r's result, or says why it has
// none: most often a stdout that is JSON and more (a progress line, say),
// which is then no result at all.
func fieldsOf(r gridsearch.Record) string {
	if res := strings.TrimSpace(string(r.Result)); res == "" || res == "null" {
		why := "is not JSON"
		if r.StdoutTruncated {
			why = "is cut at its cap"
		}
		return fmt.Sprintf("point %d has no result: its stdout %s (%.60q); print the JSON alone on stdout, anything else on stderr", r.Point, why, r.Stdout)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(r.Result, &obj) != nil {
		return fmt.Sprintf("point %d's result is %.40s, not an object (-maximize . takes a number)", r.Point, string(r.Result))
	}
	keys := slices.Sorted(maps.Keys(obj))
	return fmt.Sprintf("point %d's fields: %s", r.Point, strings.Join(keys, ", "))
}

// commandTitle is the plots' first title line: the command, shell-quoted,
// its middle cut out when longer than a line.
func commandTitle(command []string) string {
	s := shellJoin(command)
	if len(command) == 1 && strings.HasPrefix(command[0], "(") {
		s = "gridsearch " + strings.Trim(command[0], "()") // the demo
	}
	if len(s) > 90 { // its head and tail: the program and the placeholders
		s = s[:55] + " ... " + s[len(s)-30:]
	}
	return s
}

// grid is the run's grid: -points FILE's rows, or the product of params.
func (e *extras) grid(params []string) (gridsearch.Grid, error) {
	if e.points == "" {
		if len(params) == 0 {
			return gridsearch.Grid{}, errors.New("no -param or -points given: the grid is empty")
		}
		g, err := gridsearch.NewGrid(params...)
		if err != nil {
			return g, errors.New(strings.TrimPrefix(err.Error(), "gridsearch: "))
		}
		return g, nil
	}
	if len(params) > 0 {
		return gridsearch.Grid{}, errors.New("-points and -param together: the points file is the whole grid")
	}
	f, err := os.Open(e.points)
	if err != nil {
		return gridsearch.Grid{}, err
	}
	defer f.Close()
	g, err := gridsearch.ReadPoints(f)
	if err != nil {
		// "gridsearch: bad points file: line 3: ..." as "-points FILE: line 3: ...".
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), gridsearch.ErrBadPoints.Error()), ": ")
		return g, fmt.Errorf("-points %s: %s", e.points, msg)
	}
	return g, nil
}

// metaParams is what the meta file names as the grid.
func (e *extras) metaParams(params []string) []string {
	if e.points != "" {
		return []string{"-points " + e.points}
	}
	return params
}

// apply sets cfg's halt from -halt, as check parsed it.
func (e *extras) apply(cfg *gridsearch.Config) {
	cfg.Halt, cfg.HaltPercent, cfg.HaltNow = e.rule.fails, e.rule.percent, e.rule.now
}

// haltText is -halt as the halt's message names it.
func (e *extras) haltText() string { return e.rule.String() }

// makeResultsDir makes -results DIR, when given, before the run.
func (e *extras) makeResultsDir() error {
	if e.results == "" {
		return nil
	}
	if err := os.MkdirAll(e.results, 0o755); err != nil {
		return fmt.Errorf("-results %s: %w", e.results, err)
	}
	return nil
}

// perPoint writes rec's files under -results DIR, when given: DIR/<point>/
// stdout, stderr and record.json (the results file's line, indented). A
// point run again (-resume-failed) has its files replaced.
func (e *extras) perPoint(rec gridsearch.Record) error {
	if e.results == "" {
		return nil
	}
	dir := filepath.Join(e.results, strconv.Itoa(rec.Point))
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-results %s: point %d: %w (the results file has it)", e.results, rec.Point, err)
	}
	if err := errors.Join(
		os.WriteFile(filepath.Join(dir, "stdout"), []byte(rec.Stdout), 0o644),
		os.WriteFile(filepath.Join(dir, "stderr"), []byte(rec.Stderr), 0o644),
		os.WriteFile(filepath.Join(dir, "record.json"), append(b, '\n'), 0o644)); err != nil {
		return fmt.Errorf("-results %s: point %d: %w (the results file has it)", e.results, rec.Point, err)
	}
	return nil
}

// watchField warns once, as the run goes, when a succeeded point's result
// lacks the -maximize or -minimize field: a misspelt field shows before
// the whole grid has run (the report then fails if no point has it).
func (e *extras) watchField(o *options, rec gridsearch.Record, println func(string)) {
	field, maximize := o.field()
	if e.warned || field == "" || !rec.OK() {
		return
	}
	if _, ok := gridsearch.Field(rec.Result, field); ok {
		e.warned = true // one has it: no misspelling
		return
	}
	e.warned = true
	println(fmt.Sprintf("gridsearch: warning: -%s %s: point %d's result has no field %q; %s", goalFlag(maximize), field, rec.Point, field, fieldsOf(rec)))
}

// checkResumedField refuses, before the run, a -maximize or -minimize
// field that none of the succeeded points of the file to resume has: the
// same command's new points would not have it either (with -force, the
// command may differ, and the check is left to the report).
//
// It takes what -resume's one reading of the file found (sc).
func (e *extras) checkResumedField(o *options, sc *scanned) error {
	field, maximize := o.field()
	if field == "" || !o.resume || o.force || sc.hasField || sc.firstOK == nil {
		return nil
	}
	return fmt.Errorf("-%s %s: %v in %s", goalFlag(maximize), field, unknownField(field, []gridsearch.Record{*sc.firstOK}), o.out)
}
