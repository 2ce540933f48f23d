package socket

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ipcConn is an ipc connection (a unix stream socket) that Go's poller does
// not watch directly. Go's poller watches each connection for input and for
// room to write, edge-triggered, and a unix socket reports room to write each
// time its peer reads: in a conversation (REQ and REP, a client and a broker)
// nearly every message the peer takes would wake this process for nothing.
// TCP reports room only to a writer that ran out of it. So the socket sits
// in two epoll instances of its own, which Go's poller watches in its place:
// rd for input, always; wr for room to write, armed only while a write waits
// for it. An epoll instance reports only input to whoever watches it.
//
// One goroutine reads and one writes at a time (a connection's reader, and
// its writer or a sender writing through, under the write lock); Close and
// the deadlines may be called from any goroutine.
type ipcConn struct {
	sock   *os.File // the socket: its descriptor, closed once no read or write is using it
	sockRC syscall.RawConn
	rd, wr *os.File // the epoll instances, registered with Go's poller
	rdRC   syscall.RawConn
	wrRC   syscall.RawConn
	wrFD   int
	fd     int

	local, remote net.Addr
	closed        atomic.Bool

	// The raw read and write under way, and their callbacks, bound once so
	// that a read or a write allocates nothing.
	rf, wf         func(fd uintptr) bool
	rDone, wDone   bool
	rErr, wErr     error
	readStep       func(uintptr) bool
	writeStep      func(uintptr) bool
	readCtl        func(uintptr)
	writeCtl       func(uintptr)
	wp             []byte // Write's bytes still to send
	wn             int
	writeBytesStep func(fd uintptr) bool
}

// adoptConn returns nc, or an ipcConn in its place when nc is a unix
// connection that can be moved to epoll instances of its own. It never
// fails: a connection that cannot move (out of descriptors, say) stays as
// it is, and works as before.
func adoptConn(nc net.Conn) net.Conn {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nc
	}
	c, err := newIPCConn(uc)
	if err != nil {
		return nc
	}
	return c
}

// newIPCConn moves uc's socket to a descriptor of its own that Go's poller
// does not watch, and closes uc. On error uc is left as it was.
func newIPCConn(uc *net.UnixConn) (*ipcConn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	c := &ipcConn{fd: fd, local: uc.LocalAddr(), remote: uc.RemoteAddr()}
	if err := c.openPolls(); err != nil {
		return nil, err
	}
	uc.Close() // takes the original out of Go's poller; the socket lives on in fd
	c.bind()
	return c, nil
}

// openPolls makes the two epoll instances and the files that own the
// descriptors. The socket's file is made while the descriptor is blocking,
// so that os does not register it with Go's poller; it is non-blocking again
// straight after. On error every descriptor is closed, c.fd too.
func (c *ipcConn) openPolls() error {
	rd, _, err := newEpoll(c.fd, unix.EPOLLIN|unix.EPOLLRDHUP, "ipc-read")
	if err != nil {
		unix.Close(c.fd)
		return err
	}
	wr, wrFD, err := newEpoll(c.fd, unix.EPOLLONESHOT, "ipc-write") // disarmed until a write waits
	if err != nil {
		rd.Close()
		unix.Close(c.fd)
		return err
	}
	err = unix.SetNonblock(c.fd, false)
	c.sock = os.NewFile(uintptr(c.fd), "ipc")
	if err == nil {
		err = unix.SetNonblock(c.fd, true)
	}
	if err != nil {
		rd.Close()
		wr.Close()
		c.sock.Close()
		return err
	}
	c.rd, c.wr = rd, wr
	c.wrFD = wrFD // not wr.Fd(), which may make the descriptor blocking
	c.sockRC, _ = c.sock.SyscallConn()
	c.rdRC, _ = rd.SyscallConn()
	c.wrRC, _ = wr.SyscallConn()
	return nil
}

// newEpoll returns an epoll instance watching fd for events, as a
// non-blocking file that Go's poller watches, and its descriptor.
func newEpoll(fd int, events uint32, name string) (*os.File, int, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, -1, os.NewSyscallError("epoll_create1", err)
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(ep)
		return nil, -1, os.NewSyscallError("epoll_ctl", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return nil, -1, err
	}
	return os.NewFile(uintptr(ep), name), ep, nil
}

func (c *ipcConn) bind() {
	c.readCtl = func(fd uintptr) { c.rDone = c.rf(fd) }
	c.writeCtl = func(fd uintptr) { c.wDone = c.wf(fd) }
	c.readStep = c.stepRead
	c.writeStep = c.stepWrite
	c.writeBytesStep = c.writeBytes
}

// stepRead runs the read under way once: it runs under rd's RawConn.Read,
// which calls it again each time rd reports input.
func (c *ipcConn) stepRead(uintptr) bool {
	if err := c.sockRC.Control(c.readCtl); err != nil {
		c.rErr = err
		return true
	}
	return c.rDone
}

