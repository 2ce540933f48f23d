package socket

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// A connection's buffers. An idle connection, or one in its handshake, keeps
// a small buffer each way inside the wire: a thousand idle peers cost a
// thousand small buffers. Under load a side borrows a large buffer from a
// pool shared by every connection, so that many messages go in one system
// call, and gives it back when traffic is light again.
const (
	smallBufSize = 512
	bigBufSize   = 64 << 10
)

var (
	bigBufs = sync.Pool{New: func() any {
		bigBufsMade.Add(1)
		return new([bigBufSize]byte)
	}}
	bigBufsMade atomic.Int64 // made in all: for tests that account for every allocation
	bigBufsOut  atomic.Int64 // borrowed now: for tests that idle connections hold none
)

func getBig() *[bigBufSize]byte {
	bigBufsOut.Add(1)
	return bigBufs.Get().(*[bigBufSize]byte)
}

func putBig(b *[bigBufSize]byte) {
	bigBufsOut.Add(-1)
	bigBufs.Put(b)
}

// readBuf is the read side: buf[r:w] is read from the connection and not yet
// consumed. Only the reader goroutine (or, during the handshake, the
// goroutine running it) touches it.
type readBuf struct {
	c     net.Conn
	rc    syscall.RawConn // to learn that a read would wait before it does; nil: plain reads
	buf   []byte
	r, w  int
	big   *[bigBufSize]byte // borrowed, while traffic is heavy
	reads atomic.Uint64     // reads that returned bytes: the heartbeat's sign of life
	small [smallBufSize]byte

	// The raw read and its results, kept here so that a read allocates no
	// closure and no escaping variables.
	rawRead func(fd uintptr) bool
	rawN    int
	rawErr  error
}

func (b *readBuf) init(c net.Conn) {
	b.c = c
	b.buf = b.small[:]
	if sc, ok := c.(syscall.Conn); ok {
		b.rc, _ = sc.SyscallConn()
		b.rawRead = b.readFD
	}
}

// buffered returns what is read and not yet consumed.
func (b *readBuf) buffered() []byte { return b.buf[b.r:b.w] }

// skip consumes n buffered bytes.
func (b *readBuf) skip(n int) { b.r += n }

