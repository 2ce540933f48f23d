package ppp

import (
	"strings"
	"testing"
)

func frames(s ...string) [][]byte {
	m := make([][]byte, len(s))
	for i, f := range s {
		m[i] = []byte(f)
	}
	return m
}

// Parse tells commands from requests and replies, and a request's address
// stack from its body; what is neither is an error saying why.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		m         [][]byte
		cmd       string
		env, body int
		err       string
	}{
		{m: frames(Ready), cmd: Ready},
		{m: frames(Heartbeat), cmd: Heartbeat},
		{m: frames("\x03"), err: "neither READY nor HEARTBEAT"},
		{m: frames(strings.Repeat("x", 100)), err: "(100 bytes)"},
		{m: frames("client", "id", "", "a", "b"), env: 3, body: 2},
		{m: frames("client", "", ""), env: 2, body: 1},
		{m: frames("", "body"), err: "without an address stack"},
		{m: frames("a", "b"), err: "without an address stack"},
		{m: nil, err: "without an address stack"},
	} {
		p, err := Parse(tc.m)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %+v, %v; want an error with %q", tc.m, p, err, tc.err)
			}
		case err != nil || p.Cmd != tc.cmd || len(p.Env) != tc.env || len(p.Body) != tc.body:
			t.Errorf("Parse(%q) = %+v, %v", tc.m, p, err)
		}
	}
	if EnvelopeKey(frames("ab", "c")) == EnvelopeKey(frames("a", "bc")) {
		t.Error("two address stacks share a key")
	}
}
