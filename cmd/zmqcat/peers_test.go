package main

import (
	"errors"
	"net"
	"reflect"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// TestConnectCauses: a connect failure is reported the first time, and when
// its cause changes, not at every retry; the end of an established
// connection is not one.
func TestConnectCauses(t *testing.T) {
	const ep = "tcp://example.invalid:1"
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	lookup := func(server string) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "example.invalid", Server: server, IsNotFound: true}}
	}
	p := &peers{eps: map[string]*endpointState{}, changed: make(chan struct{})}
	retried := func(err error) socket.Event {
		return socket.Event{Kind: socket.EventConnectRetried, Endpoint: ep, Err: err}
	}
	for i, c := range []struct {
		ev   socket.Event
		want bool
	}{
		{retried(refused), true},
		{retried(refused), false},
		{retried(lookup("10.0.0.1:53")), true},
		{retried(lookup("10.0.0.2:53")), false}, // another DNS server, the same answer
		{retried(refused), true},
		{socket.Event{Kind: socket.EventHandshakeOK, Endpoint: ep}, false},
		{socket.Event{Kind: socket.EventDisconnected, Endpoint: ep, Err: errors.New("EOF")}, false},
		{retried(errors.New("EOF")), false}, // the disconnect's own retry
		{retried(refused), false},           // the cause last reported
	} {
		if got := p.note(c.ev); got != c.want {
			t.Errorf("event %d (%v): reported %v, want %v", i, c.ev, got, c.want)
		}
	}
	if got, want := p.down([]string{ep, "tcp://other:1"}), []string{ep + " disconnected", "tcp://other:1 never connected"}; !reflect.DeepEqual(got, want) {
		t.Errorf("down %q, want %q", got, want)
	}
	// Shutdown's own disconnects do not make an endpoint down.
	p.note(socket.Event{Kind: socket.EventHandshakeOK, Endpoint: ep})
	p.shuttingDown()
	p.note(socket.Event{Kind: socket.EventDisconnected, Endpoint: ep})
	if got := p.down([]string{ep}); len(got) > 0 {
		t.Errorf("down %q after shutdown's disconnect, want none", got)
	}
}
