package run

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// An endpoint that cannot be bound is named in the error, as asked for
// (with a leading '@' or not): Bind's own error may not name it, as for an
// address in use.
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
		if want := "ROUTER " + ep + ": "; !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("Open(%s): %q; want %q... wrapping EADDRINUSE", asked, err, want)
		}
	}
	// A connect that fails at once names its endpoint too.
	if s2, _, err := Open(socket.Dealer, ">nowhere", nil); err == nil {
		s2.Close()
		t.Fatal("connected to nowhere")
	} else if !strings.HasPrefix(err.Error(), "DEALER nowhere: ") {
		t.Errorf("Open(>nowhere): %q", err)
	}
}
