package socket

import (
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/crypto/poly1305"
	"golang.org/x/crypto/salsa20/salsa"

	"github.com/zmqflow/zmqflow/socket/internal/salsa20"
)

// CURVE on the wire, once the handshake is done. Each frame travels as one
// MESSAGE: a data frame (libzmq sends it so, MORE clear, whatever the frame
// it carries) whose body is the name, a short nonce and a box of a flags
// byte and the payload. The flags byte is libzmq's: 0x01 MORE, 0x02 a
// command (PING, PONG). The wire reads and writes MESSAGEs itself; the
// session's keys and nonces live here, the writer goroutine owning sendNonce
// and the scratch buffer, the reader goroutine peerNonce.

const (
	curveMsgName = "\x07MESSAGE"
	// curveMsgOverhead is what a MESSAGE adds to a frame's payload: the
	// name, the short nonce, the box's tag and the flags byte.
	curveMsgOverhead = 8 + 8 + poly1305.TagSize + 1
	curveFlagMore    = 0x01
	curveFlagCommand = 0x02

	// maxScratch bounds the buffer a connection keeps for sealing frames too
	// large for its write buffer; a larger one is made for the frame and let go.
	maxScratch = 4 * bigBufSize
)

// curveSession is one connection's CURVE state after the handshake.
type curveSession struct {
	key        [32]byte // precomputed from the two transient keys
	sendPrefix [16]byte // "CurveZMQMESSAGEC" from the client, "...S" from the server
	recvPrefix [16]byte
	sendNonce  uint64 // the next short nonce to send (writer goroutine)
	peerNonce  uint64 // the last short nonce received (reader goroutine)
	scratch    []byte // writer goroutine: for sealing large frames
}

func (s *curveSession) init(send, recv string) {
	copy(s.sendPrefix[:], send)
	copy(s.recvPrefix[:], recv)
}

// readCurveMsg is readMsg for CURVE: each frame is a MESSAGE, admitted on
// its payload before it is read (see admit: frameCost covers the MESSAGE's
// own bytes), checked (its nonce must be above the last), opened, and its
// flags honoured. A MESSAGE that is in the read buffer whole is decrypted
// straight into the frame's own allocation; a larger one is read whole, as
// readBody reads frames, and decrypted in place.
func (w *wire) readCurveMsg() (Msg, error) {
	s := w.curve
	var m Msg
	var b budget
	for {
		flags, hlen, size, err := w.header()
		if err != nil {
			return nil, err
		}
		if flags&flagMore != 0 || size < curveMsgOverhead {
			return nil, fmt.Errorf("%w: frame of %d bytes (flags %#x) is not a MESSAGE", ErrCurve, size, flags)
		}
		if err := w.admit(&b, size-curveMsgOverhead); err != nil {
			return nil, err
		}
		if w.recvBudget != nil {
			if err := w.charge(size-curveMsgOverhead, len(m) > 0); err != nil {
				return nil, err
			}
		}
		var plain []byte // the flags byte, then the payload
		if buf := w.rb.buffered(); uint64(len(buf)-hlen) >= size {
			msg := buf[hlen : hlen+int(size)]
			nonce, n, err := s.openNonce(msg)
			if err != nil {
				return nil, err
			}
			plain = make([]byte, size-32)
			if !openTo(plain, msg[16:], &nonce, &s.key) {
				return nil, fmt.Errorf("%w: MESSAGE %d does not open", ErrCurve, n)
			}
			s.peerNonce = n
			w.rb.skip(hlen + int(size))
		} else {
			// Only the header is checked before the body is read: readBody
			// allocates as the bytes arrive, never from the header alone.
			w.rb.skip(hlen)
			msg, err := w.readBody(size)
			if err != nil {
				return nil, err
			}
			if w.recvBudget != nil {
				w.bodyRead(size - curveMsgOverhead) // as charged
			}
			nonce, n, err := s.openNonce(msg)
			if err != nil {
				return nil, err
			}
			plain = msg[32:]
			if !openTo(plain, msg[16:], &nonce, &s.key) {
				return nil, fmt.Errorf("%w: MESSAGE %d does not open", ErrCurve, n)
			}
			s.peerNonce = n
		}
		mflags, payload := plain[0], plain[1:len(plain):len(plain)]
		if mflags&curveFlagCommand != 0 {
			if len(m) > 0 {
				return nil, fmt.Errorf("%w: command inside a message", errBadFrame)
			}
			w.handleCommand(payload[:min(len(payload), pingPeek)])
			if w.recvBudget != nil {
				w.uncharge(size - curveMsgOverhead) // taken out of the stream
			}
			continue
		}
		if len(m) == cap(m) {
			grown := make(Msg, len(m), max(4, 2*cap(m))) // doubling, as readMsg
			copy(grown, m)
			m = grown
		}
		m = append(m, payload)
		if mflags&curveFlagMore == 0 {
			return m, nil
		}
	}
}

