package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

func TestParseDelim(t *testing.T) {
	good := map[string]string{
		`\t`:     "\t",
		"\t":     "\t",
		`|`:      "|",
		`\|`:     "|",
		`::`:     "::",
		`\\`:     `\`,
		`\x1f`:   "\x1f",
		`\0`:     "\x00",
		`a\tb`:   "a\tb",
		`\r`:     "\r",
		`, `:     ", ",
		`\,\x7C`: ",|",
	}
	for in, want := range good {
		got, err := parseDelim(in)
		if err != nil || string(got) != want {
			t.Errorf("parseDelim(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", `\`, `a\`, `\q`, `\n`, "\n", "a\nb", `\x`, `\x1`, `\xzz`, `\1`} {
		if got, err := parseDelim(in); err == nil {
			t.Errorf("parseDelim(%q) = %q, want an error", in, got)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("parseDelim(%q): error has a newline: %q", in, err)
		}
	}
}

func TestSplitJoin(t *testing.T) {
	cases := []struct {
		line  string
		delim string
		want  []string
	}{
		{"a", "\t", []string{"a"}},
		{"", "\t", []string{""}},
		{"a\tb\tc", "\t", []string{"a", "b", "c"}},
		{"a\t\tc", "\t", []string{"a", "", "c"}},
		{"\t", "\t", []string{"", ""}},
		{"id||body", "|", []string{"id", "", "body"}},
		{"x::y::", "::", []string{"x", "y", ""}},
	}
	for _, c := range cases {
		m := splitFrames([]byte(c.line), []byte(c.delim))
		if !reflect.DeepEqual(m.Strings(), c.want) {
			t.Errorf("split %q on %q = %v, want %q", c.line, c.delim, m, c.want)
		}
		if got := string(joinFrames(nil, m, []byte(c.delim))); got != c.line+"\n" {
			t.Errorf("join(split(%q)) = %q", c.line, got)
		}
	}
	if got := string(joinFrames([]byte("old"), socket.NewMsgString("a", "b"), []byte(", "))); got != "olda, b\n" {
		t.Errorf("join appends: %q", got)
	}
}

// An error shows at most maxShown bytes of a -d value, and never cuts a
// character in two: the value may be any length.
func TestShowCuts(t *testing.T) {
	for _, tc := range []struct{ s, want string }{
		{"a|b", "'a|b'"},
		{"\t", `"\t"`},
		{strings.Repeat("a", 100), "'" + strings.Repeat("a", 64) + "'... (100 bytes)"},
		{strings.Repeat("a", 63) + "é" + strings.Repeat("a", 30), "'" + strings.Repeat("a", 63) + "'... (95 bytes)"},
		{strings.Repeat("\x14", 4000) + "\n", `"` + strings.Repeat(`\x14`, 64) + `"... (4001 bytes)`},
	} {
		if got := show(tc.s); got != tc.want {
			t.Errorf("show(%.20q...) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