// stepWrite runs the write under way once, under wr's RawConn.Read, which
// calls it again each time wr reports room. When the write would wait, it
// arms wr (once armed, wr reports room once) and tries again, so that room
// made between the try and the arming is not missed.
func (c *ipcConn) stepWrite(uintptr) bool {
	if c.tryWrite() {
		return true
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(c.fd)}
	if err := unix.EpollCtl(c.wrFD, unix.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
		c.wErr = os.NewSyscallError("epoll_ctl", err)
		return true
	}
	return c.tryWrite()
}

// tryWrite runs the write under way on the socket: true when it is done or
// failed.
func (c *ipcConn) tryWrite() bool {
	if err := c.sockRC.Control(c.writeCtl); err != nil {
		c.wErr = err
		return true
	}
	return c.wDone
}

// rawRead is the RawConn's Read: f runs on the socket's descriptor until it
// returns true, waiting for input each time it returns false.
func (c *ipcConn) rawRead(f func(fd uintptr) bool) error {
	c.rf, c.rErr = f, nil
	err := c.rdRC.Read(c.readStep)
	c.rf = nil
	if err == nil {
		err = c.rErr
	}
	return c.closedErr(err)
}

// rawWrite is the RawConn's Write: f runs on the socket's descriptor; when it
// returns false, the write waits for room and runs it again. The first try
// runs without wr, so that a write that does not wait costs only itself.
func (c *ipcConn) rawWrite(f func(fd uintptr) bool) error {
	c.wf, c.wErr = f, nil
	if c.tryWrite() {
		c.wf = nil
		return c.closedErr(c.wErr)
	}
	err := c.wrRC.Read(c.writeStep)
	c.wf = nil
	if err == nil {
		err = c.wErr
	}
	return c.closedErr(err)
}

// closedErr reports any failure of a closed connection as net.ErrClosed,
// as a net.Conn does.
func (c *ipcConn) closedErr(err error) error {
	if err != nil && c.closed.Load() {
		return net.ErrClosed
	}
	return err
}

// writeBytes writes what is left of wp: true when all is written or the
// write failed.
func (c *ipcConn) writeBytes(fd uintptr) bool {
	for len(c.wp) > 0 {
		n, err := unix.Write(int(fd), c.wp)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			c.wErr = os.NewSyscallError("write", err)
			return true
		}
		c.wp = c.wp[n:]
		c.wn += n
	}
	return true
}

// Read reads what is there, waiting for at least one byte.
func (c *ipcConn) Read(p []byte) (int, error) {
	var n int
	var rerr error
	err := c.rawRead(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), p)
			if rerr != unix.EINTR {
				break
			}
		}
		return rerr != unix.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, c.closedErr(os.NewSyscallError("read", rerr))
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, waiting for room as it needs.
func (c *ipcConn) Write(p []byte) (int, error) {
	c.wp, c.wn, c.wErr = p, 0, nil
	err := c.rawWrite(c.writeBytesStep)
	n := c.wn
	c.wp = nil
	if err == nil {
		err = c.closedErr(c.wErr)
	}
	return n, err
}

// Close closes the connection: a read or write waiting ends with
// net.ErrClosed, and the socket's descriptor closes once none is using it.
func (c *ipcConn) Close() error {
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	c.rd.Close()
	c.wr.Close()
	return c.sock.Close()
}

// CloseWrite ends the stream toward the peer, as *net.UnixConn's does: it
// reads what was written, then the end (see Socket.ShutdownConfirmed).
func (c *ipcConn) CloseWrite() error {
	var err error
	if cerr := c.sockRC.Control(func(fd uintptr) { err = unix.Shutdown(int(fd), unix.SHUT_WR) }); cerr != nil {
		return c.closedErr(cerr)
	}
	return err
}

func (c *ipcConn) LocalAddr() net.Addr  { return c.local }
func (c *ipcConn) RemoteAddr() net.Addr { return c.remote }

func (c *ipcConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// The deadlines are the epoll instances' read deadlines: a read waits on
// rd, a write on wr.
func (c *ipcConn) SetReadDeadline(t time.Time) error  { return c.closedErr(c.rd.SetReadDeadline(t)) }
func (c *ipcConn) SetWriteDeadline(t time.Time) error { return c.closedErr(c.wr.SetReadDeadline(t)) }

// SyscallConn gives the raw reads and writes of the connection's reader and
// writer (buffers.go, direct.go).
func (c *ipcConn) SyscallConn() (syscall.RawConn, error) { return ipcRawConn{c}, nil }

type ipcRawConn struct{ c *ipcConn }

func (r ipcRawConn) Control(f func(fd uintptr)) error    { return r.c.closedErr(r.c.sockRC.Control(f)) }
func (r ipcRawConn) Read(f func(fd uintptr) bool) error  { return r.c.rawRead(f) }
func (r ipcRawConn) Write(f func(fd uintptr) bool) error { return r.c.rawWrite(f) }
