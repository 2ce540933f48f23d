package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// Refused connections from as many hosts as a peer cares to use (an IPv6
// host has millions of addresses) cost the master a bounded number of
// lines on stderr, and a bounded table of what it told.
func TestRefusedWorkersBounded(t *testing.T) {
	var lines []string
	say := refusedWorkers(true, func(s string) { lines = append(lines, s) })
	const hosts = 10 * maxRefusedHosts
	for i := range hosts {
		say(fmt.Sprintf("[2001:db8::%x]:5555", i), socket.ErrAuth)
	}
	if len(lines) != maxRefusedHosts+1 {
		t.Fatalf("%d hosts refused: %d lines on stderr, want %d and one saying no more are told of", hosts, len(lines), maxRefusedHosts+1)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "no more are told of") {
		t.Fatalf("last line %q", last)
	}
	// A host told of already is not told of again.
	say("[2001:db8::0]:6000", socket.ErrAuth)
	if len(lines) != maxRefusedHosts+1 {
		t.Fatalf("a host told of again: %q", lines[len(lines)-1])
	}
}
