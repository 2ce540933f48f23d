package gridsearch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrBadParam is a parameter spec that cannot be parsed; ErrBadTemplate a
// command with a placeholder that names no parameter. Both are wrapped with
// the offending text.
var (
	ErrBadParam    = errors.New("gridsearch: bad parameter")
	ErrBadTemplate = errors.New("gridsearch: bad command")
	ErrEmptyGrid   = errors.New("gridsearch: empty grid")
)

// maxPoints bounds a grid, so that a typo (1..1e12) fails at once instead of
// eating the memory of the master.
const maxPoints = 10_000_000

// Value is one value of a parameter: the text that replaces {name} in a
// command, and its number when it is one.
type Value struct {
	Text  string
	Num   float64
	IsNum bool
}

// MarshalJSON writes a number as a JSON number and anything else as a string.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.IsNum && !math.IsInf(v.Num, 0) && !math.IsNaN(v.Num) {
		return []byte(strconv.FormatFloat(v.Num, 'g', -1, 64)), nil
	}
	return json.Marshal(v.Text)
}

func textValue(s string) Value {
	f, err := strconv.ParseFloat(s, 64)
	return Value{Text: s, Num: f, IsNum: err == nil}
}

func numValue(f float64) Value {
	// 12 significant digits: a log range's 10^-5 is 1e-05, not
	// 9.999999999999999e-06.
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 12, 64), 64)
	return Value{Text: strconv.FormatFloat(r, 'g', -1, 64), Num: r, IsNum: true}
}

// Param is one axis of a grid.
type Param struct {
	Name   string
	Spec   string // as written after "name="
	Values []Value
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	intRange = regexp.MustCompile(`^([+-]?\d+)\.\.([+-]?\d+)(?:\.\.([+-]?\d+))?$`)
)

// maxQuoted bounds what an error quotes of a user's text: %q writes up to
// 4 bytes of each byte, and a spec may be any length.
const maxQuoted = 128

// quote is s as %q writes it, cut to its first maxQuoted bytes (on a
// character's boundary) and "..." when longer.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	n := maxQuoted
	for n > maxQuoted-utf8.UTFMax && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "..."
}

// ParseParam parses "name=spec". The spec is one of:
//
//	a,b,c        a list; each item is taken as written (numbers or not)
//	a:b:n        n numbers evenly spaced from a to b, both included
//	a:b:log:n    n numbers evenly spaced in log scale from a to b (a, b > 0)
//	a..b         the integers from a to b, both included
//	a..b..s      the same with step s (b need not be reached)
//	v            a single value
//
// A spec with a comma is always a list, so "t=10:30,11:00" is two strings.
func ParseParam(s string) (Param, error) {
	name, spec, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || !nameRE.MatchString(name) {
		return Param{}, fmt.Errorf("%w %s: want name=values, the name made of letters, digits and _", ErrBadParam, quote(s))
	}
	vs, err := parseSpec(spec)
	if err != nil {
		return Param{}, fmt.Errorf("%w %s: %v", ErrBadParam, quote(s), err)
	}
	return Param{Name: name, Spec: spec, Values: vs}, nil
}

