package socket

import "syscall"

// Write-through. A message goes from Send to the peer through the pipe's
// queue and the connection's writer goroutine, which batches: under load,
// many messages go out in one system call. In a conversation (REQ and REP, a
// broker and its workers) there is nothing to batch, and handing each message
// to the writer costs a goroutine wake-up on both sides of every round trip,
// which on a small machine is more than the write itself. So a sender that
// finds the writer idle and nothing queued writes a small message to the
// socket itself, once per message heard from the peer: a conversation writes
// through, a stream (PUSH, or a DEALER sending ahead) still batches.
//
// The writer goroutine holds wmu while it works, so a write-through never
// interleaves with it. The write never waits: when the kernel takes nothing,
// the message goes the way of any other (the queue, if it has room, or
// another peer, or a wait for room); when it takes part, the writer sends
// the rest before anything else.

// directMax bounds a message written through, headers included: it fits the
// write buffer's small array, so it never borrows or writes in chunks.
const directMax = smallBufSize - 64

// tryDirect writes m through to the peer if the conversation allows: it
// returns false when m must be queued instead, as when the kernel took
// none of it. Any goroutine may call it.
//
// m is counted (Stats().Sent) once the kernel has taken some of it, and
// not before: a write the kernel refuses whole is handed back to the
// caller uncounted, and goes the way of a message that found no room to
// be written through, counted wherever it is queued. Were it queued here
// regardless, it would pass the high-water mark, or be discarded if the
// pipe left during the write, where the caller could have sent it to
// another peer.
func (c *conn) tryDirect(m Msg) bool {
	if !c.p.heard.Load() || c.wrc == nil || !fitsDirect(m) || !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	if c.w.wb.err != nil || len(c.w.wb.buf) != 0 || !c.p.out.passThrough() {
		return false
	}
	c.p.heard.Store(false) // before the write: the peer may answer at once
	c.w.writeMsg(m)        // buffers only: m fits the small array
	switch c.w.wb.tryWrite(c.wrc) {
	case writeNone:
		c.w.wb.buf = c.w.wb.buf[:0]
		return false
	case writePart:
		select { // the writer sends the rest
		case c.flushSig <- struct{}{}:
		default:
		}
	}
	c.p.out.countPut(m) // where a pipe that left since counts it (see countPutLocked)
	return true
}

// fitsDirect reports whether m is small enough to write through.
func fitsDirect(m Msg) bool {
	n := 0
	for _, f := range m {
		if n += 9 + len(f); n > directMax {
			return false
		}
	}
	return true
}

// tryWrite's outcomes.
const (
	writeNone = iota // the kernel took nothing (full, or an error the writer will meet)
	writePart        // it took part: the rest is still buffered
	writeAll
)

// tryWrite writes what is buffered with one system call that never waits,
// and keeps what the kernel did not take at the front of the buffer.
func (b *writeBuf) tryWrite(rc syscall.RawConn) int {
	if rc.Write(b.rawWrite) != nil || b.rawN <= 0 {
		return writeNone
	}
	n := b.rawN
	b.buf = b.buf[:copy(b.buf, b.buf[n:])]
	if len(b.buf) > 0 {
		return writePart
	}
	return writeAll
}

// writeFD is tryWrite's raw write: one attempt, whatever it gives.
func (b *writeBuf) writeFD(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), b.buf)
		if err != syscall.EINTR {
			b.rawN = n
			if err != nil {
				b.rawN = 0
			}
			return true
		}
	}
}
