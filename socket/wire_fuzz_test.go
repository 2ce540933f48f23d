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
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
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
		checkBudgetAlone(t, data)
		checkAfterHandshake(t, joinBytes(peerHandshake(), data))
		checkHandshake(t, data)
	})
}

// checkGuardAlone reads messages with readMsg from a wire in established
// mode: only message frames come out, none and no message over the limit,
// and the read stops with an error that says why.
func checkGuardAlone(t *testing.T, data []byte, chunk int) {
	w := newWire(newScriptConn(data, chunk), fuzzLimit)
	w.greetLeft = 0
	w.establish()
	readAll(t, "guard", w)
}

// checkBudgetAlone reads messages as checkGuardAlone does, charging them to
// a receive budget the size of a message, and releasing each as it comes:
// whatever the bytes, a message returned holds its msgCharge and nothing
// more, and a read that fails holds nothing.
func checkBudgetAlone(t *testing.T, data []byte) {
	w := newWire(newScriptConn(data, 7), fuzzLimit)
	w.greetLeft = 0
	w.establish()
	w.recvBudget, w.stop = newRecvBudget(fuzzLimit), make(chan struct{})
	for {
		m, err := w.readMsg()
		checkCharged(t, w, m, err)
		if err != nil {
			return
		}
	}
}

// checkCharged checks what a budgeted wire's readMsg left charged, and
// releases m as Recv would.
func checkCharged(t *testing.T, w *wire, m Msg, err error) {
	t.Helper()
	want := int64(0)
	if err == nil {
		want = msgCharge(m)
	}
	if got := w.recvBudget.level.Load(); got != want || w.held != 0 || w.recvBudget.over.Load() != nil {
		t.Fatalf("after a read (err %v): budget level %d, want %d; reader holds %d; overdraft %v", err, got, want, w.held, w.recvBudget.over.Load() != nil)
	}
	w.recvBudget.released(m)
}

