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
	s.trace(ep)
	if e.transport == "inproc" {
		s.inproc.Store(true)
		return s.bindInproc(e)
	}
	network, addr := "tcp", e.addr
	if e.transport == "ipc" {
		network = "unix"
		removeStaleIPC(addr)
	}
	l, err := s.opts.listen(network, addr)
	if err != nil {
		s.mon.emit(Event{Kind: EventBindFailed, Endpoint: ep, Err: err})
		return "", &bindError{ep, err}
	}
	if ul, ok := l.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true)
	}
	b := &binding{s: s, endpoint: boundEndpoint(e, l), given: ep, l: l}
	b.set.maxRaw = s.opts.maxHandshakes
	b.set.max = s.opts.maxPeers
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
	b.stop(ended)
	return nil
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
		if b.set.full() {
			b.s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Remote: nc.RemoteAddr().String(),
				Err: fmt.Errorf("%w: refused as it connected", ErrPeerLimit)})
			nc.Close()
			continue
		}
		nc = adoptConn(nc)
		ctx, cancel := context.WithCancel(b.s.life)
		if !b.set.addRaw(nc, cancel) {
			cancel()
			nc.Close()
			return
		}
		b.s.mon.emit(Event{Kind: EventAccepted, Endpoint: b.endpoint, Remote: nc.RemoteAddr().String()})
		b.s.wg.Add(1)
		go b.serve(ctx, cancel, nc)
	}
}

// serve runs one accepted connection: handshake, then a fresh pipe for as
// long as the connection lasts (libzmq drops a bound side's pipe with it).
func (b *binding) serve(ctx context.Context, cancel context.CancelFunc, nc net.Conn) {
	defer b.s.wg.Done()
	defer cancel()
	var c *conn
	defer func() { b.set.remove(nc, c) }()
	s := b.s
	remote := nc.RemoteAddr().String()
	w, zc, err := s.handshake(ctx, b.endpoint, nc)
	if err != nil {
		nc.Close()
		if b.set.wasEvicted(nc) {
			err = fmt.Errorf("%w: %d connections in the handshake at once; this one waited longest", ErrHandshakeLimit, s.opts.maxHandshakes)
		}
		s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Remote: remote, Err: err})
		return
	}
	p := s.newPipe(b.endpoint, true)
	p.peerID = peerIdentity(zc)
	c = newConn(s, p, nc, w, zc)
	p.onEvict(func() { c.fail(ErrHandedOver) })
	if err := b.set.promote(c); err != nil {
		nc.Close()
		if errors.Is(err, ErrPeerLimit) {
			s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Remote: remote, Err: err})
		}
		return
	}
	if !s.attach(p) {
		nc.Close()
		s.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Remote: remote, Err: errRefusedPeer(s.typ)})
		return
	}
	s.mon.emit(Event{Kind: EventHandshakeOK, Endpoint: b.endpoint, Remote: remote})
	c.probe()
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

// stop closes the listener and the connections accepted on it, which
// drain what is queued for them until ctx ends.
func (b *binding) stop(ctx context.Context) {
	b.stopOnce.Do(func() {
		b.l.Close()
		b.set.stopAll(ctx)
		b.s.mon.emit(Event{Kind: EventClosed, Endpoint: b.endpoint})
	})
}

// bindError is Bind's error for an endpoint the system refused, said
// once: the system's error, wrapped, names the address again. An address
// in use is ErrAddrInUse too.
type bindError struct {
	endpoint string
	err      error
}

func (e *bindError) Error() string {
	if errors.Is(e.err, syscall.EADDRINUSE) {
		return ErrAddrInUse.Error() + ": " + e.endpoint
	}
	var errno syscall.Errno
	if errors.As(e.err, &errno) {
		return "socket: bind " + e.endpoint + ": " + errno.Error()
	}
	return "socket: bind " + e.endpoint + ": " + e.err.Error()
}

func (e *bindError) Unwrap() []error {
	if errors.Is(e.err, syscall.EADDRINUSE) {
		return []error{ErrAddrInUse, e.err}
	}
	return []error{e.err}
}
