package socket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Bind makes the socket accept connections on endpoint: "tcp://host:port"
// ("tcp://*:5555" for every interface, port "*" or 0 for any free port),
// "ipc:///path/to/socket" or "inproc://name". It returns the endpoint it
// actually bound, with the port filled in, which Unbind also accepts.
// A socket may bind several endpoints.
func (s *Socket) Bind(ep string) (string, error) {
	e, err := parseEndpoint(ep, true)
	if err != nil {
		return "", err
	}
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	if e.transport == "inproc" {
		return s.bindInproc(e)
	}
	network, addr := "tcp", e.addr
	if e.transport == "ipc" {
		network = "unix"
		removeStaleIPC(addr)
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		s.mon.emit(Event{Kind: EventBindFailed, Endpoint: ep, Err: err})
		if errors.Is(err, syscall.EADDRINUSE) {
			return "", fmt.Errorf("%w: %s: %w", ErrAddrInUse, ep, err)
		}
		return "", fmt.Errorf("socket: bind %s: %w", ep, err)
	}
	if ul, ok := l.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true)
	}
	b := &binding{s: s, endpoint: boundEndpoint(e, l), given: ep, l: l}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		l.Close()
		return "", ErrClosed
	}
	s.binds[b.endpoint] = b
	s.binds[ep] = b
	s.wg.Add(1)
	s.mu.Unlock()
	s.mon.emit(Event{Kind: EventListening, Endpoint: b.endpoint})
	go b.accept()
	return b.endpoint, nil
}

// removeStaleIPC removes a socket file nobody listens on, as libzmq does, so
// that a process restarted after a crash can bind its path again.
func removeStaleIPC(path string) {
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return
	}
	os.Remove(path)
}

// Connect makes the socket connect to endpoint, now and again whenever the
// connection is lost, with back-off (WithReconnectInterval). It returns at
// once: the peer need not be there yet. As in libzmq, PUSH, DEALER, REQ and
// PAIR get a peer queue at once, so messages sent before the connection is up
// wait for it.
func (s *Socket) Connect(ep string) error {
	e, err := parseEndpoint(ep, false)
	if err != nil {
		return err
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	if e.transport == "inproc" {
		return s.connectInproc(ep, e)
	}
	d := &dialing{s: s, endpoint: ep, e: e, cancel: make(chan struct{}), done: make(chan struct{}), drain: make(chan struct{})}
	if s.keepsPipe() {
		d.p = s.newPipe(ep, true)
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, dup := s.dials[ep]; dup {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s: already connected", ErrBadEndpoint, ep)
	}
	s.dials[ep] = d
	s.wg.Add(1)
	s.mu.Unlock()
	if d.p != nil && !s.attach(d.p) {
		d.p = nil // a second PAIR peer: the connection will be refused
	}
	go d.run()
	return nil
}

// keepsPipe says whether Connect makes the peer queue before the connection
// (libzmq without ZMQ_IMMEDIATE): the types that queue for one peer at a time.
func (s *Socket) keepsPipe() bool {
	switch s.typ {
	case Push, Dealer, Req, Pair:
		return true
	}
	return false
}

// Unbind stops accepting on an endpoint Bind returned (or was given), and
// closes the connections accepted there, as libzmq does.
func (s *Socket) Unbind(ep string) error {
	if e, err := parseEndpoint(ep, true); err == nil && e.transport == "inproc" {
		return s.unbindInproc(ep)
	}
	s.mu.Lock()
	b, ok := s.binds[ep]
	if ok {
		delete(s.binds, b.endpoint)
		delete(s.binds, b.given)
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotBound, ep)
	}
	b.stop(0)
	return nil
}

// Disconnect stops connecting to an endpoint and closes its connection.
// Messages still queued for it are discarded.
func (s *Socket) Disconnect(ep string) error {
	s.mu.Lock()
	d, ok := s.dials[ep]
	if ok {
		delete(s.dials, ep)
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotBound, ep)
	}
	if d.e.transport == "inproc" {
		s.disconnectInproc(ep, d.e.addr)
		return nil
	}
	d.stop(0)
	return nil
}

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
		c.end()
	}
	<-empty
}

// binding is one bound tcp or ipc endpoint: a listener and an accept loop.
type binding struct {
	s        *Socket
	endpoint string // as bound
	given    string // as asked for
	l        net.Listener
	set      connSet
	stopOnce sync.Once
}

func (b *binding) accept() {
	defer b.s.wg.Done()
	for {
		nc, err := b.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: wait a little rather than spin.
			b.s.log.debug("accept failed", b.endpoint, err)
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-t.C:
			case <-b.s.closing:
				t.Stop()
			}
			continue
		}
		if !b.set.addRaw(nc) {
			nc.Close()
			return
		}
		b.s.mon.emit(Event{Kind: EventAccepted, Endpoint: b.endpoint, Remote: nc.RemoteAddr().String()})
		b.s.wg.Add(1)
		go b.serve(nc)
	}
}

// serve runs one accepted connection: handshake, then a fresh pipe for as
// long as the connection lasts (libzmq drops a bound side's pipe with it).
func (b *binding) serve(nc net.Conn) {
	defer b.s.wg.Done()
	var c *conn
	defer func() { b.set.remove(nc, c) }()
	s := b.s
	remote := nc.RemoteAddr().String()
	w, zc, err := s.handshake(nc)
	if err != nil {
		nc.Close()
		s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Remote: remote, Err: err})
		return
	}
	p := s.newPipe(b.endpoint, true)
	p.peerID = peerIdentity(zc)
	c = newConn(s, p, nc, w, zc)
	if !b.set.promote(c) {
		nc.Close()
		return
	}
	if !s.attach(p) {
		nc.Close()
		s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Remote: remote, Err: errRefusedPeer(s.typ)})
		return
	}
	s.mon.emit(Event{Kind: EventHandshakeOK, Endpoint: b.endpoint, Remote: remote})
	err = c.serve()
	s.detach(p)
	s.mon.emit(Event{Kind: EventDisconnected, Endpoint: b.endpoint, Remote: remote, Err: err})
}

