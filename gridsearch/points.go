package gridsearch

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Bounds on a points file (ReadPoints), which is hostile input: its size,
// a line's length, the points and the parameters.
const (
	MaxPointsFile   = 64 << 20
	MaxPointsLine   = 64 << 10
	MaxPointsRows   = 1_000_000
	MaxPointsParams = 256
)

// ErrBadPoints is a points file that cannot be read; it is wrapped with
// the line at fault.
var ErrBadPoints = errors.New("gridsearch: bad points file")

// ReadPoints reads a grid's points from r, one a row, instead of a
// product of parameters: JSON Lines of objects ({"p": 1, "q": "a"}, each
// with the same keys, in any order) when the first character
// that is not a space is '{', CSV with a header row of parameter names
// otherwise. Values are numbers or strings, not empty; no two rows may be
// the same point. The grid's parameters have the values the rows use,
// numbers sorted, other values in the order they first come; its Rows
// keep the file's order, which is the points' order; the parameters are
// in the order of the first row's columns or keys. Errors wrap
// ErrBadPoints and name the line.
func ReadPoints(r io.Reader) (Grid, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxPointsFile+1))
	if err != nil {
		return Grid{}, err
	}
	if len(b) > MaxPointsFile {
		return Grid{}, fmt.Errorf("%w: more than %d bytes", ErrBadPoints, MaxPointsFile)
	}
	lines := 0
	for line := range bytes.Lines(b) {
		lines++
		if len(line) > MaxPointsLine {
			return Grid{}, fmt.Errorf("%w: line %d: longer than %d bytes", ErrBadPoints, lines, MaxPointsLine)
		}
		if lines > MaxPointsRows+1 {
			return Grid{}, fmt.Errorf("%w: more than %d points", ErrBadPoints, MaxPointsRows)
		}
	}
	var names []string
	var rows []pointRow
	if t := bytes.TrimLeft(b, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		names, rows, err = jsonPoints(b)
	} else {
		names, rows, err = csvPoints(b)
	}
	if err != nil {
		return Grid{}, err
	}
	if len(rows) == 0 {
		return Grid{}, fmt.Errorf("%w: no points", ErrBadPoints)
	}
	return gridOfRows(names, rows)
}

// pointRow is one point read, and its line.
type pointRow struct {
	line int
	vals []string
}

// checkNames checks a header: names as -param takes them, each once.
func checkNames(line int, names []string) error {
	if len(names) > MaxPointsParams {
		return fmt.Errorf("%w: line %d: more than %d parameters", ErrBadPoints, line, MaxPointsParams)
	}
	for i, n := range names {
		if !nameRE.MatchString(n) {
			return fmt.Errorf("%w: line %d: parameter name %q: want letters, digits and _, not first a digit", ErrBadPoints, line, n)
		}
		if slices.Contains(names[:i], n) {
			return fmt.Errorf("%w: line %d: parameter %s given twice", ErrBadPoints, line, n)
		}
	}
	return nil
}

func csvPoints(b []byte) ([]string, []pointRow, error) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	cr.ReuseRecord = false
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, nil, fmt.Errorf("%w: empty: want a header row of parameter names", ErrBadPoints)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadPoints, err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(head[i])
	}
	if err := checkNames(1, head); err != nil {
		return nil, nil, err
	}
	var rows []pointRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return head, rows, nil
		}
		if err != nil {
			// csv's errors name the line.
			return nil, nil, fmt.Errorf("%w: %v", ErrBadPoints, err)
		}
		line, _ := cr.FieldPos(0)
		for i, v := range rec {
			if rec[i] = strings.TrimSpace(v); rec[i] == "" {
				return nil, nil, fmt.Errorf("%w: line %d: %s is empty", ErrBadPoints, line, head[i])
			}
		}
		rows = append(rows, pointRow{line, rec})
	}
}