func parseSpec(spec string) ([]Value, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("no values")
	}
	if strings.Contains(spec, ",") {
		var vs []Value
		// SplitSeq: a list of empty items costs nothing before it fails.
		for item := range strings.SplitSeq(spec, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return nil, errors.New("empty item in list")
			}
			vs = append(vs, textValue(item))
		}
		return vs, nil
	}
	if m := intRange.FindStringSubmatch(spec); m != nil {
		a, err1 := strconv.ParseInt(m[1], 10, 64)
		b, err2 := strconv.ParseInt(m[2], 10, 64)
		step := int64(1)
		var err3 error
		if m[3] != "" {
			step, err3 = strconv.ParseInt(m[3], 10, 64)
		}
		if err1 != nil || err2 != nil || err3 != nil {
			// Not strconv's errors, which quote the number whole.
			return nil, errors.New("integer range: a bound or step does not fit 64 bits")
		}
		if step <= 0 {
			return nil, errors.New("step must be positive")
		}
		if b < a {
			return nil, fmt.Errorf("empty range: %d > %d", a, b)
		}
		// Neither b-a nor a step past b need fit an int64 (they wrapped:
		// a range of 2^64 values passed for a small one, and one ending
		// at MaxInt64 never ended). Count in uint64, where b-a fits, and
		// step by count: a+k*step is at most b, so it is exact computed
		// mod 2^64.
		n := (uint64(b) - uint64(a)) / uint64(step)
		if n >= maxPoints {
			return nil, fmt.Errorf("more than %d values", maxPoints)
		}
		vs := make([]Value, 0, n+1)
		for k := range int64(n) + 1 {
			i := a + k*step
			vs = append(vs, Value{Text: strconv.FormatInt(i, 10), Num: float64(i), IsNum: true})
		}
		return vs, nil
	}
	if strings.Contains(spec, "..") {
		return nil, errors.New("integer range wants a..b or a..b..step with integers")
	}
	// Counted before splitting: a spec of many colons costs no slice.
	switch strings.Count(spec, ":") {
	case 0:
		return []Value{textValue(strings.TrimSpace(spec))}, nil
	case 2, 3:
	default:
		return nil, errors.New("range wants a:b:n or a:b:log:n")
	}
	parts := strings.Split(spec, ":")
	a, err := strconv.ParseFloat(parts[0], 64)
	if err != nil {
		return nil, fmt.Errorf("range start %s is not a number", quote(parts[0]))
	}
	b, err := strconv.ParseFloat(parts[1], 64)
	if err != nil {
		return nil, fmt.Errorf("range end %s is not a number", quote(parts[1]))
	}
	log := false
	if len(parts) == 4 {
		if parts[2] != "log" {
			return nil, fmt.Errorf("range kind %s: only log is known (a:b:log:n)", quote(parts[2]))
		}
		log = true
	}
	n, err := strconv.Atoi(parts[len(parts)-1])
	if err != nil || n < 1 {
		return nil, fmt.Errorf("count %s is not a positive integer", quote(parts[len(parts)-1]))
	}
	if n > maxPoints {
		return nil, fmt.Errorf("more than %d values", maxPoints)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) || math.IsNaN(a) || math.IsNaN(b) {
		return nil, errors.New("range bounds must be finite")
	}
	if log && (a <= 0 || b <= 0) {
		return nil, errors.New("log range bounds must be more than 0")
	}
	vs := make([]Value, n)
	for i := range n {
		t := 0.0
		if n > 1 {
			t = float64(i) / float64(n-1)
		}
		var f float64
		switch {
		case i == n-1 && n > 1:
			f = b // exactly, whatever the rounding
		case log:
			f = math.Exp(math.Log(a) + t*(math.Log(b)-math.Log(a)))
		default:
			f = a + t*(b-a)
		}
		vs[i] = numValue(f)
	}
	return vs, nil
}

// Grid is the cartesian product of its parameters, the last one varying
// fastest (as nested loops in the order given), or the points its Rows
// list. A zero Grid has no points.
// Its methods only read it, so one Grid may be used from many goroutines
// at once, as long as nobody changes Params meanwhile.
type Grid struct {
	Params []Param
	// Rows, when not nil, are the points instead of the product: each
	// the index of its value in each parameter's Values (ReadPoints).
	Rows [][]int
}

// NewGrid parses specs as ParseParam does; a name given twice is an error.
func NewGrid(specs ...string) (Grid, error) {
	var g Grid
	seen := map[string]bool{}
	for _, s := range specs {
		p, err := ParseParam(s)
		if err != nil {
			return Grid{}, err
		}
		if seen[p.Name] {
			return Grid{}, fmt.Errorf("%w %s: parameter %s given twice", ErrBadParam, quote(s), p.Name)
		}
		seen[p.Name] = true
		g.Params = append(g.Params, p)
	}
	if g.Len() == 0 {
		return Grid{}, ErrEmptyGrid
	}
	if g.Len() > maxPoints {
		return Grid{}, fmt.Errorf("%w: more than %d points", ErrBadParam, maxPoints)
	}
	return g, nil
}

// Len is the number of points: the product of the parameters' lengths, 0
// without parameters.
func (g Grid) Len() int {
	if g.Rows != nil {
		return len(g.Rows)
	}
	if len(g.Params) == 0 {
		return 0
	}
	n := 1
	for _, p := range g.Params {
		n *= len(p.Values)
		if n > maxPoints+1 || n == 0 {
			return min(n, maxPoints+1)
		}
	}
	return n
}