func errRefusedPeer(t Type) error {
	if t == Pair {
		return fmt.Errorf("%w: PAIR already has its peer", ErrHandshake)
	}
	return fmt.Errorf("%w: routing identity already in use", ErrHandshake)
}

// stop closes the listener and the connections accepted on it.
func (b *binding) stop(linger time.Duration) {
	b.stopOnce.Do(func() {
		b.l.Close()
		b.set.stopAll(linger)
		b.s.mon.emit(Event{Kind: EventClosed, Endpoint: b.endpoint})
	})
}

// dialing is one connected tcp or ipc endpoint: a goroutine that dials,
// serves the connection, and dials again after it is lost.
type dialing struct {
	s        *Socket
	endpoint string
	e        endpoint
	p        *pipe // the peer queue that outlives connections, if the type keeps one
	set      connSet
	cancel   chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// Closing with messages still queued for a peer not yet connected: the
	// dialer goes on until they are out or drainBy passes, as libzmq lingers.
	drain   chan struct{}
	drainBy time.Time
}

func (d *dialing) run() {
	defer d.s.wg.Done()
	defer close(d.done)
	s := d.s
	network := "tcp"
	if d.e.transport == "ipc" {
		network = "unix"
	}
	ivl := s.opts.reconnectIvl
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.cancel:
			cancel()
		case <-ctx.Done():
		}
	}()
	dialer := net.Dialer{Timeout: s.opts.handshakeTimeout}
	for {
		established := false
		nc, err := dialer.DialContext(ctx, network, d.e.addr)
		if err == nil {
			s.mon.emit(Event{Kind: EventConnected, Endpoint: d.endpoint, Remote: nc.RemoteAddr().String()})
			established, err = d.serve(nc)
		}
		select {
		case <-d.cancel:
			return
		case <-d.drain:
			if len(d.p.out) == 0 {
				return // lingered long enough: all delivered
			}
		default:
		}
		if established {
			ivl = s.opts.reconnectIvl
		}
		s.mon.emit(Event{Kind: EventConnectRetried, Endpoint: d.endpoint, Err: err})
		t := time.NewTimer(ivl)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		if max := s.opts.reconnectIvlMax; max > 0 {
			ivl = min(2*ivl, max)
		}
	}
}

// serve runs one dialled connection; established reports whether the
// handshake succeeded.
func (d *dialing) serve(nc net.Conn) (established bool, err error) {
	s := d.s
	if !d.set.addRaw(nc) {
		nc.Close()
		return false, ErrClosed
	}
	var c *conn
	defer func() { d.set.remove(nc, c) }()
	remote := nc.RemoteAddr().String()
	w, zc, err := s.handshake(nc)
	if err != nil {
		nc.Close()
		s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: d.endpoint, Remote: remote, Err: err})
		return false, err
	}
	p := d.p
	if p == nil {
		p = s.newPipe(d.endpoint, true)
		p.peerID = peerIdentity(zc)
		if !s.attach(p) {
			nc.Close()
			err := errRefusedPeer(s.typ)
			s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: d.endpoint, Remote: remote, Err: err})
			return false, err
		}
		defer s.detach(p)
	}
	c = newConn(s, p, nc, w, zc)
	if !d.set.promote(c) {
		nc.Close()
		return true, ErrClosed
	}
	select {
	case <-d.drain:
		c.lingerFor(time.Until(d.drainBy))
	default:
	}
	s.mon.emit(Event{Kind: EventHandshakeOK, Endpoint: d.endpoint, Remote: remote})
	err = c.serve()
	s.mon.emit(Event{Kind: EventDisconnected, Endpoint: d.endpoint, Remote: remote, Err: err})
	return true, err
}

// stop ends the dialer: the live connection drains for up to linger, the
// next dial never happens, and the kept peer queue goes.
func (d *dialing) stop(linger time.Duration) {
	d.stopOnce.Do(func() {
		if linger != 0 && d.p != nil && len(d.p.out) > 0 {
			d.lingerUndelivered(linger)
		}
		close(d.cancel) // before stopAll, so the dialer does not redial once the connection ends
		d.set.stopAll(linger)
		<-d.done
		if d.p != nil {
			d.s.detach(d.p)
		}
		d.s.mon.emit(Event{Kind: EventClosed, Endpoint: d.endpoint})
	})
}

// lingerUndelivered keeps the dialer going while messages wait for a peer
// that is not connected, or still handshaking: it returns when the
// connection has taken them all, or after linger (never, if negative).
func (d *dialing) lingerUndelivered(linger time.Duration) {
	var timeout <-chan time.Time
	if linger > 0 {
		d.drainBy = time.Now().Add(linger)
		t := time.NewTimer(linger)
		defer t.Stop()
		timeout = t.C
	} else {
		d.drainBy = time.Now().Add(100 * 365 * 24 * time.Hour)
	}
	close(d.drain)
	d.set.mu.Lock()
	for c := range d.set.conns {
		c.lingerFor(time.Until(d.drainBy))
	}
	d.set.mu.Unlock()
	select {
	case <-d.done:
	case <-timeout:
	}
}
