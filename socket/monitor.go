package socket

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// EventKind says what happened on a connection, as libzmq's socket monitor.
type EventKind int

// The monitor events.
const (
	EventListening       EventKind = iota + 1 // a Bind is listening
	EventBindFailed                           // a Bind failed
	EventAccepted                             // a peer connected to a bound endpoint
	EventConnected                            // a Connect reached its peer (before the handshake)
	EventConnectRetried                       // a dial failed; the next is scheduled
	EventHandshakeOK                          // the ZMTP handshake finished; messages flow
	EventHandshakeFailed                      // the handshake failed; the connection is closed
	EventDisconnected                         // an established connection ended
	EventDropped                              // a message was dropped (Err says why)
	EventClosed                               // a listener or dialer ended (Unbind, Disconnect, Close; or a Connect whose credentials were refused, with Err)
)

var eventNames = [...]string{
	EventListening: "listening", EventBindFailed: "bind-failed", EventAccepted: "accepted",
	EventConnected: "connected", EventConnectRetried: "connect-retried",
	EventHandshakeOK: "handshake-ok", EventHandshakeFailed: "handshake-failed",
	EventDisconnected: "disconnected", EventDropped: "dropped", EventClosed: "closed",
}

func (k EventKind) String() string {
	if k < EventListening || k > EventClosed {
		return fmt.Sprintf("EventKind(%d)", int(k))
	}
	return eventNames[k]
}

// Event is one monitor event.
type Event struct {
	Kind     EventKind
	Endpoint string // the endpoint bound or connected, as given (resolved for binds)
	Remote   string // the peer's address, where there is one
	Err      error  // why, for failures, disconnects and drops
}

func (e Event) String() string {
	s := e.Kind.String() + " " + e.Endpoint
	if e.Remote != "" {
		s += " from " + e.Remote
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// monitor fans events to the channel returned by Socket.Monitor. Emitting
// never blocks a connection: an event that finds the channel full is counted
// in Socket.Stats().EventsDropped instead.
type monitor struct {
	mu      sync.RWMutex // emit holds it shared, so close cannot race a send
	ch      chan Event
	done    bool
	dropped atomic.Uint64
}

// open returns the event channel, making it on first use.
func (m *monitor) open() <-chan Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ch == nil {
		m.ch = make(chan Event, 256)
		if m.done {
			close(m.ch)
		}
	}
	return m.ch
}

func (m *monitor) emit(e Event) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ch == nil || m.done {
		return
	}
	select {
	case m.ch <- e:
	default:
		m.dropped.Add(1)
	}
}

// close ends the event stream; later events are discarded.
func (m *monitor) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.done && m.ch != nil {
		close(m.ch)
	}
	m.done = true
}