// Point returns point i, 0 <= i < Len().
func (g Grid) Point(i int) Point {
	if g.Rows != nil {
		return Point{Index: i, grid: &g, idx: slices.Clone(g.Rows[i])}
	}
	p := Point{Index: i, grid: &g, idx: make([]int, len(g.Params))}
	for k := len(g.Params) - 1; k >= 0; k-- {
		n := len(g.Params[k].Values)
		p.idx[k] = i % n
		i /= n
	}
	return p
}

// Names returns the parameters' names in order.
func (g Grid) Names() []string {
	names := make([]string, len(g.Params))
	for i, p := range g.Params {
		names[i] = p.Name
	}
	return names
}

// Fingerprint identifies the grid's points and a command: equal when both
// are, so that a resumed run can tell it is the same job.
func (g Grid) Fingerprint(command []string) string {
	h := sha256.New()
	for _, p := range g.Params {
		fmt.Fprintf(h, "%q", p.Name)
		for _, v := range p.Values {
			fmt.Fprintf(h, " %q", v.Text)
		}
		h.Write([]byte{'\n'})
	}
	g.rowsFingerprint(h)
	for _, a := range command {
		fmt.Fprintf(h, "%q ", a)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Point is one point of a grid.
type Point struct {
	Index int
	grid  *Grid
	idx   []int
}

// Get returns the value of the parameter name, and false when there is none.
func (p Point) Get(name string) (Value, bool) {
	for k, par := range p.grid.Params {
		if par.Name == name {
			return par.Values[p.idx[k]], true
		}
	}
	return Value{}, false
}

// Float returns the number of the parameter name, NaN when it is none.
func (p Point) Float(name string) float64 {
	v, ok := p.Get(name)
	if !ok || !v.IsNum {
		return math.NaN()
	}
	return v.Num
}

// Coords returns the point's index along each parameter.
func (p Point) Coords() []int { return append([]int(nil), p.idx...) }

// Params returns the point's parameters in order, as name-value pairs.
func (p Point) Params() Params {
	ps := make(Params, len(p.idx))
	for k, par := range p.grid.Params {
		ps[k] = NamedValue{par.Name, par.Values[p.idx[k]]}
	}
	return ps
}

// NamedValue is a parameter's value at a point.
type NamedValue struct {
	Name  string
	Value Value
}

// Params are a point's parameters in the grid's order; they marshal as a
// JSON object in that order.
type Params []NamedValue

// MarshalJSON writes {"name": value, ...} in order.
func (ps Params) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, nv := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(nv.Name)
		v, _ := nv.Value.MarshalJSON()
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// CheckCommand reports an empty command or a {placeholder} in it that names
// no parameter of g. The placeholders are {name}, {#}, {%} and the escapes
// {{ and }} (see template.go).
func (g Grid) CheckCommand(command []string) error {
	if len(command) == 0 || command[0] == "" {
		return fmt.Errorf("%w: no command given (put it after --)", ErrBadTemplate)
	}
	return g.checkTemplate(command)
}

// Expand returns command with each {name} replaced by the point's value,
// {#} by its index, and {{ and }} by { and }; {%}, the slot's number, is
// left as it is (ExpandSlot fills it in). Each argument stays one
// argument: there is no shell and no splitting.
func (p Point) Expand(command []string) []string {
	out := make([]string, len(command))
	for i, a := range command {
		out[i] = strings.Join(p.expandParts(a), "{%}")
	}
	return out
}

// UnmarshalJSON reads {"name": value, ...} keeping the order.
func (ps *Params) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("gridsearch: params are not an object")
	}
	*ps = (*ps)[:0]
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		v, err := dec.Token()
		if err != nil {
			return err
		}
		var val Value
		switch v := v.(type) {
		case json.Number:
			val = textValue(v.String())
		case string:
			val = Value{Text: v}
		default:
			return fmt.Errorf("gridsearch: param %v is not a number or a string", k)
		}
		*ps = append(*ps, NamedValue{Name: k.(string), Value: val})
	}
	return nil
}
