package socket_test

import (
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// A message from a peer can be huge; its text for logs stays short.
func TestMsgStringBounded(t *testing.T) {
	if got := socket.NewMsgString("a", "", "b\n").String(); got != `["a" | "" | "b\n"]` {
		t.Errorf("got %s", got)
	}
	big := socket.NewMsg(make([]byte, 1<<20))
	if got := big.String(); len(got) > 400 || !strings.Contains(got, "(1048576 bytes)") {
		t.Errorf("a 1 MiB frame prints as %d bytes: %.100s", len(got), got)
	}
	many := make(socket.Msg, 100000)
	if got := many.String(); len(got) > 400 || !strings.Contains(got, "99984 more frames") {
		t.Errorf("100,000 frames print as %d bytes: %.100s", len(got), got)
	}
}
