package gridsearch

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func texts(vs []Value) []string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Text)
	}
	return s
}

func TestParseParam(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []string
		err  string
	}{
		{"p=0.1,1,10", []string{"0.1", "1", "10"}, ""},
		{"m=adam, sgd", []string{"adam", "sgd"}, ""},
		{"t=10:30,11:00", []string{"10:30", "11:00"}, ""},
		{"x=0:1:5", []string{"0", "0.25", "0.5", "0.75", "1"}, ""},
		{"x=1:0:3", []string{"1", "0.5", "0"}, ""},
		{"x=0:3:16", nil, ""},
		{"x=2:2:1", []string{"2"}, ""},
		{"q=1e-6:1e5:log:12", []string{"1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "10", "100", "1000", "10000", "100000"}, ""},
		{"q=1:100:log:3", []string{"1", "10", "100"}, ""},
		{"n=1..5", []string{"1", "2", "3", "4", "5"}, ""},
		{"n=-2..2..2", []string{"-2", "0", "2"}, ""},
		{"n=0..9..4", []string{"0", "4", "8"}, ""},
		{"s=seven", []string{"seven"}, ""},
		{"s=42", []string{"42"}, ""},
		{"_a1=1", []string{"1"}, ""},

		{"p", nil, "want name=values"},
		{"=1,2", nil, "want name=values"},
		{"1p=1", nil, "want name=values"},
		{"p=", nil, "no values"},
		{"p=1,,2", nil, "empty item"},
		{"p=1:2", nil, "a:b:n"},
		{"p=1:2:3:4:5", nil, "a:b:n"},
		{"p=a:2:3", nil, "start"},
		{"p=1:b:3", nil, "end"},
		{"p=1:2:0", nil, "positive integer"},
		{"p=1:2:x", nil, "positive integer"},
		{"p=1:2:lin:3", nil, "only log"},
		{"p=0:1:log:3", nil, "more than 0"},
		{"p=5..1", nil, "empty range"},
		{"p=1..5..0", nil, "step"},
		{"p=1.5..3", nil, "integer range"},
		{"p=0..100000000", nil, "more than"},
		{"p=0:1:100000000", nil, "more than"},
		{"p=inf:1:3", nil, "finite"},
	} {
		p, err := ParseParam(tc.spec)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrBadParam) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want one with %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if tc.want != nil && !reflect.DeepEqual(texts(p.Values), tc.want) {
			t.Errorf("%q: %v, want %v", tc.spec, texts(p.Values), tc.want)
		}
	}
}

func TestGridProduct(t *testing.T) {
	g, err := NewGrid("a=1,2", "b=x,y,z")
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 6 {
		t.Fatalf("Len %d", g.Len())
	}
	var got []string
	for i := range g.Len() {
		pt := g.Point(i)
		got = append(got, strings.Join(pt.Expand([]string{"{a}{b}"}), ""))
	}
	if want := []string{"1x", "1y", "1z", "2x", "2y", "2z"}; !reflect.DeepEqual(got, want) {
		t.Errorf("points %v, want %v", got, want)
	}
	pt := g.Point(4)
	if pt.Float("a") != 2 || pt.Coords()[1] != 1 {
		t.Errorf("point 4: a=%v coords %v", pt.Float("a"), pt.Coords())
	}
	b, _ := pt.Params().MarshalJSON()
	if string(b) != `{"a":2,"b":"y"}` {
		t.Errorf("params JSON %s", b)
	}
	var back Params
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if b2, _ := back.MarshalJSON(); string(b2) != string(b) {
		t.Errorf("round trip %s, want %s", b2, b)
	}

	if _, err := NewGrid("a=1", "a=2"); err == nil {
		t.Error("a parameter given twice is accepted")
	}
	if _, err := NewGrid(); !errors.Is(err, ErrEmptyGrid) {
		t.Errorf("no parameters: %v", err)
	}
	if _, err := NewGrid("a=0..9999", "b=0..9999"); err == nil {
		t.Error("a grid of 1e8 points is accepted")
	}
	if g.Fingerprint([]string{"x"}) == g.Fingerprint([]string{"y"}) {
		t.Error("fingerprint ignores the command")
	}
	g2, _ := NewGrid("a=1,2", "b=x,y,w")
	if g.Fingerprint(nil) == g2.Fingerprint(nil) {
		t.Error("fingerprint ignores the values")
	}
}