// openNonce checks a MESSAGE's name and short nonce and returns the full
// nonce. The short nonce must be above the last one: a MESSAGE replayed or
// reordered is refused before its box is opened.
func (s *curveSession) openNonce(msg []byte) ([24]byte, uint64, error) {
	var nonce [24]byte
	if string(msg[:8]) != curveMsgName {
		return nonce, 0, fmt.Errorf("%w: command %q where a MESSAGE belongs", ErrCurve, msg[:8])
	}
	n := binary.BigEndian.Uint64(msg[8:16])
	if n <= s.peerNonce {
		return nonce, n, fmt.Errorf("%w: MESSAGE nonce %d after %d: replayed or reordered", ErrCurve, n, s.peerNonce)
	}
	copy(nonce[:], s.recvPrefix[:])
	copy(nonce[16:], msg[8:16])
	return nonce, n, nil
}

// writeCurveMsg is writeMsg for CURVE: a MESSAGE per frame.
func (w *wire) writeCurveMsg(m Msg) error {
	last := len(m) - 1
	for i, f := range m {
		var flags byte
		if i < last {
			flags = curveFlagMore
		}
		w.sealFrame(flags, f)
	}
	return w.wb.err
}

// writeCurveCommand is writeCommand for CURVE: the command in a MESSAGE.
func (w *wire) writeCurveCommand(name string, body []byte) error {
	var cmd [1 + 4 + 2 + 16]byte
	b := append(cmd[:0], byte(len(name)))
	b = append(b, name...)
	b = append(b, body...)
	w.sealFrame(curveFlagCommand, b)
	return w.wb.err
}

// sealFrame buffers one MESSAGE. A small one is laid out and sealed in the
// write buffer itself: the payload is copied once, and encrypted where it
// lies. A large one is sealed in the scratch buffer and written from there,
// as writeBuf.frame writes large frames.
func (w *wire) sealFrame(flags byte, payload []byte) {
	s, wb := w.curve, &w.wb
	if wb.err != nil {
		return
	}
	if s.sendNonce == math.MaxUint64 {
		wb.err = fmt.Errorf("%w: out of nonces", ErrCurve) // 2^64 MESSAGEs: never
		return
	}
	n := s.sendNonce
	s.sendNonce++
	size := curveMsgOverhead + len(payload)
	var nonce [24]byte
	copy(nonce[:], s.sendPrefix[:])
	binary.BigEndian.PutUint64(nonce[16:], n)

	var msg []byte
	if size <= bigBufSize/2 {
		if !wb.reserve(9 + size) {
			return
		}
		wb.header(0, size)
		at := len(wb.buf)
		wb.buf = wb.buf[:at+size]
		msg = wb.buf[at:]
	} else {
		if cap(s.scratch) < size {
			s.scratch = make([]byte, size)
		}
		msg = s.scratch[:size]
	}
	copy(msg, curveMsgName)
	copy(msg[8:], nonce[16:])
	msg[32] = flags
	copy(msg[33:], payload)
	sealInPlace(msg[16:], &nonce, &s.key)
	if size > bigBufSize/2 {
		wb.frame(0, msg)
		if cap(s.scratch) > maxScratch {
			s.scratch = nil
		}
	}
}