func jsonPoints(b []byte) ([]string, []pointRow, error) {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	var names []string
	var col map[string]int // the first line's keys: their columns
	var rows []pointRow
	n := 0
	for line := range bytes.Lines(b) {
		n++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ps Params
		if !json.Valid(line) {
			return nil, nil, fmt.Errorf("%w: line %d: not JSON", ErrBadPoints, n)
		}
		if err := ps.UnmarshalJSON(line); err != nil {
			return nil, nil, fmt.Errorf("%w: line %d: want an object of numbers and strings: %v", ErrBadPoints, n, strings.TrimPrefix(err.Error(), "gridsearch: "))
		}
		if len(ps) == 0 {
			return nil, nil, fmt.Errorf("%w: line %d: no parameters", ErrBadPoints, n)
		}
		keys := make([]string, len(ps))
		vals := make([]string, len(ps))
		for i, nv := range ps {
			keys[i], vals[i] = nv.Name, strings.TrimSpace(nv.Value.Text)
			if vals[i] == "" {
				return nil, nil, fmt.Errorf("%w: line %d: %s is empty", ErrBadPoints, n, nv.Name)
			}
		}
		if names == nil {
			if err := checkNames(n, keys); err != nil {
				return nil, nil, err
			}
			names = keys
			col = make(map[string]int, len(names))
			for i, k := range names {
				col[k] = i
			}
		} else if !slices.Equal(keys, names) {
			// An object's keys have no order: put the values in the
			// first line's columns, and refuse another set of keys
			// (a key missing, another, or one twice).
			inOrder := make([]string, len(names))
			ok := len(keys) == len(names)
			for i, k := range keys {
				c, known := col[k]
				if !ok || !known || inOrder[c] != "" {
					ok = false
					break
				}
				inOrder[c] = vals[i]
			}
			if !ok {
				return nil, nil, fmt.Errorf("%w: line %d: keys %s, want those of the first line: %s", ErrBadPoints, n, strings.Join(keys, ","), strings.Join(names, ","))
			}
			vals = inOrder
		}
		rows = append(rows, pointRow{n, vals})
	}
	return names, rows, nil
}

// gridOfRows makes the grid of rows: each parameter's values, numbers
// sorted when all are numbers, and the rows as indexes into them.
func gridOfRows(names []string, rows []pointRow) (Grid, error) {
	g := Grid{Params: make([]Param, len(names)), Rows: make([][]int, len(rows))}
	for k, name := range names {
		at := map[string]int{}
		var vs []Value
		for _, r := range rows {
			if _, ok := at[r.vals[k]]; !ok {
				at[r.vals[k]] = len(vs)
				vs = append(vs, textValue(r.vals[k]))
			}
		}
		if !slices.ContainsFunc(vs, func(v Value) bool { return !v.IsNum }) {
			slices.SortStableFunc(vs, func(a, b Value) int {
				switch {
				case a.Num < b.Num:
					return -1
				case a.Num > b.Num:
					return 1
				}
				return 0
			})
			for i, v := range vs {
				at[v.Text] = i
			}
		}
		g.Params[k] = Param{Name: name, Spec: "(points file)", Values: vs}
		for i, r := range rows {
			if g.Rows[i] == nil {
				g.Rows[i] = make([]int, len(names))
			}
			g.Rows[i][k] = at[r.vals[k]]
		}
	}
	seen := make(map[string]int, len(rows))
	for i, r := range rows {
		key := fmt.Sprint(g.Rows[i])
		if first, dup := seen[key]; dup {
			return Grid{}, fmt.Errorf("%w: line %d: the same point as line %d", ErrBadPoints, r.line, first)
		}
		seen[key] = r.line
	}
	return g, nil
}

// rowsFingerprint adds the rows to a fingerprint: two files with the same
// values in other rows are other grids.
func (g Grid) rowsFingerprint(w io.Writer) {
	if g.Rows == nil {
		return
	}
	b, _ := json.Marshal(g.Rows)
	w.Write(b)
}
