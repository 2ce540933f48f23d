package gridsearch

// FuzzReadPoints feeds arbitrary points files (a user's file, hostile
// input) to ReadPoints. A bad file is an error wrapping ErrBadPoints,
// never a panic; a good one is 1 to MaxPointsRows distinct points, each
// with a non-empty value of each parameter; written back as JSON Lines it
// reads as the same points; and reading allocates no more than a bound in
// the file's size.
//
//	go test -run '^$' -fuzz FuzzReadPoints -fuzztime 60s ./gridsearch
//
// The seed corpus is in testdata/fuzz/FuzzReadPoints.

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// Allocation bound of ReadPoints: a copy of the file, and for each row
// (2 bytes at least) its strings, indexes and map entries.
const (
	pointsAllocPerByte = 256
	pointsAllocFixed   = 64 << 10
)

func FuzzReadPoints(f *testing.F) {
	for _, s := range []string{
		"p,q\n1,a\n2,b\n", `{"p": 1, "q": "a"}` + "\n" + `{"p": 2, "q": "b"}` + "\n",
		`{"p": 1, "q": "a"}` + "\n" + `{"q": "b", "p": 2}` + "\n", `{"p": 1, "q": "a"}` + "\n" + `{"p": 2, "p": 3}` + "\n",
		"p\n1\n1\n", "\ufeffp, q\n\"1,5\",x\n", `{"p": {"x": 1}}`, "p,q\n1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var g Grid
		var err error
		fuzzcheck.CheckAlloc(t, "ReadPoints", pointsAllocPerByte*uint64(len(data))+pointsAllocFixed, func() {
			g, err = ReadPoints(bytes.NewReader(data))
		})
		if err != nil {
			if !errors.Is(err, ErrBadPoints) {
				t.Fatalf("error %v does not wrap ErrBadPoints", err)
			}
			return
		}
		n := g.Len()
		if n < 1 || n > MaxPointsRows || len(g.Params) == 0 {
			t.Fatalf("%d points of %d parameters", n, len(g.Params))
		}
		// Points written back as JSON: numbers may be written otherwise
		// (1.0 as 1), strings with bad UTF-8 mended.
		var back bytes.Buffer
		seen := map[string]bool{}
		for i := range n {
			ps := g.Point(i).Params()
			for _, nv := range ps {
				if strings.TrimSpace(nv.Value.Text) == "" {
					t.Fatalf("point %d: %s is empty", i, nv.Name)
				}
			}
			b, _ := ps.MarshalJSON()
			if seen[string(b)] {
				// Two texts of one number (1 and 1.0) are two points,
				// but one written back.
				return
			}
			seen[string(b)] = true
			back.Write(append(b, '\n'))
		}
		g2, err := ReadPoints(&back)
		if err != nil || g2.Len() != n {
			t.Fatalf("written back: %v, %d points, want %d\n%s", err, g2.Len(), n, back.String())
		}
		for i := range n {
			a, b := g.Point(i).Params(), g2.Point(i).Params()
			if !slices.EqualFunc(a, b, sameValue) {
				t.Fatalf("point %d written back reads %v, want %v", i, b, a)
			}
		}
	})
}

// sameValue reports whether b is a read back as JSON: the same name, the
// same number, or the same text as JSON keeps it.
func sameValue(a, b NamedValue) bool {
	if a.Name != b.Name {
		return false
	}
	if a.Value.IsNum {
		return b.Value.IsNum && (a.Value.Num == b.Value.Num || math.IsNaN(a.Value.Num) && math.IsNaN(b.Value.Num))
	}
	return fuzzcheck.JSONText(a.Value.Text) == b.Value.Text
}