// reserve makes room for n more bytes in the write buffer (n at most
// bigBufSize), as frame does: borrowing the large buffer, or sending what
// is buffered. It reports false if a write failed.
func (b *writeBuf) reserve(n int) bool {
	if len(b.buf)+n <= cap(b.buf) {
		return true
	}
	if b.big == nil && len(b.buf)+n <= bigBufSize {
		b.big = getBig()
		b.buf = append(b.big[:0], b.buf...)
		return true
	}
	if b.sendMore(); b.err != nil {
		return false
	}
	if n > cap(b.buf) { // only the small buffer: borrow the large one
		b.big = getBig()
		b.buf = b.big[:0]
	}
	return true
}

// NaCl's secretbox (XSalsa20 and Poly1305), in place. x/crypto's secretbox
// refuses overlapping buffers, which would cost a MESSAGE a copy each way;
// these are the same construction (tested against it, see
// TestCurveBoxMatchesSecretbox) working where the bytes lie.

// sealInPlace encrypts b[16:] where it lies and writes the tag to b[:16].
func sealInPlace(b []byte, nonce *[24]byte, key *[32]byte) {
	var subKey, polyKey [32]byte
	var counter [16]byte
	block := xsalsaFirst(&subKey, &counter, &polyKey, nonce, key)
	m := b[poly1305.TagSize:]
	xsalsaXOR(m, m, &block, &counter, &subKey)
	var tag [poly1305.TagSize]byte
	poly1305.Sum(&tag, m, &polyKey)
	copy(b, tag[:])
}

// openTo checks the box b (tag, then ciphertext) and decrypts it into dst,
// which is b[16:] itself or does not overlap it; len(dst) == len(b)-16.
// Nothing is written unless the tag holds.
func openTo(dst, b []byte, nonce *[24]byte, key *[32]byte) bool {
	if len(b) < poly1305.TagSize || len(dst) != len(b)-poly1305.TagSize {
		return false
	}
	var subKey, polyKey [32]byte
	var counter [16]byte
	block := xsalsaFirst(&subKey, &counter, &polyKey, nonce, key)
	var tag [poly1305.TagSize]byte
	copy(tag[:], b)
	if !poly1305.Verify(&tag, b[poly1305.TagSize:], &polyKey) {
		return false
	}
	xsalsaXOR(dst, b[poly1305.TagSize:], &block, &counter, &subKey)
	return true
}

// xsalsaFirst derives the XSalsa20 subkey and counter from the nonce and
// returns the first keystream block: its first half is the Poly1305 key,
// its second half encrypts the first 32 bytes of the message.
func xsalsaFirst(subKey *[32]byte, counter *[16]byte, polyKey *[32]byte, nonce *[24]byte, key *[32]byte) [64]byte {
	var hNonce [16]byte
	copy(hNonce[:], nonce[:16])
	salsa.HSalsa20(subKey, &hNonce, key, &salsa.Sigma)
	copy(counter[:], nonce[16:])
	var block [64]byte
	salsa.XORKeyStream(block[:], block[:], counter, subKey)
	copy(polyKey[:], block[:32])
	return block
}

// xsalsaXOR encrypts (or decrypts) src into dst: the first 32 bytes with the
// rest of the first block, the others from block 1 on, with the eight-block
// Salsa20 where the CPU has it (the bulk of a MESSAGE's CPU time).
func xsalsaXOR(dst, src []byte, block *[64]byte, counter *[16]byte, subKey *[32]byte) {
	first := min(len(src), 32)
	for i := range first {
		dst[i] = src[i] ^ block[32+i]
	}
	if len(src) > 32 {
		counter[8] = 1
		salsa20.XORKeyStream(dst[32:], src[32:], counter, subKey)
	}
}
