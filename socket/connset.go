package socket

import (
	"net"
	"sync"
	"time"
)

// connSet is the connections of a binding or dialing, handshaking or
// established, so that stopping can drain or close every one of them.
type connSet struct {
	mu      sync.Mutex
	raw     map[net.Conn]struct{} // handshaking
	conns   map[*conn]struct{}    // established
	stopped bool
	empty   chan struct{} // closed once stopped and nothing is left
}

// addRaw registers a connection before its handshake; false once stopped.
func (cs *connSet) addRaw(nc net.Conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.stopped {
		return false
	}
	if cs.raw == nil {
		cs.raw = make(map[net.Conn]struct{})
		cs.conns = make(map[*conn]struct{})
	}
	cs.raw[nc] = struct{}{}
	return true
}

// promote moves a connection that finished its handshake to the established
// set; false once stopped (the caller closes it).
func (cs *connSet) promote(c *conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.stopped {
		return false
	}
	delete(cs.raw, c.nc)
	cs.conns[c] = struct{}{}
	return true
}

// remove forgets a connection (raw or established) once it is closed.
func (cs *connSet) remove(nc net.Conn, c *conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.raw, nc)
	delete(cs.conns, c)
	cs.signalLocked()
}

func (cs *connSet) signalLocked() {
	if cs.stopped && len(cs.raw) == 0 && len(cs.conns) == 0 && cs.empty != nil {
		close(cs.empty)
		cs.empty = nil
	}
}

// stopAll closes the handshaking connections, asks every established one to
// drain for up to linger, then ends the ones still running. It returns once
// all have been removed.
func (cs *connSet) stopAll(linger time.Duration) {
	cs.mu.Lock()
	cs.stopped = true
	empty := make(chan struct{})
	cs.empty = empty
	for nc := range cs.raw {
		nc.Close()
	}
	conns := make([]*conn, 0, len(cs.conns))
	for c := range cs.conns {
		conns = append(conns, c)
	}
	cs.signalLocked()
	cs.mu.Unlock()
	if linger != 0 {
		for _, c := range conns {
			c.lingerFor(linger)
		}
		var timeout <-chan time.Time
		if linger > 0 {
			t := time.NewTimer(linger)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-empty:
			return
		case <-timeout:
		}
	}
	for _, c := range conns {
		c.close()
	}
	<-empty
}
