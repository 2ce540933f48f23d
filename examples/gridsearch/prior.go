package main

import (
	"bytes"
	"encoding/json"
	"os"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// prior is what an earlier run left in the file to resume, for this grid:
// which points to skip, and how many did well and how many failed.
type prior struct {
	skip   []bool // by point; nil: none
	done   int    // points with a success: skipped
	failed int    // points with no success, skipped (no -resume-failed)
	rerun  int    // points with no success, run again (-resume-failed)
}

// planResume decides which points of grid a resumed run skips: those
// with a line in the file (inFile, by params as the file has them) that
// succeeded, and, unless rerunFailed, those whose lines all failed.
func planResume(path string, grid gridsearch.Grid, inFile map[string]bool, rerunFailed bool) (prior, error) {
	var pr prior
	if len(inFile) == 0 {
		return pr, nil
	}
	ok, err := succeeded(path)
	if err != nil {
		return pr, err
	}
	pr.skip = make([]bool, grid.Len())
	for i := range pr.skip {
		switch k := paramsKey(grid.Point(i).Params()); {
		case ok[k]:
			pr.skip[i] = true
			pr.done++
		case !inFile[k]:
		case rerunFailed:
			pr.rerun++
		default:
			pr.skip[i] = true
			pr.failed++
		}
	}
	return pr, nil
}

// succeeded returns the params of the points of the results file at path
// that have a line with exit 0 and no error. The lines were checked
// (checkResults); a line that does not read is passed. A last line without
// its newline is left out even when it reads, as checkResults leaves it
// out: createResults cuts it off, so its point must run again.
func succeeded(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ok := map[string]bool{}
	for line := range bytes.Lines(b[:bytes.LastIndexByte(b, '\n')+1]) {
		var r struct {
			Params json.RawMessage `json:"params"`
			Exit   int             `json:"exit"`
			Error  string          `json:"error"`
		}
		if json.Unmarshal(line, &r) == nil && len(r.Params) > 0 && r.Exit == 0 && r.Error == "" {
			ok[string(r.Params)] = true
		}
	}
	return ok, nil
}

// paramsKey is a point's params as the results file has them: the master
// marshals them so, and every lookup by params marshals them the same way.
func paramsKey(ps gridsearch.Params) string {
	b, _ := ps.MarshalJSON()
	return string(b)
}

// latest keeps one record a point (by params), in the order they first
// come: its last success, or its last failure when it has none. A point
// that failed and was run again with -resume-failed has both in the file.
func latest(recs []gridsearch.Record) []gridsearch.Record {
	at := map[string]int{}
	var out []gridsearch.Record
	for _, r := range recs {
		k := paramsKey(r.Params)
		i, seen := at[k]
		switch {
		case !seen:
			at[k] = len(out)
			out = append(out, r)
		case r.OK() || !out[i].OK():
			out[i] = r
		}
	}
	return out
}
