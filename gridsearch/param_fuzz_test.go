package gridsearch

// FuzzParseParam feeds arbitrary -param specs (user input) to ParseParam,
// and lines of them to NewGrid. A bad spec is an error wrapping ErrBadParam
// (NewGrid: or ErrEmptyGrid), never a panic or a hang; a good one has the
// name, 1 to maxPoints values, as many as its range says (counted here on
// big integers), each value's number matching its text; written back as a
// list of its values' texts it parses to the same values; and parsing
// allocates no more than a bound in the spec's length and the values made.
//
//	go test -run '^$' -fuzz FuzzParseParam -fuzztime 60s ./gridsearch
//
// The seed corpus is in testdata/fuzz/FuzzParseParam; an input is one spec
// a line.

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// fuzzMaxValues is the most values a spec may make here: more are valid up
// to maxPoints, but take the fuzzer's time (a range of maxPoints values is
// half a second and a few hundred MB); such specs are skipped, and specs
// of more than maxPoints values are run, for the error they must give.
const fuzzMaxValues = 10_000

func FuzzParseParam(f *testing.F) {
	for _, s := range []string{"p=0.1,1,10", "q=1e-6:1e5:log:12", "n=1..5", "n=-2..2..2", "s=seven", "t=10:30,11:00\nx=0:1:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		specs := strings.Split(input, "\n")
		for _, s := range specs {
			if n, ok := rangeSize(s); ok && n.Cmp(big.NewInt(fuzzMaxValues)) > 0 && n.Cmp(big.NewInt(maxPoints)) <= 0 {
				return
			}
		}
		for _, s := range specs {
			checkParseParam(t, s)
		}
		checkNewGrid(t, specs)
	})
}

// rangeSize is how many values a range spec makes, on big integers (the
// arithmetic ParseParam does in 64 bits), and false when s is not a range
// that parses so far.
func rangeSize(s string) (*big.Int, bool) {
	_, spec, _ := strings.Cut(s, "=")
	if strings.Contains(spec, ",") {
		return nil, false
	}
	if m := intRange.FindStringSubmatch(spec); m != nil {
		a, _ := new(big.Int).SetString(m[1], 10)
		b, _ := new(big.Int).SetString(m[2], 10)
		step := big.NewInt(1)
		if m[3] != "" {
			step, _ = new(big.Int).SetString(m[3], 10)
		}
		if step.Sign() <= 0 || b.Cmp(a) < 0 {
			return nil, false
		}
		n := new(big.Int).Sub(b, a)
		n.Quo(n, step)
		return n.Add(n, big.NewInt(1)), true
	}
	parts := strings.Split(spec, ":")
	if len(parts) != 3 && len(parts) != 4 {
		return nil, false
	}
	n, err := strconv.Atoi(parts[len(parts)-1])
	return big.NewInt(int64(n)), err == nil
}

// int64s says whether every integer of an integer range spec fits an int64:
// ParseParam refuses one that does not.
func int64s(m []string) bool {
	for _, x := range m[1:] {
		if _, err := strconv.ParseInt(x, 10, 64); x != "" && err != nil {
			return false
		}
	}
	return true
}

func checkParseParam(t *testing.T, s string) {
	p, err := ParseParam(s)
	checkParamAlloc(t, s, len(p.Values))
	name, spec, _ := strings.Cut(s, "=")
	if err != nil {
		if !errors.Is(err, ErrBadParam) {
			t.Fatalf("ParseParam(%q): error %v does not wrap ErrBadParam", s, err)
		}
		// An integer range of at most maxPoints values is good.
		m := intRange.FindStringSubmatch(spec)
		if n, ok := rangeSize(s); ok && m != nil && int64s(m) && nameRE.MatchString(strings.TrimSpace(name)) &&
			n.Cmp(big.NewInt(maxPoints)) <= 0 {
			t.Fatalf("ParseParam(%q) refused a range of %v values: %v", s, n, err)
		}
		return
	}
	if p.Name != strings.TrimSpace(name) || !nameRE.MatchString(p.Name) || p.Spec != spec {
		t.Fatalf("ParseParam(%q) = name %q, spec %q", s, p.Name, p.Spec)
	}
	if len(p.Values) < 1 || len(p.Values) > maxPoints {
		t.Fatalf("ParseParam(%q) made %d values", s, len(p.Values))
	}
	if n, ok := rangeSize(s); ok && n.Cmp(big.NewInt(int64(len(p.Values)))) != 0 {
		t.Fatalf("ParseParam(%q) made %d values, want %v", s, len(p.Values), n)
	}
	if m := intRange.FindStringSubmatch(spec); m != nil && !strings.Contains(spec, ",") {
		a, _ := strconv.ParseInt(m[1], 10, 64)
		b, _ := strconv.ParseInt(m[2], 10, 64)
		step := int64(1)
		if m[3] != "" {
			step, _ = strconv.ParseInt(m[3], 10, 64)
		}
		for k, v := range p.Values {
			// a + k*step, without overflow: it is between a and b.
			want := new(big.Int).Add(big.NewInt(a), new(big.Int).Mul(big.NewInt(int64(k)), big.NewInt(step)))
			if v.Text != want.String() || want.Cmp(big.NewInt(b)) > 0 {
				t.Fatalf("ParseParam(%q): value %d is %q, want %v (at most %d)", s, k, v.Text, want, b)
			}
		}
	}
	for _, v := range p.Values {
		checkValue(t, s, v)
	}
	// Written back as a list of its texts (one text alone, as it is), the
	// spec parses to the same values.
	var texts []string
	for _, v := range p.Values {
		texts = append(texts, v.Text)
	}
	back := p.Name + "=" + strings.Join(texts, ",")
	q, err := ParseParam(back)
	if err != nil || len(q.Values) != len(p.Values) {
		t.Fatalf("ParseParam(%q) made %d values, written back as %q: %d, %v", s, len(p.Values), back, len(q.Values), err)
	}
	for i, v := range q.Values {
		if w := p.Values[i]; v.Text != w.Text || v.IsNum != w.IsNum || v.IsNum && !sameNum(v.Num, w.Num) {
			t.Fatalf("ParseParam(%q) value %d is %+v, written back as %q: %+v", s, i, w, back, v)
		}
	}
}

