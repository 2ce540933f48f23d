package telemetry

import (
	"strings"
	"testing"
)

// The environment variable and /proc/self/statm are read from outside the
// program: whatever they hold, parsing neither panics nor accepts junk.

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"tcp://localhost:5580", "ipc:///tmp/x", "inproc://p", "tcp://", "localhost:5580", "tcp://a b", "\x00://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := parseEndpoint(s); err == nil {
			scheme, addr, ok := strings.Cut(s, "://")
			if !ok || addr == "" || (scheme != "tcp" && scheme != "ipc" && scheme != "inproc") || strings.ContainsAny(s, " \t\r\n\x00") {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func FuzzParseStatm(f *testing.F) {
	for _, s := range []string{"100 25 3 4 0 5 0\n", "1 2", "", "1 -2", "1 99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > statmMax {
			b = b[:statmMax] // residentBytes reads no more
		}
		if n, ok := parseStatm(b); ok && n < 0 {
			t.Fatalf("%q: %d pages", b, n)
		}
	})
}
