package main

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zmqflow/zmqflow/gridsearch"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // registers png
	_ "gonum.org/v1/plot/vg/vgsvg" // registers svg
)

// Plot sizes: 800 x 600 pixels for PNG (gonum's 96 dpi), the same in
// points for SVG.
const (
	plotW = vg.Length(600)
	plotH = vg.Length(450)
	barW  = vg.Length(80) // of plotW, for a heatmap's colour bar
)

var (
	failedColor = color.RGBA{R: 220, A: 255}
	noValue     = color.Gray{Y: 200}
)

// checkPlotFlag checks -plot: none, png, svg or a file name ending .png
// or .svg.
func checkPlotFlag(s string) error {
	switch s {
	case "none", "png", "svg":
		return nil
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".png", ".svg":
		return nil
	}
	return fmt.Errorf("-plot %q: want png, svg, none, or a file name ending .png or .svg", s)
}

// plotBase is where -plot puts the plots of the results file out: the
// path without its extension, and the format.
func plotBase(flag, out string) (base, format string) {
	switch flag {
	case "png", "svg":
		return strings.TrimSuffix(out, ".jsonl"), flag
	}
	ext := filepath.Ext(flag)
	return strings.TrimSuffix(flag, ext), strings.ToLower(ext[1:])
}

// plotSet is the values of one field over a grid, by point, ready to draw.
type plotSet struct {
	grid     gridsearch.Grid
	field    string
	maximize bool
	title    string    // the command's line
	axes     []int     // the parameters with more than one value
	vals     []float64 // NaN: no value
	failed   []bool
}

// newPlotSet takes each point's value of field from recs (one record a
// point). It returns ok false when no succeeded record has the field.
func newPlotSet(grid gridsearch.Grid, recs []gridsearch.Record, field string, maximize bool, title string) (*plotSet, bool) {
	s := &plotSet{grid: grid, field: field, maximize: maximize, title: title}
	for k, p := range grid.Params {
		if len(p.Values) > 1 {
			s.axes = append(s.axes, k)
		}
	}
	n := grid.Len()
	s.vals, s.failed = make([]float64, n), make([]bool, n)
	index := make(map[string]int, n)
	for i := range n {
		s.vals[i] = math.NaN()
		index[paramsKey(grid.Point(i).Params())] = i
	}
	found := false
	for _, r := range recs {
		i, in := index[paramsKey(r.Params)]
		if !r.OK() {
			if in {
				s.failed[i] = true
			}
			continue
		}
		v, has := gridsearch.Field(r.Result, field)
		found = found || has
		if in && has && !math.IsNaN(v) && !math.IsInf(v, 0) {
			s.vals[i] = v
		}
	}
	return s, found
}

// better reports whether a is a better value than b (NaN is never).
func (s *plotSet) better(a, b float64) bool {
	if math.IsNaN(b) {
		return !math.IsNaN(a)
	}
	if s.maximize {
		return a > b
	}
	return a < b
}

// writePlots draws s as the grid's shape asks, into base's files: a line
// for one axis, a heatmap for two, one heatmap per pair of axes (the best
// value over the others) for more; none for a single point. It returns
// the files written.
func writePlots(s *plotSet, base, format string) ([]string, error) {
	var figs []figure
	switch len(s.axes) {
	case 0:
		return nil, nil
	case 1:
		p, err := s.line(s.axes[0])
		if err != nil {
			return nil, err
		}
		figs = append(figs, figure{main: p, path: base + "." + format})
	default:
		for i, a := range s.axes {
			for _, b := range s.axes[i+1:] {
				f := s.heatmap(a, b)
				f.path = base + "." + format
				if len(s.axes) > 2 {
					f.path = fmt.Sprintf("%s-%s-%s.%s", base, s.grid.Params[a].Name, s.grid.Params[b].Name, format)
				}
				figs = append(figs, f)
			}
		}
	}
	var names []string
	for _, f := range figs {
		if err := f.save(format); err != nil {
			return names, err
		}
		names = append(names, f.path)
	}
	return names, nil
}

// figure is one plot file: the plot, and a colour bar beside it for a
// heatmap.
type figure struct {
	main, bar *plot.Plot
	path      string
}

// newPlot is a plot with the title: the command, then what is drawn.
func (s *plotSet) newPlot(what string) *plot.Plot {
	p := plot.New()
	p.Title.Text = s.title + "\n" + what
	return p
}

