package socket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

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
	s.trace(ep)
	if e.transport == "inproc" {
		s.inproc.Store(true)
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
// (libzmq without ZMQ_IMMEDIATE): the types that queue for one peer at a
// time, unless WithImmediate.
func (s *Socket) keepsPipe() bool {
	switch s.typ {
	case Push, Dealer, Req, Pair:
		return !s.opts.immediate
	}
	return false
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
	d.stop(ended)
	return nil
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
	// dialer goes on until they are out or drainCtx ends, as libzmq lingers.
	drain    chan struct{}
	drainCtx context.Context

	// down is set when a dial fails or a connection is lost, and cleared
	// by a handshake: the peer is known to be away, not still being
	// reached for the first time.
	down atomic.Bool
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
	dialer := s.opts.dialer()
	for {
		established := false
		nc, err := dialer.DialContext(ctx, network, d.e.addr)
		if err == nil {
			nc = adoptConn(nc)
			s.mon.emit(Event{Kind: EventConnected, Endpoint: d.endpoint, Remote: nc.RemoteAddr().String()})
			established, err = d.serve(nc)
		}
		select {
		case <-d.cancel:
			return
		case <-d.drain:
			if d.p.out.len() == 0 {
				return // lingered long enough: all delivered
			}
		default:
		}
		if !established && (s.opts.plainClient || s.opts.curve.client) && errors.Is(err, ErrAuth) && !s.opts.redialAuth {
			d.refused(err)
			return
		}
		if established {
			ivl = s.opts.reconnectIvl
		}
		d.down.Store(true)
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

// refused ends a dialer whose credentials the peer refused: redialling them
// would only be refused again. What was queued for the peer is discarded,
// and the endpoint may be connected again.
func (d *dialing) refused(err error) {
	s := d.s
	s.mu.Lock()
	if s.dials[d.endpoint] == d {
		delete(s.dials, d.endpoint)
	}
	s.mu.Unlock()
	if d.p != nil {
		s.detach(d.p)
	}
	d.s.mon.emit(Event{Kind: EventClosed, Endpoint: d.endpoint, Err: fmt.Errorf("not redialling: %w", err)})
}

// serve runs one dialled connection; established reports whether the
// handshake succeeded.
func (d *dialing) serve(nc net.Conn) (established bool, err error) {
	s := d.s
	ctx, cancel := context.WithCancel(s.life)
	defer cancel()
	if !d.set.addRaw(nc, cancel) {
		nc.Close()
		return false, ErrClosed
	}
	var c *conn
	defer func() { d.set.remove(nc, c) }()
	remote := nc.RemoteAddr().String()
	w, zc, err := s.handshake(ctx, d.endpoint, nc)
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
	p.onEvict(func() { c.fail(ErrHandedOver) })
	if d.set.promote(c) != nil {
		nc.Close()
		return true, ErrClosed
	}
	select {
	case <-d.drain:
		c.lingerFor(d.drainCtx)
	default:
	}
	d.down.Store(false)
	s.mon.emit(Event{Kind: EventHandshakeOK, Endpoint: d.endpoint, Remote: remote})
	c.probe()
	err = c.serve()
	s.mon.emit(Event{Kind: EventDisconnected, Endpoint: d.endpoint, Remote: remote, Err: err})
	return true, err
}

// stop ends the dialer: the live connection drains until ctx ends, the
// next dial never happens, and the kept peer queue goes.
func (d *dialing) stop(ctx context.Context) {
	d.stopOnce.Do(func() {
		if ctx.Err() == nil && d.p != nil && d.p.out.len() > 0 {
			d.lingerUndelivered(ctx)
		}
		close(d.cancel) // before stopAll, so the dialer does not redial once the connection ends
		d.set.stopAll(ctx)
		<-d.done
		if d.p != nil {
			d.s.detach(d.p)
		}
		d.s.mon.emit(Event{Kind: EventClosed, Endpoint: d.endpoint})
	})
}

// lingerUndelivered keeps the dialer going while messages wait for a peer
// that is not connected, or still handshaking: it returns when the
// connection has taken them all, or when ctx ends.
func (d *dialing) lingerUndelivered(ctx context.Context) {
	d.drainCtx = ctx
	close(d.drain)
	d.set.mu.Lock()
	for c := range d.set.conns {
		c.lingerFor(ctx)
	}
	d.set.mu.Unlock()
	select {
	case <-d.done:
	case <-ctx.Done():
	}
}
