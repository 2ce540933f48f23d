package run

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// An endpoint that cannot be bound is named in the error, once: by Bind's
// own error when it does (an address in use), or as asked for (with a
// leading '@' or not).
func TestOpenErrorNamesEndpoint(t *testing.T) {
	s, ep, err := Open(socket.Router, "tcp://127.0.0.1:*", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, asked := range []string{ep, "@" + ep} {
		s2, got, err := Open(socket.Router, asked, nil)
		if err == nil {
			s2.Close()
			t.Fatalf("Open(%s) bound %s twice", asked, got)
		}
		if want := "ROUTER: socket: address already in use: " + ep; err.Error() != want || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("Open(%s): %q; want %q wrapping EADDRINUSE", asked, err, want)
		}
	}
	// A connect that fails at once names its endpoint too.
	if s2, _, err := Open(socket.Dealer, ">nowhere", nil); err == nil {
		s2.Close()
		t.Fatal("connected to nowhere")
	} else if !strings.HasPrefix(err.Error(), "DEALER") || strings.Count(err.Error(), "nowhere") != 1 {
		t.Errorf("Open(>nowhere): %q, want it from the DEALER, naming the endpoint once", err)
	}
}
