package main

import "github.com/zmqflow/zmqflow/gridsearch"

// prior is what an earlier run left in the file to resume, for this grid:
// which points to skip, and how many did well and how many failed.
type prior struct {
	skip   []bool // by point; nil: none
	done   int    // points with a success: skipped
	failed int    // points with no success, skipped (no -resume-failed)
	rerun  int    // points with no success, run again (-resume-failed)
}

// planResume decides which points of grid a resumed run skips: those
// with a line in the file (sc.done, by params as the file has them) that
// succeeded (sc.ok), and, unless rerunFailed, those whose lines all
// failed. A last line without its newline is in neither: createResults
// cuts it off, so its point must run again.
func planResume(grid gridsearch.Grid, sc *scanned, rerunFailed bool) prior {
	var pr prior
	if len(sc.done) == 0 {
		return pr
	}
	pr.skip = make([]bool, grid.Len())
	for i := range pr.skip {
		switch k := paramsKey(grid.Point(i).Params()); {
		case sc.ok[k]:
			pr.skip[i] = true
			pr.done++
		case !sc.done[k]:
		case rerunFailed:
			pr.rerun++
		default:
			pr.skip[i] = true
			pr.failed++
		}
	}
	return pr
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
