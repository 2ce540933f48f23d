package socket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/internal/oneframe"
)

// ZMTP 3 framing (RFC 23): a 64-byte greeting, then frames of a flags byte,
// a 1-byte or 8-byte big-endian size, and the body.
const (
	greetingSize = 64
	flagMore     = 0x01
	flagLong     = 0x02
	flagCommand  = 0x04

	// maxCommandSize bounds one command frame. Commands carry metadata during
	// the handshake and PING/PONG after it: a few hundred bytes in practice.
	maxCommandSize = 32 << 10

	// frameCost is what a frame may cost the reader beside its payload, as
	// admit charges it: its slot in the Msg (24 bytes; up to four times over,
	// counting the slots a growing Msg leaves behind) and the rounding of its
	// body's allocation (up to 8 bytes, and an eighth of the payload, which
	// admit's payload rule covers). See admit.
	frameCost = 128

	// growStep is the largest frame body allocated whole from its header;
	// a larger one grows with the bytes that actually arrive, so that a
	// header alone never costs more than this.
	growStep = 64 << 10
)

var errBadFrame = errors.New("socket: malformed ZMTP frame")

// wire is the net.Conn a connection hands to zmq4.Open: buffered both ways,
// and guarded. zmq4 runs the greeting and the security handshake through it,
// and the guard checks each frame header before zmq4 reads the frame. Once
// the handshake is done, the connection reads and writes messages through the
// wire itself (readMsg, writeMsg): the guard checks each header before the
// frame is allocated, takes every command frame out of the stream, so that
// no ZMTP command reaches the application, and turns a PING into a PONG for
// the writer goroutine to send (zmq4 would answer a PING from the reader
// goroutine, racing the writer on the same stream).
//
// The reader goroutine owns the read side (rb), the writer goroutine the
// write side (wb); each side's buffer is small while traffic is light and
// borrows a large one while it is heavy (see buffers.go).
type wire struct {
	net.Conn
	rb readBuf
	wb writeBuf
	// The reader's small one-frame messages, reused when the consumer
	// gives them back (package patterns' inbox; see oneframe.Recycle).
	made oneframe.Cache

	maxMsg      int64    // bound on a message, all frames; -1 for none
	established bool     // handshake done: buffer writes, read with readMsg
	greetLeft   int      // handshake: greeting bytes still to pass through
	peerGreet   [32]byte // the peer's greeting up to its mechanism, as it passed (see mechanismRefused)
	left        uint64   // handshake: bytes of the current command frame still to pass through

	pongMu  sync.Mutex
	pong    []byte      // context of the last PING, to echo in the PONG
	pinged  atomic.Bool // a PONG is owed
	pingSig chan struct{}
	peerTTL atomic.Int64            // the TTL the peer's last PING announced (ns), 0 for none
	onPing  func(ttl time.Duration) // told of each PING's TTL (the heartbeat)

	curve *curveSession // CURVE's keys and nonces once established; nil for NULL and PLAIN

	// The socket's receive budget (WithRecvBudget), nil for none: the
	// reader charges each frame to it as it admits it (see charge).
	recvBudget *recvBudget
	stop       <-chan struct{} // closed as the connection ends: a reader waiting for room gives up
	holding    *atomic.Bool    // set while the reader waits for room (see lifeSigns)
	held       int64           // charged for the message being read
}

func newWire(c net.Conn, maxMsg int64) *wire {
	w := &wire{
		Conn:      c,
		maxMsg:    maxMsg,
		greetLeft: greetingSize,
		pingSig:   make(chan struct{}, 1),
	}
	w.rb.init(c)
	w.wb.init(c)
	return w
}

// release gives back the buffers the wire borrowed, once nothing reads or
// writes it any more.
func (w *wire) release() {
	w.rb.release()
	w.wb.release()
}

// establish switches the wire to its running mode. Called between zmq4.Open
// returning and the reader goroutine starting, so no Read is under way.
func (w *wire) establish() { w.established = true }

// Write buffers once the handshake is done; the writer goroutine flushes when
// its queue runs empty. During the handshake every write goes straight out.
func (w *wire) Write(p []byte) (int, error) {
	if w.established {
		w.wb.write(p)
		return len(p), w.wb.err
	}
	return w.Conn.Write(p)
}

// Flush sends what was buffered.
func (w *wire) Flush() error { return w.wb.flush() }

