package main

import (
	"os/exec"
	"strings"
	"testing"
)

// parseHalt reads GNU parallel's forms and today's plain count, and
// refuses the rest.
func TestParseHalt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want haltRule
		err  string
	}{
		{"", haltRule{}, ""},
		{"0", haltRule{}, ""},
		{"3", haltRule{fails: 3}, ""},
		{"soon,fail=3", haltRule{fails: 3}, ""},
		{"fail=3", haltRule{fails: 3}, ""},
		{"now,fail=1", haltRule{now: true, fails: 1}, ""},
		{"fail=10%", haltRule{percent: 10}, ""},
		{"now,fail=2.5%", haltRule{now: true, percent: 2.5}, ""},
		{"-1", haltRule{}, "must not be negative"},
		{"later,fail=1", haltRule{}, "want N, fail=N"},
		{"now,success=1", haltRule{}, "want N, fail=N"},
		{"fail=0", haltRule{}, "at least 1"},
		{"fail=101%", haltRule{}, "at most 100"},
		{"fail=x%", haltRule{}, "at most 100"},
	} {
		got, err := parseHalt(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.err)
		}
	}
}

// shellJoin's line gives the arguments back through a real shell.
func TestShellJoin(t *testing.T) {
	args := []string{"plain", "a b", "it's", `"q"`, "$HOME", "`x`", "", "{%}", "--p=1", "*", "new\nline", "back\\slash"}
	out, err := exec.Command("sh", "-c", "printf '%s\\0' "+shellJoin(args)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if strings.Join(got, "|") != strings.Join(args, "|") {
		t.Errorf("through sh: %q, want %q", got, args)
	}
}