// fill reads at least one more byte from the connection. When a read fills
// the buffer, more is likely waiting, and the next reads go to a borrowed
// buffer; when a read would wait for the peer with nothing buffered, the
// borrowed buffer goes back first, so that a connection that goes quiet holds
// only its small one.
func (b *readBuf) fill() error {
	if b.r == b.w {
		b.r, b.w = 0, 0
	} else if b.w == len(b.buf) {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	if b.w == len(b.buf) { // full of what is not consumed yet: borrow room
		b.borrow()
	}
	n, err := b.readSome()
	if n == 0 {
		return err
	}
	b.reads.Add(1)
	b.w += n
	if b.w == len(b.buf) {
		b.borrow()
	}
	return nil
}

// readSome reads into buf[w:]: at least one byte, or an error.
func (b *readBuf) readSome() (int, error) {
	if b.rc == nil {
		for {
			n, err := b.c.Read(b.buf[b.w:])
			if n > 0 || err != nil {
				return n, err
			}
		}
	}
	err := b.rc.Read(b.rawRead)
	n, rerr := b.rawN, b.rawErr
	b.rawErr = nil
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readFD is the raw read under rc.Read: false, to wait for the fd to be
// readable, when nothing is there yet.
func (b *readBuf) readFD(fd uintptr) bool {
	for {
		b.rawN, b.rawErr = syscall.Read(int(fd), b.buf[b.w:])
		if b.rawErr != syscall.EINTR {
			break
		}
	}
	if b.rawErr == syscall.EAGAIN {
		// Nothing yet: the read waits for the peer, and not with a
		// borrowed buffer that holds nothing.
		if b.big != nil && b.w == 0 {
			putBig(b.big)
			b.big, b.buf = nil, b.small[:]
		}
		return false
	}
	return true
}

// release gives back a borrowed buffer: the connection is over.
func (b *readBuf) release() {
	if b.big != nil {
		putBig(b.big)
		b.big, b.buf, b.r, b.w = nil, b.small[:], 0, 0
	}
}

// borrow moves what is buffered to a large buffer, if it has none yet.
func (b *readBuf) borrow() {
	if b.big != nil {
		return
	}
	b.big = getBig()
	b.w = copy(b.big[:], b.buf[b.r:b.w])
	b.r, b.buf = 0, b.big[:]
}

// peek returns the next n bytes, reading until they are there; n is at most
// smallBufSize. They stay buffered.
func (b *readBuf) peek(n int) ([]byte, error) {
	for b.w-b.r < n {
		if len(b.buf)-b.r < n {
			b.w = copy(b.buf, b.buf[b.r:b.w])
			b.r = 0
		}
		if err := b.fill(); err != nil {
			return nil, errEOF(err, b.w-b.r)
		}
	}
	return b.buf[b.r : b.r+n], nil
}

// read is io.Reader's Read over the buffer.
func (b *readBuf) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// readFull fills p: from the buffer, then from the connection, straight into
// p when what is missing is larger than the buffer.
func (b *readBuf) readFull(p []byte) error {
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	for n < len(p) {
		if len(p)-n >= len(b.buf) {
			if b.big != nil { // empty (all copied out above): not held through a read
				putBig(b.big)
				b.big, b.buf, b.r, b.w = nil, b.small[:], 0, 0
			}
			m, err := b.c.Read(p[n:])
			if m > 0 {
				b.reads.Add(1)
				n += m
				continue
			}
			if err != nil {
				return errEOF(err, 1)
			}
			continue
		}
		if err := b.fill(); err != nil {
			return errEOF(err, 1)
		}
		m := copy(p[n:], b.buf[b.r:b.w])
		b.r += m
		n += m
	}
	return nil
}

// discard consumes n bytes, buffered or still to come.
func (b *readBuf) discard(n uint64) error {
	for {
		k := min(n, uint64(b.w-b.r))
		b.r += int(k)
		if n -= k; n == 0 {
			return nil
		}
		if err := b.fill(); err != nil {
			return errEOF(err, 1)
		}
	}
}

// writeBuf is the write side: frames are buffered until the writer goroutine
// flushes, when its queue runs empty. Errors stick: once a write fails, every
// later one returns the same error. Only the holder of the connection's wmu
// touches it: the writer goroutine, or a sender writing through (direct.go).
type writeBuf struct {
	c        net.Conn
	buf      []byte
	big      *[bigBufSize]byte
	err      error
	progress atomic.Uint64 // writes done while more waited: the peer is taking our backlog (see heartbeat)
	small    [smallBufSize]byte

	rawWrite func(fd uintptr) bool // writeFD, made once (see tryWrite)
	rawN     int

	// lone: the socket sends one message now and then (the profile
	// exporter's batch each interval), never a stream. A frame that does
	// not fit the small array goes out at once, with what is buffered, in
	// one system call: borrowing a large buffer for it would keep 64 KB
	// live in the heap of the program being profiled, and bring its GC
	// cycles closer.
	lone bool
}

// chunkSize is the most a large frame's body goes out in one write, so that
// a peer reading it slowly is seen to make progress.
const chunkSize = 4 * bigBufSize

func (b *writeBuf) init(c net.Conn) {
	b.c = c
	b.buf = b.small[:0]
	b.rawWrite = b.writeFD
}

// frame buffers one frame. A frame too large for any buffer, or for the
// small array of a lone socket's writer (see lone), goes out at once, with
// what is buffered, in one system call (writev).
func (b *writeBuf) frame(flags byte, body []byte) {
	if b.err != nil {
		return
	}
	n := len(body)
	if need := 9 + n; len(b.buf)+need > cap(b.buf) {
		switch {
		case b.big == nil && len(b.buf)+need <= bigBufSize && !b.lone:
			b.big = getBig()
			b.buf = append(b.big[:0], b.buf...)
		case n >= bigBufSize/2 || b.big == nil:
			if len(b.buf)+9 > cap(b.buf) {
				if b.sendMore(); b.err != nil {
					return
				}
			}
			b.header(flags, n)
			first := min(n, chunkSize)
			bufs := net.Buffers{b.buf, body[:first]} // what is buffered and the start: one system call
			if _, b.err = bufs.WriteTo(b.c); b.err == nil {
				b.progress.Add(1)
			}
			b.buf = b.buf[:0]
			for rest := body[first:]; len(rest) > 0 && b.err == nil; rest = rest[min(len(rest), chunkSize):] {
				if _, b.err = b.c.Write(rest[:min(len(rest), chunkSize)]); b.err == nil {
					b.progress.Add(1)
				}
			}
			return
		default:
			if b.sendMore(); b.err != nil {
				return
			}
		}
	}
	b.header(flags, n)
	b.buf = append(b.buf, body...)
}

func (b *writeBuf) header(flags byte, n int) {
	if n > 255 {
		b.buf = append(b.buf, flags|flagLong)
		b.buf = append(b.buf, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		return
	}
	b.buf = append(b.buf, flags, byte(n))
}

// write buffers p as it is (zmq4's writes once the handshake is done).
func (b *writeBuf) write(p []byte) {
	if b.err != nil {
		return
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		if b.send(); b.err != nil {
			return
		}
		if len(p) > cap(b.buf) {
			_, b.err = b.c.Write(p)
			return
		}
	}
	b.buf = append(b.buf, p...)
}

// send writes what is buffered.
func (b *writeBuf) send() {
	if len(b.buf) > 0 && b.err == nil {
		_, b.err = b.c.Write(b.buf)
	}
	b.buf = b.buf[:0]
}

// sendMore writes what is buffered to make room, more being on its way: a
// write that completes then shows the peer taking our backlog.
func (b *writeBuf) sendMore() {
	if b.send(); b.err == nil {
		b.progress.Add(1)
	}
}

// release gives back a borrowed buffer, unsent: the connection is over.
func (b *writeBuf) release() {
	if b.big != nil {
		putBig(b.big)
		b.big, b.buf = nil, b.small[:0]
	}
}

// flush writes what is buffered and gives back a borrowed buffer: the
// writer's queue is empty, so traffic has paused.
func (b *writeBuf) flush() error {
	b.send()
	if b.big != nil {
		putBig(b.big)
		b.big, b.buf = nil, b.small[:0]
	}
	return b.err
}

var _ io.Reader = (*wire)(nil)