// Read is zmq4's view of the stream during the handshake: the greeting,
// then command frames, each header checked before zmq4 reads it. After the
// handshake the connection reads messages with readMsg instead.
func (w *wire) Read(p []byte) (int, error) {
	if w.greetLeft > 0 {
		n, err := w.rb.read(p[:min(len(p), w.greetLeft)])
		if at := greetingSize - w.greetLeft; at < len(w.peerGreet) {
			copy(w.peerGreet[at:], p[:n])
		}
		w.greetLeft -= n
		return n, err
	}
	if w.left == 0 {
		if w.established {
			return 0, fmt.Errorf("%w: read past the handshake", errBadFrame)
		}
		flags, hlen, size, err := w.header()
		if err != nil {
			return 0, err
		}
		if flags&flagCommand == 0 {
			return 0, fmt.Errorf("%w: message frame during the handshake", errBadFrame)
		}
		if err := w.peerRefused(hlen, size); err != nil {
			return 0, err
		}
		w.left = uint64(hlen) + size
	}
	n, err := w.rb.read(p[:min(uint64(len(p)), w.left)])
	w.left -= uint64(n)
	return n, err
}

// mechanismRefused says, once the peer's whole greeting has passed, why
// a handshake that failed did: when the peer named a security mechanism
// other than ours, which zmq4 reports in words of its own.
func (w *wire) mechanismRefused(ours string) error {
	g := w.peerGreet[:]
	// A ZMTP 3 greeting: signature 0xFF, padding, 0x7F; version 3.x; then
	// the mechanism, bytes 12 to 31. Anything else is no greeting at all.
	if w.greetLeft > 0 || g[0] != 0xFF || g[9] != 0x7F || g[10] < 3 {
		return nil
	}
	peer := string(bytes.TrimRight(g[12:32], "\x00"))
	if peer == ours {
		return nil
	}
	return fmt.Errorf("%w: the peer's security mechanism is %q, this socket's %q", ErrHandshake, peer, ours)
}

// header peeks at the next frame's header and checks what it can alone:
// known flags, and commands whole and small. It consumes nothing.
func (w *wire) header() (flags byte, hlen int, size uint64, err error) {
	hdr, err := w.rb.peek(2)
	if err != nil {
		return 0, 0, 0, err
	}
	flags, hlen, size = hdr[0], 2, uint64(hdr[1])
	if flags&^(flagMore|flagLong|flagCommand) != 0 {
		return 0, 0, 0, fmt.Errorf("%w: flags %#x", errBadFrame, flags)
	}
	if flags&flagLong != 0 {
		if hdr, err = w.rb.peek(9); err != nil {
			return 0, 0, 0, err
		}
		hlen, size = 9, binary.BigEndian.Uint64(hdr[1:])
	}
	if flags&flagCommand != 0 && (flags&flagMore != 0 || size > maxCommandSize) {
		return 0, 0, 0, fmt.Errorf("%w: command frame of %d bytes", errBadFrame, size)
	}
	return flags, hlen, size, nil
}

// budget is what a message being read has cost so far.
type budget struct {
	payload uint64 // frame bodies, as libzmq counts ZMQ_MAXMSGSIZE
	memory  uint64 // payload plus frameCost a frame
}

// admit charges a frame of size bytes to the message before the frame is
// read. The payload may not pass the maximum message size (libzmq's rule),
// and the memory may not pass twice that, counting frameCost a frame and,
// for a frame over growStep, the half again its chunks cost: a message
// of many small or empty frames costs the reader far more than its payload,
// and without the second rule one endless message of empty frames could
// take all memory. So what the reader allocates for one message stays
// within twice the maximum message size, whatever its shape (see
// FuzzWireMemory).
func (w *wire) admit(b *budget, size uint64) error {
	if size > math.MaxInt64-b.memory-frameCost {
		return fmt.Errorf("%w: frame of %d bytes", errBadFrame, size)
	}
	b.payload += size
	b.memory += size + frameCost
	if size > growStep {
		b.memory += size / 2 // the chunks it is read in (see readBody)
	}
	if w.maxMsg < 0 {
		return nil
	}
	limit := uint64(w.maxMsg)
	switch {
	case b.payload > limit:
		return fmt.Errorf("%w: peer announced %d bytes, limit %d", ErrTooLarge, b.payload, limit)
	case b.memory > 2*limit:
		return fmt.Errorf("%w: %d bytes in frames costing %d to hold, limit %d", ErrTooLarge, b.payload, b.memory, 2*limit)
	}
	return nil
}