// checkParamAlloc checks what ParseParam(s) allocates when it makes n
// values. Each value costs its Value (32 bytes), in a slice that append
// grows by 1.25x once large (the copies add up to 5x its size), its text (a
// number formatted, 24 bytes; twice for a:b:n) and its share of a list's
// split (16 bytes): 256 bytes covers it. Per byte of the spec: the
// regexps' backtracking state (2.6 bytes measured) and strconv's errors,
// which copy the text they refuse; 8 bytes. An error quotes at most
// maxQuoted bytes of the spec, however long (%q writes up to 4 bytes a
// byte, and a spec's part was quoted again in the spec's error: 45x was
// measured before the cut), which the constant covers.
func checkParamAlloc(t *testing.T, s string, values int) {
	fuzzcheck.CheckAlloc(t, fmt.Sprintf("ParseParam(%q), for %d values,", s, values), 8*uint64(len(s))+256*uint64(values)+8192,
		func() { ParseParam(s) })
}

// checkValue checks that a value's number is its text's, when it has one.
func checkValue(t *testing.T, s string, v Value) {
	if v.Text == "" || v.Text != strings.TrimSpace(v.Text) {
		t.Fatalf("ParseParam(%q): value text %q", s, v.Text)
	}
	f, err := strconv.ParseFloat(v.Text, 64)
	if v.IsNum != (err == nil) || v.IsNum && !sameNum(f, v.Num) {
		t.Fatalf("ParseParam(%q): value %+v, but its text reads as %v, %v", s, v, f, err)
	}
}

func sameNum(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// checkNewGrid parses the specs into a grid: its size is the product of its
// parameters' (or it is refused), and its points are theirs.
func checkNewGrid(t *testing.T, specs []string) {
	g, err := NewGrid(specs...)
	if err != nil {
		if !errors.Is(err, ErrBadParam) && !errors.Is(err, ErrEmptyGrid) {
			t.Fatalf("NewGrid(%q): error %v wraps neither ErrBadParam nor ErrEmptyGrid", specs, err)
		}
		return
	}
	size := big.NewInt(1)
	seen := map[string]bool{}
	for i, p := range g.Params {
		if seen[p.Name] || p.Spec != strings.SplitN(specs[i], "=", 2)[1] {
			t.Fatalf("NewGrid(%q): parameter %d is %q %q", specs, i, p.Name, p.Spec)
		}
		seen[p.Name] = true
		size.Mul(size, big.NewInt(int64(len(p.Values))))
	}
	if size.Cmp(big.NewInt(int64(g.Len()))) != 0 || g.Len() > maxPoints {
		t.Fatalf("NewGrid(%q): Len %d, product %v", specs, g.Len(), size)
	}
	last := g.Point(g.Len() - 1).Params()
	for i, nv := range last {
		p := g.Params[i]
		if nv.Name != p.Name || nv.Value != p.Values[len(p.Values)-1] && !math.IsNaN(nv.Value.Num) {
			t.Fatalf("NewGrid(%q): last point %v", specs, last)
		}
	}
	if g.Fingerprint([]string{"cmd"}) != g.Fingerprint([]string{"cmd"}) {
		t.Fatalf("NewGrid(%q): fingerprint changes", specs)
	}
}
