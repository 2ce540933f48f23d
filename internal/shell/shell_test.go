package shell

import (
	"os/exec"
	"testing"
)

// Each word comes back whole from sh, whatever it holds.
func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tcp://127.0.0.1:5599", "tcp://127.0.0.1:5599"},
		{"tcp://*:5599", "'tcp://*:5599'"},
		{"", "''"},
		{"ipc:///tmp/a b", "'ipc:///tmp/a b'"},
		{"it's", `'it'\''s'`},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(tc.in)).Output()
		if err != nil || string(out) != tc.in {
			t.Errorf("sh read %s as %q (%v), want %q", Quote(tc.in), out, err, tc.in)
		}
	}
}
