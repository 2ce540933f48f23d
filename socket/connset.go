package socket

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
)

// connSet is the connections of a binding or dialing, handshaking or
// established, so that stopping can drain or close every one of them.
//
// A binding bounds how many connections may be in the handshake at once
// (maxRaw): a connection beyond it closes the one that has waited longest,
// so that peers that connect and say nothing cannot hold every slot, while a
// peer that handshakes at once always gets through.
type connSet struct {
	mu      sync.Mutex
	raw     map[net.Conn]*rawConn // handshaking
	order   []net.Conn            // raw, oldest first (with some already gone)
	evicted int                   // how many of raw are evicted
	maxRaw  int                   // 0: no bound
	conns   map[*conn]struct{}    // established
	max     int                   // established at most; 0: no bound (WithMaxPeers)
	stopped bool
	empty   chan struct{} // closed once stopped and nothing is left
}

// rawConn is a connection in its handshake.
type rawConn struct {
	evicted bool
	cancel  context.CancelFunc // ends the handshake's ctx (its authenticator's)
}

// addRaw registers a connection before its handshake, whose ctx cancel
// ends; false once stopped. At the bound it closes the oldest handshaking
// connection.
func (cs *connSet) addRaw(nc net.Conn, cancel context.CancelFunc) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.stopped {
		return false
	}
	if cs.raw == nil {
		cs.raw = make(map[net.Conn]*rawConn)
		cs.conns = make(map[*conn]struct{})
	}
	if cs.maxRaw > 0 {
		for len(cs.raw)-cs.evicted >= cs.maxRaw && len(cs.order) > 0 {
			old := cs.order[0]
			cs.order[0] = nil
			cs.order = cs.order[1:]
			if rc, ok := cs.raw[old]; ok && !rc.evicted {
				rc.evicted = true
				cs.evicted++
				rc.cancel()
				old.Close() // its handshake fails; serve reports why
			}
		}
		if len(cs.order) > 2*len(cs.raw)+64 { // forget the ones long gone
			cs.order = slices.DeleteFunc(cs.order, func(c net.Conn) bool { _, ok := cs.raw[c]; return !ok })
		}
		cs.order = append(cs.order, nc)
	}
	cs.raw[nc] = &rawConn{cancel: cancel}
	return true
}

// wasEvicted reports whether addRaw closed nc to make room.
func (cs *connSet) wasEvicted(nc net.Conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rc := cs.raw[nc]
	return rc != nil && rc.evicted
}

// promote moves a connection that finished its handshake to the established
// set. It fails (and the caller closes the connection) once stopped, for a
// connection evicted meanwhile (ErrClosed), or with ErrPeerLimit at the
// bound on established connections.
func (cs *connSet) promote(c *conn) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if rc := cs.raw[c.nc]; cs.stopped || rc != nil && rc.evicted {
		return ErrClosed
	}
	if cs.max > 0 && len(cs.conns) >= cs.max {
		return fmt.Errorf("%w: %d connected already", ErrPeerLimit, len(cs.conns))
	}
	delete(cs.raw, c.nc)
	cs.conns[c] = struct{}{}
	return nil
}

// full reports whether the established connections are at their bound:
// a connection accepted then is refused before its handshake, which
// would cost work (CURVE's above all) for a peer promote would refuse.
func (cs *connSet) full() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.max > 0 && len(cs.conns) >= cs.max
}

// established reports whether a connection has finished its handshake
// and is not yet removed.
func (cs *connSet) established() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.conns) > 0
}

// remove forgets a connection (raw or established) once it is closed.
func (cs *connSet) remove(nc net.Conn, c *conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if rc := cs.raw[nc]; rc != nil && rc.evicted {
		cs.evicted--
	}
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
// drain until ctx ends, then ends the ones still running. It returns once
// all have been removed.
func (cs *connSet) stopAll(ctx context.Context) {
	cs.mu.Lock()
	cs.stopped = true
	empty := make(chan struct{})
	cs.empty = empty
	for nc, rc := range cs.raw {
		rc.cancel()
		nc.Close()
	}
	conns := make([]*conn, 0, len(cs.conns))
	for c := range cs.conns {
		conns = append(conns, c)
	}
	cs.signalLocked()
	cs.mu.Unlock()
	if ctx.Err() == nil {
		for _, c := range conns {
			c.lingerFor(ctx)
		}
		select {
		case <-empty:
			return
		case <-ctx.Done():
		}
	}
	for _, c := range conns {
		c.close()
	}
	<-empty
}