// readMsg reads the next message once the handshake is done. This is where
// the guard stands after the handshake: each frame is admitted (see admit)
// before its body is allocated, and a body over growStep grows with the bytes
// that arrive, never from the header alone; commands are taken out of the
// stream (a PING owes a PONG), so none reaches the application. A message
// that is in the buffer whole costs two allocations, whatever its number of
// frames: its Msg, and one block for its bodies. NULL and PLAIN send frames
// as they are; CURVE's are MESSAGEs, which readCurveMsg opens.
func (w *wire) readMsg() (m Msg, err error) {
	if w.recvBudget != nil {
		defer func() { w.settle(m, err) }()
	}
	if w.curve != nil {
		return w.readCurveMsg()
	}
	if len(w.rb.buffered()) == 0 {
		if err := w.rb.fill(); err != nil { // wait for the next bytes, then look for a whole message
			return nil, err
		}
	}
	if m := w.readBuffered(); m != nil {
		return m, nil
	}
	var b budget
	for {
		flags, hlen, size, err := w.header()
		if err != nil {
			return nil, err
		}
		if flags&flagCommand != 0 {
			if len(m) > 0 {
				return nil, fmt.Errorf("%w: command inside a message", errBadFrame)
			}
			if err := w.command(hlen, size); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.admit(&b, size); err != nil {
			return nil, err
		}
		if w.recvBudget != nil {
			if err := w.charge(size, len(m) > 0); err != nil {
				return nil, err
			}
		}
		w.rb.skip(hlen)
		body, err := w.readBody(size)
		if err != nil {
			return nil, err
		}
		if w.recvBudget != nil {
			w.bodyRead(size)
		}
		if len(m) == cap(m) {
			// Doubling, not append's growth: a quarter more at a time
			// beyond 256 frames would leave five times the slots behind.
			grown := make(Msg, len(m), max(4, 2*cap(m)))
			copy(grown, m)
			m = grown
		}
		m = append(m, body)
		if flags&flagMore == 0 {
			return m, nil
		}
	}
}

// readBuffered returns the next message if all of it is in the read buffer
// and admissible, nil if not (readMsg then reads it frame by frame, and
// reports whatever is wrong with it).
func (w *wire) readBuffered() Msg {
	buf := w.rb.buffered()
	var b budget
	frames, i := 0, 0
	for {
		if len(buf)-i < 2 {
			return nil
		}
		flags, hlen, size := buf[i], 2, uint64(buf[i+1])
		if flags&^(flagMore|flagLong) != 0 {
			return nil // a command, or bad flags
		}
		if flags&flagLong != 0 {
			if len(buf)-i < 9 {
				return nil
			}
			hlen, size = 9, binary.BigEndian.Uint64(buf[i+1:])
		}
		if uint64(len(buf)-i-hlen) < size || w.admit(&b, size) != nil {
			return nil
		}
		i += hlen + int(size)
		frames++
		if flags&flagMore == 0 {
			break
		}
	}
	if w.recvBudget != nil {
		// Charged whole, before it is copied out: it is admitted, and the
		// buffer holds it already.
		n := int64(b.payload) + int64(frames)*frameCost // msgCharge of the message made below
		if w.recvBudget.acquire(w, n, false, w.stop) != nil {
			return nil // the connection is ending: readMsg reads on until it fails
		}
		w.held = n
	}
	if frames == 1 { // the common case: the frame and its slice in one allocation
		hlen, size := 2, int(buf[1])
		if buf[0]&flagLong != 0 {
			hlen, size = 9, int(binary.BigEndian.Uint64(buf[1:]))
		}
		m := Msg(w.made.Make(size))
		copy(m[0], buf[hlen:hlen+size])
		w.rb.skip(i)
		return m
	}
	m := make(Msg, frames)
	bodies := make([]byte, b.payload)
	at := 0
	for f := range m {
		hlen, size := 2, int(buf[1])
		if buf[0]&flagLong != 0 {
			hlen, size = 9, int(binary.BigEndian.Uint64(buf[1:]))
		}
		n := copy(bodies[at:], buf[hlen:hlen+size])
		m[f] = bodies[at : at+n : at+n] // capped: appending to one frame never overwrites the next
		at += n
		buf = buf[hlen+size:]
	}
	w.rb.skip(i)
	return m
}

// readBody reads a frame body of size bytes. Up to growStep it is allocated
// at once. A larger one is read in chunks, each twice the last, so that what
// the peer makes us allocate follows what it has sent; once half the frame
// has come, the frame is allocated whole, the chunks copied in and the rest
// read into it. A frame of S bytes so costs 1.5 S allocated (see admit),
// never a header's worth.
func (w *wire) readBody(size uint64) ([]byte, error) {
	if size <= growStep {
		body := make([]byte, size)
		return body, w.rb.readFull(body)
	}
	var chunks [][]byte
	var have uint64
	for next := uint64(growStep); have < size/2; next *= 2 {
		c := make([]byte, min(next, size/2-have))
		if err := w.rb.readFull(c); err != nil {
			return nil, err
		}
		chunks = append(chunks, c)
		have += uint64(len(c))
	}
	body := make([]byte, size)
	at := 0
	for _, c := range chunks {
		at += copy(body[at:], c)
	}
	return body, w.rb.readFull(body[at:])
}

// writeMsg buffers one message's frames; the writer goroutine flushes.
func (w *wire) writeMsg(m Msg) error {
	if w.curve != nil {
		return w.writeCurveMsg(m)
	}
	last := len(m) - 1
	for i, f := range m {
		var flags byte
		if i < last {
			flags = flagMore
		}
		w.wb.frame(flags, f)
	}
	return w.wb.err
}

// writeCommand buffers a command frame: the name, then the body.
func (w *wire) writeCommand(name string, body []byte) error {
	if w.curve != nil {
		return w.writeCurveCommand(name, body)
	}
	var frame [1 + 4 + 2 + 16]byte // PING and PONG, the commands sent after the handshake
	b := append(frame[:0], byte(len(name)))
	b = append(b, name...)
	b = append(b, body...)
	w.wb.frame(flagCommand, b)
	return w.wb.err
}

// peerRefused recognises libzmq's ERROR command during the handshake. libzmq
// spells its name "^RROR" (see plainSecurity.serve), which zmq4 cannot parse;
// the read fails here instead, with the peer's reason.
func (w *wire) peerRefused(hlen int, size uint64) error {
	frame, err := w.rb.peek(hlen + int(min(size, 6+256))) // the name and a reason of at most 255 bytes
	if err != nil {
		return err
	}
	body := frame[hlen:]
	var reason []byte
	switch {
	case len(body) >= 5 && string(body[:5]) == "^RROR": // libzmq's spelling
		reason = body[5:]
	case len(body) >= 6 && string(body[:6]) == "\x05ERROR": // RFC 23's
		reason = body[6:]
	default:
		return nil
	}
	text, _, _ := cutShortString(reason)
	return fmt.Errorf("%w: the peer refused us: %q", ErrAuth, text)
}

// command consumes a command frame after the handshake. A PING (RFC 37, ZMTP
// 3.1) owes a PONG with the PING's context, and may announce how long the
// peer waits for traffic from us (its TTL, in tenths of a second); anything
// else is dropped. Only the first bytes of a command matter, and only they
// are looked at.
func (w *wire) command(hlen int, size uint64) error {
	frame, err := w.rb.peek(hlen + int(min(size, pingPeek)))
	if err != nil {
		return err
	}
	w.handleCommand(frame[hlen:])
	return w.rb.discard(uint64(hlen) + size)
}

// pingPeek is how much of a command matters: a PING's name, TTL and
// context.
const pingPeek = 1 + 4 + 2 + 16

// handleCommand acts on the first bytes of a command (at most pingPeek):
// a PING owes a PONG.
func (w *wire) handleCommand(body []byte) {
	if len(body) >= 1+4 && body[0] == 4 && string(body[1:5]) == "PING" {
		ctx := body[5:]
		var ttl int64
		if len(ctx) >= 2 {
			ttl = int64(binary.BigEndian.Uint16(ctx)) * 100e6 // tenths of a second
			ctx = ctx[2:]
		}
		w.peerTTL.Store(ttl)
		if w.onPing != nil {
			w.onPing(time.Duration(ttl))
		}
		w.pongMu.Lock()
		w.pong = append(w.pong[:0], ctx...)
		w.pongMu.Unlock()
		w.pinged.Store(true)
		select {
		case w.pingSig <- struct{}{}:
		default:
		}
	}
}

// pongContext returns the context to echo, once per PING.
func (w *wire) pongContext() ([]byte, bool) {
	if !w.pinged.Swap(false) {
		return nil, false
	}
	w.pongMu.Lock()
	defer w.pongMu.Unlock()
	return append([]byte(nil), w.pong...), true
}

// errEOF turns an end of stream in the middle of something into
// io.ErrUnexpectedEOF, as io.ReadFull does.
func errEOF(err error, n int) error {
	if err == io.EOF && n > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}
