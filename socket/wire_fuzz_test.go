package socket

// FuzzWire feeds arbitrary bytes from a peer through the frame guard: on its
// own, under zmq4's reader after a good handshake, and as the handshake
// itself. Whatever the bytes, nothing panics, no frame or message over the
// limit gets through, and no ZMTP command reaches the application.
//
//	go test -run '^$' -fuzz FuzzWire -fuzztime 60s ./socket
//
// The seed corpus is in testdata/fuzz/FuzzWire.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// fuzzLimit is the maximum message size the fuzzed sockets allow: small, so
// that the fuzzer reaches it easily.
const fuzzLimit = 1024

// scriptConn is a net.Conn whose peer says exactly the script, then EOF;
// what we write is discarded.
type scriptConn struct {
	r     *bytes.Reader
	chunk int // largest read, to vary how the stream is cut
}

func newScriptConn(script []byte, chunk int) *scriptConn {
	return &scriptConn{r: bytes.NewReader(script), chunk: chunk}
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	return c.r.Read(p)
}
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return fuzzAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return fuzzAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

type fuzzAddr struct{}

func (fuzzAddr) Network() string { return "fuzz" }
func (fuzzAddr) String() string  { return "fuzz" }

// peerHandshake is what a good NULL PUSH peer says before its messages.
func peerHandshake() []byte {
	g := make([]byte, greetingSize)
	g[0], g[9], g[10] = 0xFF, 0x7F, 3
	copy(g[12:], "NULL")
	var props []byte
	props = appendProperty(props, "Socket-Type", "PUSH")
	body := append([]byte("\x05READY"), props...)
	return append(append(g, flagCommand, byte(len(body))), body...)
}

func FuzzWire(f *testing.F) {
	f.Add([]byte("\x00\x05hello"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, chunk := range []int{0, 3} {
			checkGuardAlone(t, data, chunk)
		}
		checkUnderZMQ4(t, joinBytes(peerHandshake(), data))
		checkHandshake(t, data)
	})
}

// checkGuardAlone reads everything the guard passes through in established
// mode and parses it: only message frames, none over the limit, no message
// over the limit, and an error that says why it stopped.
func checkGuardAlone(t *testing.T, data []byte, chunk int) {
	w := newWire(newScriptConn(data, chunk), fuzzLimit)
	w.greetLeft = 0
	w.establish()
	var out bytes.Buffer
	buf := make([]byte, 7) // small reads, as zmq4's header reads
	var err error
	for {
		var n int
		n, err = w.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
		if n == 0 {
			t.Fatal("Read returned 0 bytes and no error")
		}
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		!errors.Is(err, ErrTooLarge) && !errors.Is(err, errBadFrame) {
		t.Fatalf("guard stopped with %v", err)
	}
	if out.Len() > len(data) {
		t.Fatalf("guard passed %d bytes of %d", out.Len(), len(data))
	}
	checkFrames(t, out.Bytes())
	if w.pinged.Load() {
		if ctx, ok := w.pongContext(); !ok || len(ctx) > 16 {
			t.Fatalf("PONG context %q, %v", ctx, ok)
		}
	}
}

// checkFrames parses the stream the guard let through.
func checkFrames(t *testing.T, b []byte) {
	var msg uint64
	for len(b) >= 2 {
		flags, size, hlen := b[0], uint64(b[1]), 2
		if flags&flagCommand != 0 {
			t.Fatalf("a command frame got through: % x", b[:min(len(b), 16)])
		}
		if flags&^(flagMore|flagLong) != 0 {
			t.Fatalf("a frame with flags %#x got through", flags)
		}
		if flags&flagLong != 0 {
			if len(b) < 9 {
				return
			}
			size, hlen = binary.BigEndian.Uint64(b[1:9]), 9
		}
		if size > fuzzLimit {
			t.Fatalf("a frame of %d bytes got through, limit %d", size, fuzzLimit)
		}
		if msg += size; msg > fuzzLimit {
			t.Fatalf("a message of %d bytes got through, limit %d", msg, fuzzLimit)
		}
		if flags&flagMore == 0 {
			msg = 0
		}
		if uint64(len(b)-hlen) < size {
			return // the stream ended inside the frame
		}
		b = b[hlen+int(size):]
	}
}

// fuzzNull and fuzzPlain are sockets of the fuzz process, made once:
// handshake only reads their options.
var fuzzNull, fuzzPlain *Socket

func fuzzSockets(t *testing.T) (null, plain *Socket) {
	if fuzzNull == nil {
		var err error
		if fuzzNull, err = New(Pull, WithMaxMsgSize(fuzzLimit)); err != nil {
			t.Fatal(err)
		}
		auth := func(u, p string) error {
			if u == "u" && p == "p" {
				return nil
			}
			return errors.New("bad credentials")
		}
		if fuzzPlain, err = New(Pull, WithMaxMsgSize(fuzzLimit), WithPlainServer(auth)); err != nil {
			t.Fatal(err)
		}
	}
	return fuzzNull, fuzzPlain
}

// checkUnderZMQ4 runs zmq4's reader over the guard as the connection's
// reader goroutine does, without its recover: a panic here would take the
// process down.
func checkUnderZMQ4(t *testing.T, script []byte) {
	s, _ := fuzzSockets(t)
	w, zc, err := s.handshake(newScriptConn(script, 0))
	if err != nil {
		t.Fatalf("handshake with a good peer: %v", err)
	}
	for {
		m, err := zc.RecvMsg()
		if err != nil {
			return
		}
		if m.Type == zmq4.CmdMsg {
			t.Fatalf("a command reached RecvMsg: %v", m)
		}
		if n := Msg(m.Frames).Size(); n > fuzzLimit {
			t.Fatalf("RecvMsg returned %d bytes, limit %d", n, fuzzLimit)
		}
		_, _ = w.pongContext()
	}
}

// checkHandshake uses the bytes as the whole of a peer's side, handshake
// included, against a NULL and a PLAIN server: an error or a connection,
// never a panic (handshake recovers zmq4's panics; it must not need to be
// reached by anything else).
func checkHandshake(t *testing.T, script []byte) {
	null, plain := fuzzSockets(t)
	for name, s := range map[string]*Socket{"null": null, "plain": plain} {
		w, zc, err := s.handshake(newScriptConn(script, 0))
		if err != nil {
			if !errors.Is(err, ErrHandshake) && !errors.Is(err, ErrAuth) {
				t.Fatalf("%s handshake error %v is neither ErrHandshake nor ErrAuth", name, err)
			}
			continue
		}
		for {
			m, err := zc.RecvMsg()
			if err != nil {
				break
			}
			if m.Type == zmq4.CmdMsg || Msg(m.Frames).Size() > fuzzLimit {
				t.Fatalf("%s: RecvMsg returned %v", name, m)
			}
			_, _ = w.pongContext()
		}
	}
}

func joinBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
