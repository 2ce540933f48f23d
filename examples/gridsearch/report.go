package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/telemetry"
)

// report prints the summary and writes the best point, the CSV and the
// plots, all from the whole results file (a resumed run's points too).
// before is what the run resumed left.
func report(w io.Writer, o *options, grid gridsearch.Grid, sum gridsearch.Summary, before prior) error {
	if sum.Total > 0 && sum.Skipped == sum.Total {
		// A resume of a finished grid: no figures of a run that ran
		// nothing, but what the file holds.
		fmt.Fprintf(w, "nothing left to run: %s has every point of the grid (%s): %d done, %d failed\n",
			o.out, pointCount(sum.Total), sum.Skipped-before.failed, before.failed)
	} else {
		fmt.Fprintf(w, "%d done, %d failed of %s", sum.Done, sum.Failed, pointCount(sum.Total-sum.Skipped))
		switch {
		case sum.Skipped > 0 && before.failed > 0:
			fmt.Fprintf(w, " (%d more before: %d done, %d failed)", sum.Skipped, sum.Skipped-before.failed, before.failed)
		case sum.Skipped > 0:
			fmt.Fprintf(w, " (%d more done before)", sum.Skipped)
		}
		fmt.Fprintf(w, " in %v; efficiency %.3f (busy %v on %s)\n",
			sum.Elapsed.Round(time.Millisecond), sum.Efficiency, sum.Busy.Round(time.Millisecond), count(sum.PeakSlots, "slot"))
	}
	if unfinished := sum.Total - sum.Skipped - sum.Done - sum.Failed; unfinished > 0 {
		fmt.Fprintf(w, "%s not run\n", pointCount(unfinished))
	}
	if before.failed > 0 {
		fmt.Fprintf(w, "%s failed before and %s not run again: -resume-failed runs them\n", count(before.failed, "point"), were(before.failed))
	}
	recs, err := loadRecords(o.out)
	if err != nil {
		return err
	}
	recs = latest(recs) // a point run again has its last word only
	outputs := []string{o.out}
	field, maximize := o.field()
	if field != "" {
		verb := goalFlag(maximize)
		if i := gridsearch.Best(recs, field, maximize); i >= 0 {
			v, _ := gridsearch.Field(recs[i].Result, field)
			fmt.Fprintf(w, "best (%s %s): %s = %g  (point %d)\n", verb, field, paramText(recs[i].Params), v, recs[i].Point)
		} else {
			fmt.Fprintf(w, "best (%s %s): no succeeded point has that field\n", verb, field)
		}
		paths, err := o.more.writePlot(o, grid, recs, field, maximize)
		outputs = append(outputs, paths...)
		if err != nil {
			fmt.Fprintf(w, "results: %s\n", strings.Join(outputs, ", "))
			return err
		}
	}
	if o.csv {
		path := strings.TrimSuffix(o.out, ".jsonl") + ".csv"
		if err := writeCSV(path, grid, recs); err != nil {
			return err
		}
		outputs = append(outputs, path)
	}
	fmt.Fprintf(w, "results: %s\n", strings.Join(outputs, ", "))
	if telemetry.Enabled() {
		// The collector's page is where the run's timeline is: name it.
		fmt.Fprintf(w, "profile: sent to %s; the page of the zprof collect there shows each slot's points on its task timeline (zprof report -db FILE -o run.html keeps it)\n",
			os.Getenv(telemetry.EnvProfile))
	}
	return nil
}

func paramText(ps gridsearch.Params) string {
	var parts []string
	for _, nv := range ps {
		parts = append(parts, nv.Name+"="+nv.Value.Text)
	}
	return strings.Join(parts, " ")
}

// writeCSV writes one row per record: point, the parameters, exit, error,
// attempts, duration, worker, host, then the result's top-level fields
// (all the result objects' keys, sorted), or one column "result" for
// results that are not objects.
func writeCSV(path string, grid gridsearch.Grid, recs []gridsearch.Record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := csvRows(f, grid, recs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// csvRows writes writeCSV's rows to w.
func csvRows(w io.Writer, grid gridsearch.Grid, recs []gridsearch.Record) error {
	objs := make([]map[string]json.RawMessage, len(recs))
	keys := map[string]bool{}
	scalar := false
	for i, r := range recs {
		if len(r.Result) == 0 || string(r.Result) == "null" {
			continue
		}
		if json.Unmarshal(r.Result, &objs[i]) != nil {
			scalar = true
			continue
		}
		for k := range objs[i] {
			keys[k] = true
		}
	}
	var rk []string
	for k := range keys {
		rk = append(rk, k)
	}
	sort.Strings(rk)
	head := append([]string{"point"}, grid.Names()...)
	head = append(head, "exit", "error", "attempts", "duration", "worker", "host")
	if scalar {
		head = append(head, "result")
	}
	head = append(head, rk...)

	cw := csv.NewWriter(w)
	cw.Write(head)
	for i, r := range recs {
		row := []string{strconv.Itoa(r.Point)}
		for _, name := range grid.Names() {
			v := ""
			for _, nv := range r.Params {
				if nv.Name == name {
					v = nv.Value.Text
				}
			}
			row = append(row, v)
		}
		row = append(row, strconv.Itoa(r.Exit), r.Error, strconv.Itoa(r.Attempts),
			strconv.FormatFloat(r.Duration, 'f', 6, 64), r.Worker, r.Host)
		if scalar {
			if objs[i] == nil && len(r.Result) > 0 {
				row = append(row, csvValue(r.Result))
			} else {
				row = append(row, "")
			}
		}
		for _, k := range rk {
			row = append(row, csvValue(objs[i][k]))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// csvValue is a JSON value as a cell: strings unquoted, the rest as JSON.
func csvValue(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// pointCount is n with "point" or "points".
func pointCount(n int) string { return count(n, "point") }

// were is "was" for 1, "were" for more.
func were(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// isAre is "is" for 1, "are" for more.
func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// count is n with noun, made plural with an s but for 1: "1 slot", "2 slots".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
