package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// report prints the summary and writes the best point, the CSV and the
// heatmap, all from the whole results file (a resumed run's points too).
// before is what the run resumed left.
func report(w io.Writer, o *options, grid gridsearch.Grid, sum gridsearch.Summary, before prior) error {
	fmt.Fprintf(w, "%d done, %d failed of %s", sum.Done, sum.Failed, pointCount(sum.Total-sum.Skipped))
	switch {
	case sum.Skipped > 0 && before.failed > 0:
		fmt.Fprintf(w, " (%d more before: %d done, %d failed)", sum.Skipped, sum.Skipped-before.failed, before.failed)
	case sum.Skipped > 0:
		fmt.Fprintf(w, " (%d more done before)", sum.Skipped)
	}
	fmt.Fprintf(w, " in %v; efficiency %.3f (busy %v on %d slots)\n",
		sum.Elapsed.Round(time.Millisecond), sum.Efficiency, sum.Busy.Round(time.Millisecond), sum.PeakSlots)
	if unfinished := sum.Total - sum.Skipped - sum.Done - sum.Failed; unfinished > 0 {
		fmt.Fprintf(w, "%s not run\n", pointCount(unfinished))
	}
	if before.failed > 0 {
		fmt.Fprintf(w, "%d points failed before and were not run again: -resume-failed runs them\n", before.failed)
	}
	recs, err := loadRecords(o.out)
	if err != nil {
		return err
	}
	recs = latest(recs) // a point run again has its last word only
	outputs := []string{o.out}
	field, maximize := o.field()
	if field != "" {
		verb := "maximize"
		if !maximize {
			verb = "minimize"
		}
		if i := gridsearch.Best(recs, field, maximize); i >= 0 {
			v, _ := gridsearch.Field(recs[i].Result, field)
			fmt.Fprintf(w, "best (%s %s): %s = %g  (point %d)\n", verb, field, paramText(recs[i].Params), v, recs[i].Point)
		} else {
			fmt.Fprintf(w, "best (%s %s): no succeeded point has that field\n", verb, field)
		}
		if o.heatmap && len(grid.Params) == 2 {
			path := strings.TrimSuffix(o.out, ".jsonl") + ".png"
			if err := writeHeatmap(path, grid, recs, field); err != nil {
				return err
			}
			outputs = append(outputs, path)
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

// writeHeatmap draws field over a 2-D grid: the first parameter down, the
// second across, each point a square from dark blue (smallest) through
// green to yellow (largest); grey where a point has no value. The axes carry
// the parameters' names and values, and a colour bar on the right the
// field's range, so the picture reads without the results file.
func writeHeatmap(path string, grid gridsearch.Grid, recs []gridsearch.Record, field string) error {
	down, across := grid.Params[0], grid.Params[1]
	rows, cols := len(down.Values), len(across.Values)
	cell := max(1, min(40, 800/max(rows, cols)))
	index := map[string]int{}
	for i := range grid.Len() {
		b, _ := grid.Point(i).Params().MarshalJSON()
		index[string(b)] = i
	}
	vals := make([]float64, rows*cols)
	for i := range vals {
		vals[i] = math.NaN()
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range recs {
		b, _ := r.Params.MarshalJSON()
		i, ok := index[string(b)]
		if !ok || !r.OK() {
			continue
		}
		if v, ok := gridsearch.Field(r.Result, field); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			vals[i] = v
			lo, hi = min(lo, v), max(hi, v)
		}
	}

	// Margins for the labels: values of the first parameter on the left,
	// of the second on top, the colour bar on the right.
	left := 8 + textWidth(down.Name)
	for _, v := range down.Values {
		left = max(left, 8+textWidth(v.Text))
	}
	top := 2*lineHeight + 8
	barX := left + cols*cell + 16
	right := barX + 16 + 8 + max(textWidth(fmtValue(lo)), textWidth(fmtValue(hi)), textWidth(field))
	img := image.NewRGBA(image.Rect(0, 0, right+8, top+rows*cell+lineHeight+8))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	for i, v := range vals {
		c := color.RGBA{128, 128, 128, 255}
		if !math.IsNaN(v) {
			t := 0.5
			if hi > lo {
				t = (v - lo) / (hi - lo)
			}
			c = ramp(t)
		}
		y, x := i/cols, i%cols
		fill(img, left+x*cell, top+y*cell, cell, cell, c)
	}
	// Label every value that has room: one a line down, one per text
	// width across.
	label(img, 4, top-lineHeight-4, across.Name+" (across)")
	for x, every := 0, max(1, (textWidth("0.000e+00")+cell)/cell); x < cols; x += every {
		label(img, left+x*cell, top-4, across.Values[x].Text)
	}
	label(img, 4, top+rows*cell+lineHeight+2, down.Name+" (down)")
	for y, every := 0, max(1, (lineHeight+cell-1)/cell); y < rows; y += every {
		label(img, 4, top+y*cell+min(cell, lineHeight), down.Values[y].Text)
	}
	// The colour bar: largest at the top.
	barH := rows * cell
	for y := range barH {
		fill(img, barX, top+y, 16, 1, ramp(1-float64(y)/float64(max(1, barH-1))))
	}
	label(img, barX, top-4, field)
	label(img, barX+20, top+lineHeight, fmtValue(hi))
	label(img, barX+20, top+barH, fmtValue(lo))

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lineHeight is the basic font's line, in pixels.
const lineHeight = 13

func textWidth(s string) int {
	return font.MeasureString(basicfont.Face7x13, s).Ceil()
}

// label writes s in black with its baseline at y.
func label(img draw.Image, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, x, y, w, h int, c color.RGBA) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{c}, image.Point{}, draw.Src)
}

func fmtValue(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// ramp is a viridis-like colour for t in [0, 1].
func ramp(t float64) color.RGBA {
	stops := [][3]float64{{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}
	t = math.Max(0, math.Min(1, t)) * float64(len(stops)-1)
	i := min(int(t), len(stops)-2)
	f := t - float64(i)
	var c [3]uint8
	for k := range 3 {
		c[k] = uint8(stops[i][k] + f*(stops[i+1][k]-stops[i][k]) + 0.5)
	}
	return color.RGBA{c[0], c[1], c[2], 255}
}

// pointCount is n with "point" or "points".
func pointCount(n int) string {
	if n == 1 {
		return "1 point"
	}
	return fmt.Sprintf("%d points", n)
}
