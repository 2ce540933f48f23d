package socket

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
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

	bufferSize = 64 << 10

	// maxFrameSize is the largest frame readMsg allocates when the socket
	// sets no maximum message size (WithMaxMsgSize(-1)): beyond it, make
	// would fail anyway.
	maxFrameSize = 1 << 47
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
type wire struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer

	maxMsg      int64  // bound on a message, all frames; -1 for none
	established bool   // handshake done: buffer writes, read with readMsg
	greetLeft   int    // handshake: greeting bytes still to pass through
	left        uint64 // handshake: bytes of the current command frame still to pass through

	pongMu  sync.Mutex
	pong    []byte      // context of the last PING, to echo in the PONG
	pinged  atomic.Bool // a PONG is owed
	pingSig chan struct{}
}

func newWire(c net.Conn, maxMsg int64) *wire {
	return &wire{
		Conn:      c,
		r:         bufio.NewReaderSize(c, bufferSize),
		w:         bufio.NewWriterSize(c, bufferSize),
		maxMsg:    maxMsg,
		greetLeft: greetingSize,
		pingSig:   make(chan struct{}, 1),
	}
}

// establish switches the wire to its running mode. Called between zmq4.Open
// returning and the reader goroutine starting, so no Read is under way.
func (w *wire) establish() { w.established = true }

// Write buffers once the handshake is done; the writer goroutine flushes when
// its queue runs empty. During the handshake every write goes straight out.
func (w *wire) Write(p []byte) (int, error) {
	if w.established {
		return w.w.Write(p)
	}
	return w.Conn.Write(p)
}

// Flush sends what Write buffered.
func (w *wire) Flush() error { return w.w.Flush() }

// Read is zmq4's view of the stream during the handshake: the greeting,
// then command frames, each header checked before zmq4 reads it. After the
// handshake the connection reads messages with readMsg instead.
func (w *wire) Read(p []byte) (int, error) {
	if w.greetLeft > 0 {
		n, err := w.r.Read(p[:min(len(p), w.greetLeft)])
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
		if err := w.peerRefused(hlen, int(size)); err != nil {
			return 0, err
		}
		w.left = uint64(hlen) + size
	}
	n, err := w.r.Read(p[:min(uint64(len(p)), w.left)])
	w.left -= uint64(n)
	return n, err
}

// header peeks at the next frame's header and checks what it can alone:
// known flags, and commands whole and small. It consumes nothing.
func (w *wire) header() (flags byte, hlen int, size uint64, err error) {
	hdr, err := w.r.Peek(2)
	if err != nil {
		return 0, 0, 0, err
	}
	flags, hlen, size = hdr[0], 2, uint64(hdr[1])
	if flags&^(flagMore|flagLong|flagCommand) != 0 {
		return 0, 0, 0, fmt.Errorf("%w: flags %#x", errBadFrame, flags)
	}
	if flags&flagLong != 0 {
		if hdr, err = w.r.Peek(9); err != nil {
			return 0, 0, 0, err
		}
		hlen, size = 9, binary.BigEndian.Uint64(hdr[1:])
	}
	if flags&flagCommand != 0 && (flags&flagMore != 0 || size > maxCommandSize) {
		return 0, 0, 0, fmt.Errorf("%w: command frame of %d bytes", errBadFrame, size)
	}
	return flags, hlen, size, nil
}

// readMsg reads the next message once the handshake is done. This is where
// the guard stands after the handshake: each frame's size is checked, alone
// and added to the message's, before its body is allocated; commands are
// taken out of the stream (a PING owes a PONG), so none reaches the
// application. zmq4's own reader allocates what the header announces and
// costs four allocations a message; this one costs one a frame and one for
// the message. NULL and PLAIN send frames as they are; a mechanism that
// encrypts them (CURVE) would decrypt here.
func (w *wire) readMsg() (Msg, error) {
	var m Msg
	var total uint64
	for {
		flags, hlen, size, err := w.header()
		if err != nil {
			return nil, err
		}
		if flags&flagCommand != 0 {
			if len(m) > 0 {
				return nil, fmt.Errorf("%w: command inside a message", errBadFrame)
			}
			if err := w.command(hlen, int(size)); err != nil {
				return nil, err
			}
			continue
		}
		total += size
		if w.maxMsg >= 0 && (size > uint64(w.maxMsg) || total > uint64(w.maxMsg)) {
			return nil, fmt.Errorf("%w: peer announced %d bytes, limit %d", ErrTooLarge, total, w.maxMsg)
		}
		if size > maxFrameSize {
			return nil, fmt.Errorf("%w: frame of %d bytes", errBadFrame, size)
		}
		if _, err := w.r.Discard(hlen); err != nil {
			return nil, err
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(w.r, body); err != nil {
			return nil, err
		}
		if flags&flagMore == 0 {
			if m == nil {
				return Msg{body}, nil // most messages: one frame, one small allocation
			}
			return append(m, body), nil
		}
		m = append(m, body)
	}
}

// writeMsg buffers one message's frames; the writer goroutine flushes.
// Header bytes go one by one so that nothing escapes to the heap.
func (w *wire) writeMsg(m Msg) error {
	last := len(m) - 1
	var err error
	for i, f := range m {
		var flags byte
		if i < last {
			flags = flagMore
		}
		if n := uint64(len(f)); n > 255 {
			w.w.WriteByte(flags | flagLong)
			for shift := 56; shift >= 0; shift -= 8 {
				w.w.WriteByte(byte(n >> shift))
			}
		} else {
			w.w.WriteByte(flags)
			w.w.WriteByte(byte(n))
		}
		_, err = w.w.Write(f) // bufio's errors stick: the last one tells
	}
	return err
}

// peerRefused recognises libzmq's ERROR command during the handshake. libzmq
// spells its name "^RROR" (see plainSecurity.serve), which zmq4 cannot parse;
// the read fails here instead, with the peer's reason.
func (w *wire) peerRefused(hlen, size int) error {
	frame, err := w.r.Peek(hlen + size)
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

// command consumes a command frame after the handshake. PING owes a PONG
// with the PING's context (RFC 37, ZMTP 3.1); anything else is dropped.
func (w *wire) command(hlen, size int) error {
	frame, err := w.r.Peek(hlen + size)
	if err != nil {
		return err
	}
	body := frame[hlen:]
	if len(body) >= 1+4 && int(body[0]) == 4 && string(body[1:5]) == "PING" {
		ctx := body[5:]
		if len(ctx) >= 2 {
			ctx = ctx[2:] // TTL
		}
		if len(ctx) > 16 {
			ctx = ctx[:16]
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
	_, err = w.r.Discard(hlen + size)
	return err
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