func TestCheckCommand(t *testing.T) {
	g, _ := NewGrid("p=1,2", "q=3")
	for _, tc := range []struct {
		cmd []string
		ok  bool
	}{
		{[]string{"./think", "{p}", "--q={q}"}, true},
		{[]string{"echo", "{p}{q}", "{ not a placeholder }", "{}"}, true},
		{[]string{"echo", "{r}"}, false},
		{nil, false},
		{[]string{""}, false},
	} {
		err := g.CheckCommand(tc.cmd)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.cmd, err)
		}
	}
	got := g.Point(1).Expand([]string{"x", "{p} and {q}", "{zz}"})
	if want := []string{"x", "2 and 3", "{zz}"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Expand %q, want %q", got, want)
	}
}

func TestField(t *testing.T) {
	for _, tc := range []struct {
		res, path string
		want      float64
		ok        bool
	}{
		{`{"v":1.5}`, "v", 1.5, true},
		{`{"a":{"b":-2}}`, "a.b", -2, true},
		{`3`, ".", 3, true},
		{`3`, "", 3, true},
		{`{"v":"7"}`, "v", 7, true},
		{`{"v":"x"}`, "v", 0, false},
		{`{"v":1}`, "w", 0, false},
		{``, "v", 0, false},
		{`[1]`, "v", 0, false},
	} {
		v, ok := Field([]byte(tc.res), tc.path)
		if ok != tc.ok || v != tc.want {
			t.Errorf("Field(%s, %q) = %v %v", tc.res, tc.path, v, ok)
		}
	}
}

// A JSON Lines points file's objects may give their keys in any order (an
// object has none): the values go to the first line's columns. Another set
// of keys is refused with its line.
func TestReadPointsKeyOrder(t *testing.T) {
	g, err := ReadPoints(strings.NewReader(`{"p": 1, "q": "a"}` + "\n" + `{"q": "b", "p": 2}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Names(); !reflect.DeepEqual(got, []string{"p", "q"}) {
		t.Errorf("names %q, want p, q", got)
	}
	for i, want := range []string{`{"p":1,"q":"a"}`, `{"p":2,"q":"b"}`} {
		if b, _ := g.Point(i).Params().MarshalJSON(); string(b) != want {
			t.Errorf("point %d: %s, want %s", i, b, want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{`{"p": 1, "q": 2}` + "\n" + `{"q": 3}` + "\n", "line 2: keys q, want those of the first line: p,q"},
		{`{"p": 1, "q": 2}` + "\n" + `{"q": 3, "r": 4}` + "\n", "line 2: keys q,r, want those of the first line: p,q"},
		{`{"p": 1, "q": 2}` + "\n" + `{"q": 3, "q": 4}` + "\n", "line 2: keys q,q, want those of the first line: p,q"},
		{`{"p": 1, "q": 2}` + "\n" + `{"q": 3, "p": 4, "r": 5}` + "\n", "line 2: keys q,p,r"},
	} {
		_, err := ReadPoints(strings.NewReader(tc.text))
		if !errors.Is(err, ErrBadPoints) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want ErrBadPoints and %q", tc.text, err, tc.want)
		}
	}
}

// An error quotes at most maxQuoted bytes of a spec, however long: a
// hostile spec costs a message of bounded size.
func TestParseParamErrorCut(t *testing.T) {
	for _, s := range []string{
		"A=" + strings.Repeat("\xd4", 10000) + "::",
		strings.Repeat("\xd4", 10000) + "=1",
		"A=" + strings.Repeat("9", 10000) + "..1",
		"A=" + strings.Repeat("1:", 10000),
	} {
		_, err := ParseParam(s)
		if !errors.Is(err, ErrBadParam) || len(err.Error()) > 1200 || !strings.Contains(err.Error(), `..."`) && !strings.Contains(err.Error(), `"...`) {
			t.Errorf("ParseParam(%.20q...): %d bytes of error: %.300v", s, len(err.Error()), err)
		}
	}
}