// readAll reads messages until the stream fails, checking each.
func readAll(t *testing.T, who string, w *wire) {
	var read int
	for {
		m, err := w.readMsg()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
				!errors.Is(err, ErrTooLarge) && !errors.Is(err, errBadFrame) {
				t.Fatalf("%s: readMsg stopped with %v", who, err)
			}
			break
		}
		if len(m) == 0 {
			t.Fatalf("%s: readMsg returned a message of no frames", who)
		}
		if n := m.Size(); n > fuzzLimit {
			t.Fatalf("%s: readMsg returned %d bytes, limit %d", who, n, fuzzLimit)
		}
		if read += m.Size(); read > 1<<20 {
			t.Fatalf("%s: more read than the fuzz input can hold", who)
		}
	}
	if w.pinged.Load() {
		if ctx, ok := w.pongContext(); !ok || len(ctx) > 16 {
			t.Fatalf("%s: PONG context %q, %v", who, ctx, ok)
		}
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
		auth := func(_ context.Context, r AuthRequest) error {
			if r.Username == "u" && r.Password == "p" {
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

// checkAfterHandshake runs the handshake with a good peer through zmq4, then
// reads as the connection's reader goroutine does, without its recover: a
// panic here would take the process down.
func checkAfterHandshake(t *testing.T, script []byte) {
	s, _ := fuzzSockets(t)
	w, _, err := s.handshake(context.Background(), "fuzz", newScriptConn(script, 0))
	if err != nil {
		t.Fatalf("handshake with a good peer: %v", err)
	}
	readAll(t, "after handshake", w)
}

// checkHandshake uses the bytes as the whole of a peer's side, handshake
// included, against a NULL and a PLAIN server: an error or a connection,
// never a panic (handshake recovers zmq4's panics; it must not need to be
// reached by anything else).
func checkHandshake(t *testing.T, script []byte) {
	null, plain := fuzzSockets(t)
	for name, s := range map[string]*Socket{"null": null, "plain": plain} {
		w, _, err := s.handshake(context.Background(), "fuzz", newScriptConn(script, 0))
		if err != nil {
			if !errors.Is(err, ErrHandshake) && !errors.Is(err, ErrAuth) {
				t.Fatalf("%s handshake error %v is neither ErrHandshake nor ErrAuth", name, err)
			}
			continue
		}
		readAll(t, name, w)
	}
}

func joinBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// FuzzWireMemory checks what reading costs, not only that it fails safely:
// whatever a peer sends, the bytes the reader allocates for one message, or
// for the frames of one it then refuses, stay within twice the maximum
// message size (see admit), plus a little for the reader's own errors. The
// large read buffers come from a pool shared by all connections and are not
// counted.
//
//	go test -run '^$' -fuzz FuzzWireMemory -fuzztime 60s ./socket
//
// The seed corpus is in testdata/fuzz/FuzzWireMemory.
func FuzzWireMemory(f *testing.F) {
	endless := func(frameSize, frames int) []byte {
		var b []byte
		for range frames {
			b = append(b, flagMore, byte(frameSize))
			b = append(b, make([]byte, frameSize)...)
		}
		return b
	}
	f.Add(endless(0, 5000))                                           // the endless message of empty frames
	f.Add(endless(1, 3000))                                           // of 1-byte frames
	f.Add(endless(9, 500))                                            // of frames that round up badly
	f.Add(append(endless(0, 7), 0, 255))                              // a last frame that never comes
	f.Add(binary.BigEndian.AppendUint64([]byte{flagLong}, fuzzLimit)) // announced, not sent
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, chunk := range []int{0, 7} {
			for k := 0; ; k++ {
				got, frames, err := readCost(data, chunk, k)
				// The fuzzing engine's own goroutines allocate now and then
				// while the reader runs: measure again before calling it
				// the reader's.
				for try := 0; try < 3 && got > 2*fuzzLimit+readerSlack; try++ {
					got, frames, err = readCost(data, chunk, k)
				}
				if got > 2*fuzzLimit+readerSlack {
					t.Fatalf("reading message %d, %d frames (err %v), allocated %d bytes, bound %d",
						k, frames, err, got, 2*fuzzLimit+readerSlack)
				}
				if err != nil {
					break
				}
			}
		}
	})
}

// readCost reads messages from data until message k, and returns what
// reading that one allocated, its frames and the read's error.
func readCost(data []byte, chunk, k int) (allocs uint64, frames int, err error) {
	return readCostLimit(data, chunk, k, fuzzLimit)
}

func readCostLimit(data []byte, chunk, k int, limit int64) (allocs uint64, frames int, err error) {
	w := newWire(newScriptConn(data, chunk), limit)
	w.greetLeft = 0
	w.establish()
	for range k {
		if _, err := w.readMsg(); err != nil {
			return 0, 0, err
		}
	}
	var m Msg
	pooled := bigBufsMade.Load()
	allocs = fuzzcheck.Allocated(func() { m, err = w.readMsg() })
	return allocs - uint64(bigBufsMade.Load()-pooled)*bigBufSize, len(m), err
}

// readerSlack is what the reader may allocate beside a message's frames:
// the error that ends a read, with its formatted detail.
const readerSlack = 512

// Frames over growStep are read in chunks: what a message of them costs
// stays within twice the maximum message size too, whether it is admitted
// (a frame of the whole limit) or refused (empty frames and a large one).
func TestWireMemoryLargeFrames(t *testing.T) {
	const limit = 1 << 20
	frame := func(flags byte, size int) []byte {
		return append(binary.BigEndian.AppendUint64([]byte{flags | flagLong}, uint64(size)), make([]byte, size)...)
	}
	var empties []byte
	for range 6000 {
		empties = append(empties, flagMore, 0)
	}
	for name, data := range map[string][]byte{
		"one frame of the limit":           frame(0, limit),
		"two half frames":                  append(frame(flagMore, limit/2), frame(0, limit/2)...),
		"empty frames, then a large one":   append(empties, frame(0, limit-100)...),
		"a large frame, then empty frames": append(frame(flagMore, limit-100), empties...),
	} {
		got, _, err := readCostLimit(data, 0, 0, limit)
		for try := 0; try < 3 && got > 2*limit+readerSlack; try++ {
			got, _, err = readCostLimit(data, 0, 0, limit)
		}
		t.Logf("%s: %d bytes allocated (err %v)", name, got, err)
		if got > 2*limit+readerSlack {
			t.Errorf("%s: allocated %d bytes, bound %d", name, got, 2*limit+readerSlack)
		}
	}
}
