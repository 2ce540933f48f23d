package socket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"
)

// conn is one established tcp or ipc connection serving a pipe. Its reader
// goroutine reads messages and hands them to the socket; its writer goroutine
// (the goroutine that called serve) writes the pipe's queue, the PINGs and
// the PONGs. They are the only code that touches the *zmq4.Conn and the wire,
// but for a sender writing through (direct.go), which holds wmu as the writer
// does.
type conn struct {
	s      *Socket
	p      *pipe
	nc     net.Conn
	w      *wire
	zc     *zmq4.Conn
	remote string
	hb     *heartbeat

	stop      chan struct{} // closed to end the connection now
	stopOnce  sync.Once
	linger    chan context.Context // Close or Shutdown asks the writer to drain until ctx ends, then end
	local     atomic.Bool          // we ended it (Close, Unbind, Disconnect), not the peer
	pingDue   atomic.Bool          // the heartbeat wants a PING sent
	readEnd   atomic.Bool          // the reader read the end of the peer's stream
	confirmed atomic.Bool          // the peer confirmed it read everything (drain)
	pingSig   chan struct{}        // wakes an idle writer for it
	failMu    sync.Mutex
	failure   error // why we ended it, if not Close or the peer (a heartbeat timeout)

	wmu      sync.Mutex      // the write side: held by the writer while it works, or by a write-through
	wrc      syscall.RawConn // for writes that never wait; nil: no write-through
	flushSig chan struct{}   // a write-through left bytes for the writer to send
}

func newConn(s *Socket, p *pipe, nc net.Conn, w *wire, zc *zmq4.Conn) *conn {
	c := &conn{s: s, p: p, nc: nc, w: w, zc: zc, remote: nc.RemoteAddr().String(),
		stop: make(chan struct{}), linger: make(chan context.Context, 1), pingSig: make(chan struct{}, 1),
		flushSig: make(chan struct{}, 1)}
	w.made.List = &s.made
	if s.budget != nil {
		w.recvBudget, w.stop, w.holding = s.budget, c.stop, &p.held
	}
	if sc, ok := nc.(syscall.Conn); ok && w.curve == nil && !s.opts.conflate {
		c.wrc, _ = sc.SyscallConn()
	}
	w.wb.lone = s.loneWrites
	return c
}

// security returns the socket's mechanism for a connection on endpoint,
// and whether we are its server.
func (s *Socket) security(ctx context.Context, endpoint string, nc net.Conn) (zmq4.Security, bool) {
	switch {
	case s.opts.curve.server:
		req := AuthRequest{Mechanism: "CURVE", Endpoint: endpoint, Remote: nc.RemoteAddr().String()}
		return &curveSecurity{cfg: s.opts.curve, ctx: ctx, req: req}, true
	case s.opts.curve.client:
		return &curveSecurity{cfg: s.opts.curve}, false
	case s.opts.plainAuth != nil:
		req := AuthRequest{Mechanism: "PLAIN", Endpoint: endpoint, Remote: nc.RemoteAddr().String()}
		return plainSecurity{auth: s.opts.plainAuth, ctx: ctx, req: req}, true
	case s.opts.plainClient:
		return plainSecurity{user: s.opts.plainUser, password: s.opts.plainPwd}, false
	}
	return nullSecurity{}, false
}

