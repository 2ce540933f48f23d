package socket

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
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
)

var errBadFrame = errors.New("socket: malformed ZMTP frame")

// wire is the net.Conn a connection hands to zmq4.Open: buffered both ways,
// and guarded. The guard follows the frame headers in the incoming byte stream
// and fails the read before zmq4 allocates a frame larger than the socket
// allows. Once the handshake is done it also takes every command frame out of
// the stream, so that no ZMTP command reaches the application, and turns a
// PING into a PONG for the writer goroutine to send: zmq4 would answer a PING
// from the reader goroutine, racing the writer on the same stream.
type wire struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer

	maxMsg      int64  // bound on a message, all frames; -1 for none
	established bool   // handshake done: buffer writes, filter commands
	greetLeft   int    // greeting bytes still to pass through
	left        uint64 // bytes of the current frame (header included) still to pass through
	msgSize     int64  // data bytes of the current message so far

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

// Read passes the stream through to zmq4, checking each frame header first.
func (w *wire) Read(p []byte) (int, error) {
	if w.greetLeft > 0 {
		n, err := w.r.Read(p[:min(len(p), w.greetLeft)])
		w.greetLeft -= n
		return n, err
	}
	for w.left == 0 {
		if err := w.nextFrame(); err != nil {
			return 0, err
		}
	}
	n, err := w.r.Read(p[:min(uint64(len(p)), w.left)])
	w.left -= uint64(n)
	return n, err
}

// nextFrame checks the header of the next frame. It leaves w.left at the
// frame's length, or at 0 after consuming a command frame itself.
func (w *wire) nextFrame() error {
	hdr, err := w.r.Peek(2)
	if err != nil {
		return err
	}
	flags, hlen, size := hdr[0], uint64(2), uint64(hdr[1])
	if flags&^(flagMore|flagLong|flagCommand) != 0 {
		return fmt.Errorf("%w: flags %#x", errBadFrame, flags)
	}
	if flags&flagLong != 0 {
		if hdr, err = w.r.Peek(9); err != nil {
			return err
		}
		hlen, size = 9, binary.BigEndian.Uint64(hdr[1:])
	}
	if flags&flagCommand != 0 {
		if flags&flagMore != 0 || size > maxCommandSize {
			return fmt.Errorf("%w: command frame of %d bytes", errBadFrame, size)
		}
		if !w.established {
			if err := w.peerRefused(int(hlen), int(size)); err != nil {
				return err
			}
			w.left = hlen + size
			return nil
		}
		return w.command(int(hlen), int(size))
	}
	if !w.established {
		return fmt.Errorf("%w: message frame during the handshake", errBadFrame)
	}
	if w.maxMsg >= 0 {
		if size > uint64(w.maxMsg) || w.msgSize+int64(size) > w.maxMsg {
			return fmt.Errorf("%w: peer announced %d bytes, limit %d", ErrTooLarge, uint64(w.msgSize)+size, w.maxMsg)
		}
	}
	if size > 1<<62 {
		return fmt.Errorf("%w: frame of %d bytes", errBadFrame, size)
	}
	w.msgSize += int64(size)
	if flags&flagMore == 0 {
		w.msgSize = 0
	}
	w.left = hlen + size
	return nil
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