// line draws field along parameter k: the values as a line with points,
// failed points as red crosses on the bottom edge. Numbers are placed as
// numbers (on a log axis for a log spec), anything else one step apart.
func (s *plotSet) line(k int) (*plot.Plot, error) {
	par := s.grid.Params[k]
	p := s.newPlot(fmt.Sprintf("%s %s over %s;  red x: failed", goalFlag(s.maximize), s.field, par.Name))
	p.X.Label.Text, p.Y.Label.Text = par.Name, s.field
	numeric := true
	for _, v := range par.Values {
		numeric = numeric && v.IsNum
	}
	logX := numeric && strings.Contains(par.Spec, ":log:")
	x := func(c int) float64 {
		if numeric {
			return par.Values[c].Num
		}
		return float64(c)
	}
	var ok, bad plotter.XYs
	lo := math.Inf(1)
	for _, v := range s.vals {
		if !math.IsNaN(v) {
			lo = min(lo, v)
		}
	}
	if math.IsInf(lo, 0) {
		lo = 0
	}
	for i := range s.vals {
		c := s.grid.Point(i).Coords()[k]
		switch {
		case !math.IsNaN(s.vals[i]):
			ok = append(ok, plotter.XY{X: x(c), Y: s.vals[i]})
		case s.failed[i]:
			bad = append(bad, plotter.XY{X: x(c), Y: lo})
		}
	}
	if len(ok) > 0 {
		// In the axis's order: a points file's rows may come in any.
		slices.SortFunc(ok, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		l, pts, err := plotter.NewLinePoints(ok)
		if err != nil {
			return nil, err
		}
		pts.Shape = draw.CircleGlyph{}
		p.Add(l, pts)
	}
	if len(bad) > 0 {
		sc, err := plotter.NewScatter(bad)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: failedColor, Radius: vg.Points(6), Shape: draw.CrossGlyph{}}
		p.Add(sc)
	}
	switch {
	case logX:
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	case !numeric:
		p.X.Tick.Marker = valueTicks(par)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// heatmap draws field over parameters a (across) and b (up), each cell the
// best value over the other axes; grey where none, a red cross where a
// point failed.
func (s *plotSet) heatmap(a, b int) figure {
	pa, pb := s.grid.Params[a], s.grid.Params[b]
	c := &cells{cols: len(pa.Values), rows: len(pb.Values)}
	c.z = make([]float64, c.cols*c.rows)
	for i := range c.z {
		c.z[i] = math.NaN()
	}
	failed := map[[2]int]bool{}
	for i, v := range s.vals {
		co := s.grid.Point(i).Coords()
		at := co[b]*c.cols + co[a]
		if s.better(v, c.z[at]) {
			c.z[at] = v
		}
		if s.failed[i] {
			failed[[2]int{co[a], co[b]}] = true
		}
	}
	what := fmt.Sprintf("%s %s", goalFlag(s.maximize), s.field)
	if len(s.axes) > 2 {
		var others []string
		for _, k := range s.axes {
			if k != a && k != b {
				others = append(others, s.grid.Params[k].Name)
			}
		}
		what += fmt.Sprintf(": the best over %s", strings.Join(others, ", "))
	}
	p := s.newPlot(what + ";  grey: no value, red x: failed")
	p.X.Label.Text, p.Y.Label.Text = pa.Name, pb.Name
	lo, hi := c.span()
	cm := colorMap(lo, hi)
	h := plotter.NewHeatMap(c, cm.Palette(255))
	h.Min, h.Max, h.NaN = lo, hi, noValue
	p.Add(h)
	if len(failed) > 0 {
		var xy plotter.XYs
		for k := range failed {
			xy = append(xy, plotter.XY{X: float64(k[0]), Y: float64(k[1])})
		}
		sc, _ := plotter.NewScatter(xy) // fails only on no points or NaN: neither here
		sc.GlyphStyle = draw.GlyphStyle{Color: failedColor, Radius: vg.Points(6), Shape: draw.CrossGlyph{}}
		p.Add(sc)
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = valueTicks(pa), valueTicks(pb)
	// The bar's plot has a title of as many lines, so that the two
	// line up.
	bar := plot.New()
	bar.Title.Text = "\n" + s.field
	bar.HideX()
	bar.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})
	return figure{main: p, bar: bar}
}

// colorMap is the heatmaps' colours, dark (smallest) to light (largest),
// over lo to hi.
func colorMap(lo, hi float64) palette.ColorMap {
	// Viridis-like stops, of rising luminance as NewLuminance wants: no
	// white or grey at either end, which would read as "no value".
	cm, err := moreland.NewLuminance([]color.Color{
		color.NRGBA{68, 1, 84, 255}, color.NRGBA{59, 82, 139, 255}, color.NRGBA{33, 145, 140, 255},
		color.NRGBA{94, 201, 98, 255}, color.NRGBA{253, 231, 37, 255}})
	if err != nil {
		panic(err) // the stops are constant
	}
	cm.SetMin(lo)
	cm.SetMax(hi)
	return cm
}

// cells is a heatmap's grid: column c, row r at z[r*cols+c], placed one
// step apart whatever the values, which the ticks name.
type cells struct {
	cols, rows int
	z          []float64
}

func (c *cells) Dims() (int, int)       { return c.cols, c.rows }
func (c *cells) Z(col, row int) float64 { return c.z[row*c.cols+col] }
func (c *cells) X(col int) float64      { return float64(col) }
func (c *cells) Y(row int) float64      { return float64(row) }

// span is the values' range, widened when it is one value (or none), as
// the heatmap needs lo < hi.
func (c *cells) span() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range c.z {
		if !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	switch {
	case lo > hi:
		return 0, 1
	case lo == hi:
		d := math.Max(math.Abs(lo)*1e-3, 1e-9)
		return lo - d, hi + d
	}
	return lo, hi
}

// valueTicks labels positions 0, 1, ... with par's values, at most about
// 12 of them.
func valueTicks(par gridsearch.Param) plot.ConstantTicks {
	every := max(1, (len(par.Values)+11)/12)
	var ts plot.ConstantTicks
	for i, v := range par.Values {
		t := plot.Tick{Value: float64(i)}
		if i%every == 0 {
			t.Label = v.Text
		}
		ts = append(ts, t)
	}
	return ts
}

// save writes f to its path in format, the bar (if any) on the right.
func (f figure) save(format string) error {
	cv, err := draw.NewFormattedCanvas(plotW, plotH, format)
	if err != nil {
		return err
	}
	dc := draw.New(cv)
	if f.bar != nil {
		f.main.Draw(draw.Crop(dc, 0, -barW, 0, 0))
		f.bar.Draw(draw.Crop(dc, plotW-barW, 0, 0, 0))
	} else {
		f.main.Draw(dc)
	}
	out, err := os.Create(f.path)
	if err != nil {
		return err
	}
	if _, err := cv.WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
