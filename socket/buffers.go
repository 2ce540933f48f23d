package socket

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
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
	bigBufsMade atomic.Int64 // for tests that account for every allocation
)

// readBuf is the read side: buf[r:w] is read from the connection and not yet
// consumed. Only the reader goroutine (or, during the handshake, the
// goroutine running it) touches it.
type readBuf struct {
	c        net.Conn
	buf      []byte
	r, w     int
	big      *[bigBufSize]byte // borrowed, while traffic is heavy
	lastRead int               // what the last read returned: a full buffer means more is waiting
	reads    atomic.Uint64     // reads that returned bytes: the heartbeat's sign of life
	small    [smallBufSize]byte
}

func (b *readBuf) init(c net.Conn) {
	b.c = c
	b.buf = b.small[:]
}

// buffered returns what is read and not yet consumed.
func (b *readBuf) buffered() []byte { return b.buf[b.r:b.w] }

// skip consumes n buffered bytes.
func (b *readBuf) skip(n int) { b.r += n }

// fill reads at least one more byte from the connection. When the buffer is
// empty and the last read was short, a borrowed buffer goes back: traffic is
// light. When a read fills the buffer, more is likely waiting, and the next
// reads go to a borrowed buffer.
func (b *readBuf) fill() error {
	if b.r == b.w {
		b.r, b.w = 0, 0
		if b.big != nil && b.lastRead < smallBufSize {
			bigBufs.Put(b.big)
			b.big, b.buf = nil, b.small[:]
		}
	} else if b.w == len(b.buf) {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	if b.w == len(b.buf) { // full of what is not consumed yet: borrow room
		b.borrow()
	}
	for {
		n, err := b.c.Read(b.buf[b.w:])
		b.lastRead = n
		if n > 0 {
			b.reads.Add(1)
			b.w += n
			if b.w == len(b.buf) {
				b.borrow()
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// borrow moves what is buffered to a large buffer, if it has none yet.
func (b *readBuf) borrow() {
	if b.big != nil {
		return
	}
	b.big = bigBufs.Get().(*[bigBufSize]byte)
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
// later one returns the same error. Only the writer goroutine touches it.
type writeBuf struct {
	c     net.Conn
	buf   []byte
	big   *[bigBufSize]byte
	err   error
	small [smallBufSize]byte
}

func (b *writeBuf) init(c net.Conn) {
	b.c = c
	b.buf = b.small[:0]
}

// frame buffers one frame. A frame too large for any buffer goes out at
// once, with what is buffered, in one system call (writev).
func (b *writeBuf) frame(flags byte, body []byte) {
	if b.err != nil {
		return
	}
	n := len(body)
	if need := 9 + n; len(b.buf)+need > cap(b.buf) {
		switch {
		case b.big == nil && len(b.buf)+need <= bigBufSize:
			b.big = bigBufs.Get().(*[bigBufSize]byte)
			b.buf = append(b.big[:0], b.buf...)
		case n >= bigBufSize/2:
			if len(b.buf)+9 > cap(b.buf) {
				if b.send(); b.err != nil {
					return
				}
			}
			b.header(flags, n)
			bufs := net.Buffers{b.buf, body}
			_, b.err = bufs.WriteTo(b.c)
			b.buf = b.buf[:0]
			return
		default:
			if b.send(); b.err != nil {
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

// flush writes what is buffered and gives back a borrowed buffer: the
// writer's queue is empty, so traffic has paused.
func (b *writeBuf) flush() error {
	b.send()
	if b.big != nil {
		bigBufs.Put(b.big)
		b.big, b.buf = nil, b.small[:0]
	}
	return b.err
}

var _ io.Reader = (*wire)(nil)