// handshake runs the ZMTP greeting and security handshake on nc, within the
// handshake timeout. zmq4 panics on some malformed input from a peer: that
// becomes an error here, never a crash.
func (s *Socket) handshake(ctx context.Context, endpoint string, nc net.Conn) (w *wire, zc *zmq4.Conn, err error) {
	wr := newWire(nc, s.opts.maxMsgSize)
	deadline := time.Now().Add(s.opts.handshakeTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	sec, server := s.security(ctx, endpoint, nc)
	if err := nc.SetDeadline(deadline); err != nil {
		return nil, nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: zmq4 panicked on the peer's input: %v", ErrHandshake, r)
		}
		if err != nil {
			wr.release()
		}
	}()
	zc, err = zmq4.Open(wr, sec, zmq4.SocketType(s.typ.String()), zmq4.SocketIdentity(s.opts.identity), server, nil)
	if err != nil {
		if merr := wr.mechanismRefused(string(sec.Type())); merr != nil {
			err = merr
		} else if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrHandshake) {
			err = fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		return nil, nil, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	if cs, ok := sec.(*curveSecurity); ok {
		wr.curve = cs.sess
	}
	wr.establish()
	return wr, zc, nil
}

// serve runs an established connection for pipe p until it fails, the peer
// leaves, or stop is closed; it returns why. The caller's goroutine is the
// writer; serve starts the reader and returns after both have ended.
func (c *conn) serve() error {
	c.startHeartbeat()
	c.w.onPing = c.hb.peerTTL
	readErr := make(chan error, 1)
	go func() { readErr <- c.read() }()
	err := c.write()
	c.end()
	rerr := <-readErr
	c.hb.stop()
	c.w.release() // both sides have ended
	if c.s.confirming.Load() && !c.confirmed.Load() {
		c.s.unconfirmed.Add(1) // ended during ShutdownConfirmed, and not by its handshake
	}
	if c.local.Load() {
		return ErrClosed // whatever the reads and writes made of it
	}
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if c.failure != nil {
		return c.failure
	}
	if err == nil || errors.Is(err, net.ErrClosed) {
		err = rerr
	}
	return err
}

// fail ends the connection for a reason of ours, which serve reports.
func (c *conn) fail(err error) {
	c.failMu.Lock()
	if c.failure == nil {
		c.failure = err
	}
	c.failMu.Unlock()
	c.end()
}

// owePing has the writer send a PING, now if it is idle, else after the
// message it is writing.
func (c *conn) owePing() {
	c.pingDue.Store(true)
	select {
	case c.pingSig <- struct{}{}:
	default:
	}
}

// close ends the connection on our side's behalf.
func (c *conn) close() {
	c.local.Store(true)
	c.end()
}

// end closes the connection; the reader and writer see it and return.
func (c *conn) end() {
	c.stopOnce.Do(func() {
		close(c.stop)
		c.nc.Close()
	})
}

// read hands every message from the peer to the socket, until the stream
// fails or ends.
func (c *conn) read() error {
	defer c.end()
	for {
		m, err := c.w.readMsg()
		if err != nil {
			if errors.Is(err, io.EOF) {
				c.readEnd.Store(true)
			}
			return err
		}
		if !c.s.inbound(c.p, m, c.stop) {
			return nil
		}
		if !c.p.heard.Load() {
			c.p.heard.Store(true)
		}
	}
}

// write sends the pipe's queue to the peer, flushing whenever the queue runs
// empty: many messages to one system call under load, no delay when idle.
// It holds wmu while it works, and lets senders write through while it
// sleeps.
func (c *conn) write() error {
	c.wmu.Lock()
	c.p.direct.Store(c)
	defer func() {
		c.p.direct.CompareAndSwap(c, nil)
		c.wmu.Unlock()
	}()
	out := c.p.out
	for {
		m, ok := out.get()
		if !ok {
			if err := c.w.Flush(); err != nil {
				return err
			}
			avail := out.sleep()
			if avail == nil {
				continue
			}
			c.wmu.Unlock()
			var l context.Context
			select {
			case <-avail:
			case <-c.flushSig:
			case <-c.w.pingSig:
			case <-c.pingSig:
			case <-c.stop:
			case l = <-c.linger:
			}
			c.wmu.Lock()
			select {
			case <-c.stop:
				return nil
			default:
			}
			if l != nil {
				return c.drain(l)
			}
			if err := c.sendCommands(); err != nil {
				return err
			}
			continue
		}
		if err := c.sendCommands(); err != nil {
			return err
		}
		if err := c.w.writeMsg(m); err != nil {
			return err
		}
	}
}

// sendCommands writes the PONG and the PING owed, if any.
func (c *conn) sendCommands() error {
	if c.w.pinged.Load() {
		if err := c.sendPong(); err != nil {
			return err
		}
	}
	if c.pingDue.Load() && c.pingDue.Swap(false) {
		return c.w.writeCommand("PING", c.s.pingBody())
	}
	return nil
}

// drain sends what is queued until ctx ends, then returns. When the socket
// is shut down confirmed, it then ends the stream toward the peer and waits,
// within ctx, for the peer to end its own: the peer reads everything sent
// before it sees the end, so its end confirms that it has all of it (see
// Socket.ShutdownConfirmed).
func (c *conn) drain(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(dl) // a write to a stalled peer ends then; an ended ctx closes the conn
	}
	for {
		m, ok := c.p.out.get()
		if !ok {
			break
		}
		if err := c.w.writeMsg(m); err != nil {
			return err
		}
	}
	if err := c.w.Flush(); err != nil || !c.s.confirming.Load() {
		return err
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		return nil
	}
	select {
	case <-c.stop: // the reader read the peer's end, or the connection failed
		c.confirmed.Store(c.readEnd.Load())
	case <-ctx.Done():
	}
	return nil
}

// lingerFor asks the writer to send what is queued, until ctx ends, and end.
// A second request is ignored.
func (c *conn) lingerFor(ctx context.Context) {
	c.local.Store(true)
	select {
	case c.linger <- ctx:
	default:
	}
}

func (c *conn) sendPong() error {
	ctx, ok := c.w.pongContext()
	if !ok {
		return nil
	}
	return c.w.writeCommand("PONG", ctx)
}

// peerIdentity is the identity the peer announced, nil if none.
func peerIdentity(zc *zmq4.Conn) []byte {
	if id := zc.Peer.Meta["Identity"]; id != "" {
		return []byte(id)
	}
	return nil
}
