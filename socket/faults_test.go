package socket_test

// Hostile and broken peers, from a raw TCP client that writes ZMTP 3.0 by
// hand (RFC 23): a socket must drop them with the right monitor event, never
// crash, never allocate what a peer announces, and never let a ZMTP command
// reach the application.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// zmtpGreeting is a ZMTP 3.0 greeting: signature, version 3.0, mechanism
// padded to 20 bytes, as-server, filler.
func zmtpGreeting(mechanism string, asServer bool) []byte {
	g := make([]byte, 64)
	g[0], g[9] = 0xFF, 0x7F
	g[10], g[11] = 3, 0
	copy(g[12:32], mechanism)
	if asServer {
		g[32] = 1
	}
	return g
}

// zmtpFrame is one frame: flags, a short or long size, the body.
func zmtpFrame(flags byte, body []byte) []byte {
	if len(body) > 255 {
		b := []byte{flags | 0x02}
		b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
		return append(b, body...)
	}
	return append([]byte{flags, byte(len(body))}, body...)
}

// zmtpCommand is a command frame: name length, name, data.
func zmtpCommand(name string, data []byte) []byte {
	body := append([]byte{byte(len(name))}, name...)
	return zmtpFrame(0x04, append(body, data...))
}

// zmtpProps encodes metadata properties: name length, name, 4-byte value
// length, value.
func zmtpProps(kv ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, byte(len(kv[i])))
		b = append(b, kv[i]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(kv[i+1])))
		b = append(b, kv[i+1]...)
	}
	return b
}

// rawPeer is a hand-driven TCP client of a socket under test.
type rawPeer struct {
	t *testing.T
	net.Conn
}

func dialRaw(t *testing.T, ep string) *rawPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(ep, "tcp://"), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	return &rawPeer{t, c}
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.Write(b); err != nil {
		p.t.Fatalf("raw write: %v", err)
	}
}

// readFrame reads one frame from the socket under test.
func (p *rawPeer) readFrame() (flags byte, body []byte, err error) {
	var hdr [9]byte
	if _, err := io.ReadFull(p, hdr[:2]); err != nil {
		return 0, nil, err
	}
	flags, size := hdr[0], uint64(hdr[1])
	if flags&0x02 != 0 {
		if _, err := io.ReadFull(p, hdr[2:9]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(hdr[1:9])
	}
	if size > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes from the socket under test", size)
	}
	body = make([]byte, size)
	_, err = io.ReadFull(p, body)
	return flags, body, err
}

// handshake does the NULL handshake as a peer of type typ.
func (p *rawPeer) handshake(typ string) {
	p.t.Helper()
	p.write(zmtpGreeting("NULL", false))
	var g [64]byte
	if _, err := io.ReadFull(p, g[:]); err != nil {
		p.t.Fatalf("reading the greeting: %v", err)
	}
	if g[0] != 0xFF || g[9] != 0x7F || g[10] != 3 || string(bytes.TrimRight(g[12:32], "\x00")) != "NULL" {
		p.t.Fatalf("bad greeting from the socket: % x", g)
	}
	p.write(zmtpCommand("READY", zmtpProps("Socket-Type", typ)))
	flags, body, err := p.readFrame()
	if err != nil || flags != 0x04 || !bytes.HasPrefix(body, []byte("\x05READY")) {
		p.t.Fatalf("want READY from the socket, got flags %#x body %q err %v", flags, body, err)
	}
}

// expectClosed waits until the socket under test hangs up.
func (p *rawPeer) expectClosed() {
	p.t.Helper()
	buf := make([]byte, 4096)
	for {
		_, err := p.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.t.Fatalf("the socket did not hang up in %v", waitLimit)
		}
		return
	}
}

// The raw client's bytes are right: a message it sends arrives.
func TestRawPeerSends(t *testing.T) {
	pull := openSock(t, socket.Pull)
	ep := pull.bind("tcp://127.0.0.1:*")
	p := dialRaw(t, ep)
	p.handshake("PUSH")
	p.write(zmtpFrame(0x01, []byte("a")))
	p.write(zmtpFrame(0x00, bytes.Repeat([]byte("b"), 300)))
	m := pull.recv()
	if len(m) != 2 || m[0] != "a" || m[1] != strings.Repeat("b", 300) {
		t.Fatalf("got %q", m)
	}
}

// A frame header announcing 1 TiB gets the peer dropped with ErrTooLarge,
// before anything of that size is allocated; the socket goes on serving.
func TestFaultHugeFrameHeader(t *testing.T) {
	pull := openSock(t, socket.Pull)
	ep := pull.bind("tcp://127.0.0.1:*")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	for _, flags := range []byte{0x00, 0x01} { // last frame and first of several
		p := dialRaw(t, ep)
		p.handshake("PUSH")
		hdr := []byte{flags | 0x02}
		hdr = binary.BigEndian.AppendUint64(hdr, 1<<40)
		p.write(append(hdr, "the start of a very long frame"...))
		e := pull.await(socket.EventDisconnected)
		if !errors.Is(e.Err, socket.ErrTooLarge) {
			t.Errorf("disconnect event %v, want ErrTooLarge", e)
		}
		p.expectClosed()
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}

	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send("still here")
	if m := pull.recv(); !equal(m, "still here") {
		t.Fatalf("got %q", m)
	}
}

// Messages over WithMaxMsgSize, in one frame or across frames, get the peer
// dropped with ErrTooLarge; a message at the limit passes.
func TestFaultMaxMsgSize(t *testing.T) {
	pull := openSock(t, socket.Pull, socket.WithMaxMsgSize(1000))
	ep := pull.bind("tcp://127.0.0.1:*")
	for _, tc := range []struct {
		name   string
		frames [][]byte
	}{
		{"one frame", [][]byte{make([]byte, 1001)}},
		{"two frames", [][]byte{make([]byte, 600), make([]byte, 401)}},
	} {
		p := dialRaw(t, ep)
		p.handshake("PUSH")
		for i, f := range tc.frames {
			var flags byte
			if i < len(tc.frames)-1 {
				flags = 0x01
			}
			p.write(zmtpFrame(flags, f))
		}
		e := pull.await(socket.EventDisconnected)
		if !errors.Is(e.Err, socket.ErrTooLarge) {
			t.Errorf("%s: disconnect event %v, want ErrTooLarge", tc.name, e)
		}
	}
	// Our own PUSH: the limit holds for it too, and exactly 1000 passes.
	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send(strings.Repeat("x", 600), strings.Repeat("y", 400))
	if m := pull.recv(); len(m) != 2 || len(m[0])+len(m[1]) != 1000 {
		t.Fatalf("got %d frames", len(m))
	}
	push.send(strings.Repeat("x", 1001))
	e := pull.await(socket.EventDisconnected)
	if !errors.Is(e.Err, socket.ErrTooLarge) {
		t.Errorf("disconnect event %v, want ErrTooLarge", e)
	}
}

// Peers that fail the handshake in any way are dropped with
// EventHandshakeFailed (ErrHandshake), never a panic, and the socket goes on.
func TestFaultBadHandshakes(t *testing.T) {
	long := func(flags byte, size uint64) []byte {
		return binary.BigEndian.AppendUint64([]byte{flags}, size)
	}
	greeting := zmtpGreeting("NULL", false)
	cases := []struct {
		name  string
		bytes []byte
	}{
		{"garbage instead of a greeting", []byte(strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 3))},
		{"greeting with a bad signature", append([]byte{0xFE}, greeting[1:]...)},
		{"greeting for ZMTP 2", func() []byte { g := zmtpGreeting("NULL", false); g[10] = 2; return g }()},
		{"PLAIN greeting to a NULL socket", zmtpGreeting("PLAIN", false)},
		{"CURVE greeting", zmtpGreeting("CURVE", false)},
		{"incompatible socket type", cat(greeting, zmtpCommand("READY", zmtpProps("Socket-Type", "PUB")))},
		{"unknown socket type", cat(greeting, zmtpCommand("READY", zmtpProps("Socket-Type", "BOGUS")))},
		{"no socket type", cat(greeting, zmtpCommand("READY", nil))},
		{"property name past the end", cat(greeting, zmtpCommand("READY", []byte{40, 'S', 'o', 'c'}))},
		{"property value past the end", cat(greeting, zmtpCommand("READY", cat(
			[]byte{11}, []byte("Socket-Type"), []byte{0, 0, 0x10, 0}, []byte("PUSH"))))},
		{"value length 4 GiB", cat(greeting, zmtpCommand("READY", cat(
			[]byte{11}, []byte("Socket-Type"), []byte{0xFF, 0xFF, 0xFF, 0xFF}, []byte("PUSH"))))},
		{"truncated value length", cat(greeting, zmtpCommand("READY", cat([]byte{11}, []byte("Socket-Type"), []byte{0, 0})))},
		{"empty property name", cat(greeting, zmtpCommand("READY", cat([]byte{0, 0, 0, 0, 4}, []byte("PUSH"))))},
		{"command name past the end", cat(greeting, zmtpFrame(0x04, []byte{30, 'R', 'E', 'A', 'D', 'Y'}))},
		{"empty command", cat(greeting, zmtpFrame(0x04, nil))},
		{"unknown command", cat(greeting, zmtpCommand("HELLO", zmtpProps("Socket-Type", "PUSH")))},
		{"message frame instead of READY", cat(greeting, zmtpFrame(0x00, []byte("hello")))},
		{"command with MORE", cat(greeting, zmtpFrame(0x05, []byte("\x05READY")))},
		{"reserved flag bits", cat(greeting, zmtpFrame(0x44, []byte("\x05READY")))},
		{"command of 1 TiB", cat(greeting, long(0x06, 1<<40))},
		{"command of 2^64-1 bytes", cat(greeting, long(0x06, ^uint64(0)))},
	}
	// What the error says, where zmq4's own words would not tell a user.
	says := map[string]string{
		"PLAIN greeting to a NULL socket": `the peer's security mechanism is "PLAIN", this socket's "NULL"`,
		"CURVE greeting":                  `the peer's security mechanism is "CURVE", this socket's "NULL"`,
	}
	pull := openSock(t, socket.Pull)
	ep := pull.bind("tcp://127.0.0.1:*")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, ep)
			p.write(tc.bytes)
			e := pull.await(socket.EventHandshakeFailed)
			if !errors.Is(e.Err, socket.ErrHandshake) {
				t.Errorf("event %v, want ErrHandshake", e)
			}
			if e.Err != nil && !strings.Contains(e.Err.Error(), says[tc.name]) {
				t.Errorf("error %q, want it to say %q", e.Err, says[tc.name])
			}
			if _, ok := says[tc.name]; !ok && e.Err != nil && strings.Contains(e.Err.Error(), "security mechanism is") {
				t.Errorf("error %q names a mechanism the peer did not send", e.Err)
			}
			p.expectClosed()
		})
	}
	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send("still here")
	if m := pull.recv(); !equal(m, "still here") {
		t.Fatalf("got %q", m)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// A client that says nothing is dropped after the handshake timeout.
func TestFaultSilentClient(t *testing.T) {
	const timeout = 300 * time.Millisecond
	pull := openSock(t, socket.Pull, socket.WithHandshakeTimeout(timeout))
	ep := pull.bind("tcp://127.0.0.1:*")
	start := time.Now()
	p := dialRaw(t, ep)
	e := pull.await(socket.EventHandshakeFailed)
	d := time.Since(start)
	if !errors.Is(e.Err, socket.ErrHandshake) {
		t.Errorf("event %v, want ErrHandshake", e)
	}
	if d < timeout*8/10 {
		t.Errorf("dropped after %v, before the timeout of %v", d, timeout)
	}
	p.expectClosed()

	// One that stops after the greeting, too.
	p = dialRaw(t, ep)
	p.write(zmtpGreeting("NULL", false))
	pull.await(socket.EventHandshakeFailed)
	p.expectClosed()
}

// A silent server: our connecting socket gives up the handshake after the
// timeout and tries again.
func TestFaultSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	push := openSock(t, socket.Push, socket.WithHandshakeTimeout(200*time.Millisecond),
		socket.WithReconnectInterval(50*time.Millisecond))
	push.connect("tcp://" + l.Addr().String())
	e := push.await(socket.EventHandshakeFailed)
	if !errors.Is(e.Err, socket.ErrHandshake) {
		t.Errorf("event %v, want ErrHandshake", e)
	}
	push.await(socket.EventConnectRetried)
	must(t, push.Close())
	l.Close()
	for c := range accepted {
		c.Close()
	}
}

// PLAIN: the server's authenticator decides, knowing where the peer comes
// from; bad credentials are dropped with ErrAuth, good ones pass.
func TestFaultPlainAuth(t *testing.T) {
	var mu sync.Mutex
	var seen []socket.AuthRequest
	auth := func(_ context.Context, r socket.AuthRequest) error {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		if r.Username == "admin" && r.Password == "secret" {
			return nil
		}
		return errors.New("no such user")
	}
	pull := openSock(t, socket.Pull, socket.WithPlainServer(auth))
	ep := pull.bind("tcp://127.0.0.1:*")

	bad := openSock(t, socket.Push, socket.WithPlainClient("admin", "guess"), socket.WithReconnectInterval(time.Hour))
	bad.connect(ep)
	e := pull.await(socket.EventHandshakeFailed)
	if !errors.Is(e.Err, socket.ErrAuth) {
		t.Errorf("server event %v, want ErrAuth", e)
	}
	e = bad.await(socket.EventHandshakeFailed)
	if !errors.Is(e.Err, socket.ErrAuth) {
		t.Errorf("client event %v, want ErrAuth", e)
	}
	mu.Lock()
	r := seen[0]
	mu.Unlock()
	if r.Mechanism != "PLAIN" || r.Endpoint != ep || !strings.HasPrefix(r.Remote, "127.0.0.1:") || r.Username != "admin" || r.Password != "guess" {
		t.Errorf("the authenticator saw %+v", r)
	}

	null := openSock(t, socket.Push, socket.WithReconnectInterval(time.Hour))
	null.connect(ep)
	e = pull.await(socket.EventHandshakeFailed)
	if !errors.Is(e.Err, socket.ErrHandshake) {
		t.Errorf("NULL client to a PLAIN server: event %v, want ErrHandshake", e)
	}

	good := openSock(t, socket.Push, socket.WithPlainClient("admin", "secret"))
	good.connect(ep)
	good.send("authenticated")
	if m := pull.recv(); !equal(m, "authenticated") {
		t.Fatalf("got %q", m)
	}

	// The client remembers its credentials across a reconnect.
	pull2ep := ep
	must(t, pull.Close())
	good.await(socket.EventDisconnected)
	pull2 := openSock(t, socket.Pull, socket.WithPlainServer(auth))
	pull2.bind(pull2ep)
	good.send("again")
	if m := pull2.recv(); !equal(m, "again") {
		t.Fatalf("after reconnect got %q", m)
	}
}

// A client whose credentials are refused stops: it does not redial (a client
// that retries them is a guesser), reports it with EventClosed, and
// discards what it had queued. WithRedialAfterAuthFailure keeps it trying.
func TestFaultPlainRefusedStops(t *testing.T) {
	var attempts atomic.Int32
	// The refusal waits until both messages are queued: once refused, the
	// client has no peer, and a send would wait for one.
	queued := make(chan struct{})
	auth := func(ctx context.Context, r socket.AuthRequest) error {
		select {
		case <-queued:
		case <-ctx.Done():
		}
		attempts.Add(1)
		return errors.New("no such user")
	}
	pull := openSock(t, socket.Pull, socket.WithPlainServer(auth))
	ep := pull.bind("tcp://127.0.0.1:*")

	push := openSock(t, socket.Push, socket.WithPlainClient("admin", "guess"),
		socket.WithReconnectInterval(10*time.Millisecond))
	push.connect(ep)
	push.send("a")
	push.send("b")
	close(queued)
	e := push.await(socket.EventClosed)
	if !errors.Is(e.Err, socket.ErrAuth) || e.Endpoint != ep {
		t.Fatalf("event %v, want closed %s with ErrAuth", e, ep)
	}
	if n := push.Stats().Discarded; n != 2 {
		t.Errorf("Stats().Discarded = %d, want the 2 queued messages", n)
	}
	// Fifty reconnect intervals: a redialling client would have tried again.
	time.Sleep(50 * 10 * time.Millisecond)
	if n := attempts.Load(); n != 1 {
		t.Errorf("the server saw %d attempts, want 1", n)
	}

	// Stopped, the endpoint may be connected again: one more attempt.
	push.connect(ep)
	push.await(socket.EventClosed)
	if n := attempts.Load(); n != 2 {
		t.Errorf("the server saw %d attempts, want 2", n)
	}

	retry := openSock(t, socket.Push, socket.WithPlainClient("admin", "guess"),
		socket.WithReconnectInterval(10*time.Millisecond), socket.WithRedialAfterAuthFailure(), socket.WithLinger(0))
	retry.connect(ep)
	for range 3 {
		e := retry.await(socket.EventHandshakeFailed)
		if !errors.Is(e.Err, socket.ErrAuth) {
			t.Fatalf("event %v, want ErrAuth", e)
		}
	}
}

// A PING after the handshake gets a PONG with its context, and never
// reaches Recv.
func TestFaultPingPong(t *testing.T) {
	pull := openSock(t, socket.Pull)
	ep := pull.bind("tcp://127.0.0.1:*")
	p := dialRaw(t, ep)
	p.handshake("PUSH")
	for i, pingCtx := range []string{"ctx-1", "", "0123456789abcdef"} {
		ttl := []byte{0, 100} // 10 s, in tenths
		p.write(zmtpCommand("PING", cat(ttl, []byte(pingCtx))))
		flags, body, err := p.readFrame()
		if err != nil {
			t.Fatalf("PING %d: reading the PONG: %v", i, err)
		}
		if want := "\x04PONG" + pingCtx; flags != 0x04 || string(body) != want {
			t.Fatalf("PING %d: got flags %#x body %q, want a PONG command %q", i, flags, body, want)
		}
	}
	// A PING right before a message: the message arrives alone.
	p.write(cat(
		zmtpCommand("PING", []byte{0, 0}),
		zmtpFrame(0x01, []byte("part1")),
		zmtpFrame(0x00, []byte("part2")),
	))
	if m := pull.recv(); !equal(m, "part1", "part2") {
		t.Fatalf("Recv got %q, want [part1 part2] (a PING must not reach the application)", m)
	}
	if _, _, err := p.readFrame(); err != nil {
		t.Fatalf("no PONG for the last PING: %v", err)
	}
	if m, ok := pull.tryRecv(50 * time.Millisecond); ok {
		t.Fatalf("Recv got %q after the message", m)
	}
}

// Connections that never finish the handshake are cheap to hold: a few KB
// of heap each, while the buffers a busy connection borrows stay in their
// pool. A peer that handshakes at once still gets in.
func TestFaultHalfOpenConnectionsCheap(t *testing.T) {
	const n = 500
	pull := openSock(t, socket.Pull, socket.WithMaxHandshakes(2*n))
	ep := pull.bind("tcp://127.0.0.1:*")
	before := heapInUse()
	conns := make([]net.Conn, 0, n)
	for range n {
		conns = append(conns, dialRaw(t, ep).Conn)
		pull.await(socket.EventAccepted)
	}
	perConn := (int64(heapInUse()) - int64(before)) / n
	t.Logf("%d half-open connections: %d bytes of heap each, both ends", n, perConn)
	if perConn > 16<<10 {
		t.Errorf("a half-open connection costs %d bytes of heap, want under 16 KiB", perConn)
	}
	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send("still here")
	if m := pull.recv(); !equal(m, "still here") {
		t.Fatalf("got %q", m)
	}
	runtime.KeepAlive(conns)
}

// Beyond WithMaxHandshakes, a new connection closes the one that has waited
// longest in the handshake, with ErrHandshakeLimit: clients that connect and
// say nothing can hold at most that many, and a real peer gets in.
func TestFaultHandshakeLimit(t *testing.T) {
	const limit, extra = 20, 30
	pull := openSock(t, socket.Pull, socket.WithMaxHandshakes(limit))
	ep := pull.bind("tcp://127.0.0.1:*")
	var silent []*rawPeer
	refused := 0
	for range limit + extra {
		silent = append(silent, dialRaw(t, ep))
		for e := pull.nextEvent(); e.Kind != socket.EventAccepted; e = pull.nextEvent() {
			if e.Kind == socket.EventHandshakeFailed {
				if !errors.Is(e.Err, socket.ErrHandshakeLimit) {
					t.Fatalf("event %v, want ErrHandshakeLimit", e)
				}
				refused++
			}
		}
	}
	for ; refused < extra; refused++ {
		e := pull.await(socket.EventHandshakeFailed)
		if !errors.Is(e.Err, socket.ErrHandshakeLimit) {
			t.Fatalf("event %v, want ErrHandshakeLimit", e)
		}
	}
	for _, p := range silent[:extra] { // the oldest went
		p.expectClosed()
	}
	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send("still here")
	if m := pull.recv(); !equal(m, "still here") {
		t.Fatalf("got %q", m)
	}
}

// Beyond WithMaxPeers, a bound endpoint refuses a connection with
// ErrPeerLimit: one that comes while it is full as it is accepted, one that
// finishes its handshake when the last place went meanwhile as it does; the
// peers in keep theirs, and a place freed takes a new peer.
func TestFaultPeerLimit(t *testing.T) {
	pull := openSock(t, socket.Pull, socket.WithMaxPeers(2))
	ep := pull.bind("tcp://127.0.0.1:*")
	refused := func() {
		t.Helper()
		e := pull.await(socket.EventHandshakeFailed)
		if !errors.Is(e.Err, socket.ErrPeerLimit) {
			t.Fatalf("event %v, want ErrPeerLimit", e)
		}
	}
	first := dialRaw(t, ep)
	first.handshake("PUSH")
	pull.await(socket.EventHandshakeOK)
	// Accepted with a place left, handshaken once the place went.
	late := dialRaw(t, ep)
	pull.await(socket.EventAccepted)
	second := dialRaw(t, ep)
	second.handshake("PUSH")
	pull.await(socket.EventHandshakeOK)
	late.handshake("PUSH")
	refused()
	late.expectClosed()
	// Full: refused before any handshake.
	third := dialRaw(t, ep)
	refused()
	third.expectClosed()

	second.write([]byte{0x00, 3, 'o', 'n', 'e'})
	if m := pull.recv(); !equal(m, "one") {
		t.Fatalf("got %q", m)
	}
	first.Close()
	pull.await(socket.EventDisconnected)
	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send("in its place")
	if m := pull.recv(); !equal(m, "in its place") {
		t.Fatalf("got %q", m)
	}
}

func TestMaxPeersBadOption(t *testing.T) {
	if _, err := socket.New(socket.Pull, socket.WithMaxPeers(0)); !errors.Is(err, socket.ErrBadOption) {
		t.Fatalf("WithMaxPeers(0): %v, want ErrBadOption", err)
	}
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Without a maximum message size, a header announcing 1 TiB costs only what
// actually arrives: the frame's buffer grows with the bytes, never from the
// header, and the peer's going frees it.
func TestFaultUnlimitedHugeHeader(t *testing.T) {
	pull := openSock(t, socket.Pull, socket.WithMaxMsgSize(-1))
	ep := pull.bind("tcp://127.0.0.1:*")
	before := heapInUse()
	p := dialRaw(t, ep)
	p.handshake("PUSH")
	hdr := binary.BigEndian.AppendUint64([]byte{0x02}, 1<<40)
	p.write(append(hdr, make([]byte, 1<<20)...)) // 1 MiB of the 1 TiB promised
	// The process is still here, and the socket serves another peer while
	// the liar's frame is half read.
	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send("still here")
	if m := pull.recv(); !equal(m, "still here") {
		t.Fatalf("got %q", m)
	}
	if grew := int64(heapInUse()) - int64(before); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB for 1 MiB received", grew>>20)
	}
	p.Close()
	pull.await(socket.EventDisconnected)
}

// A PLAIN server that connects (the roles of connecting and authenticating
// are apart in ZMTP) and refuses its peer's credentials goes on redialling:
// it is not the one guessing.
func TestFaultPlainServerDialerRedials(t *testing.T) {
	client := openSock(t, socket.Push, socket.WithPlainClient("admin", "guess"), socket.WithLinger(0))
	ep := client.bind("tcp://127.0.0.1:*")
	refuse := func(context.Context, socket.AuthRequest) error { return errors.New("no such user") }
	server := openSock(t, socket.Pull, socket.WithPlainServer(refuse), socket.WithReconnectInterval(10*time.Millisecond))
	server.connect(ep)
	for range 3 {
		e := server.await(socket.EventHandshakeFailed)
		if !errors.Is(e.Err, socket.ErrAuth) {
			t.Fatalf("event %v, want ErrAuth", e)
		}
	}
}

// The authenticator's ctx ends when the socket closes: an authenticator that
// waits (to slow a guesser, or on a service) does not hold Close up for the
// handshake timeout.
func TestFaultAuthenticatorCtxEndsAtClose(t *testing.T) {
	called := make(chan struct{}, 1)
	ended := make(chan error, 1)
	wait := func(ctx context.Context, r socket.AuthRequest) error {
		called <- struct{}{}
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}
	server := openSock(t, socket.Pull, socket.WithPlainServer(wait)) // handshake timeout: 30 s
	ep := server.bind("tcp://127.0.0.1:*")
	client := openSock(t, socket.Push, socket.WithPlainClient("admin", "secret"), socket.WithLinger(0))
	client.connect(ep)
	<-called
	closed := make(chan error, 1)
	go func() { closed <- server.Close() }()
	select {
	case err := <-closed:
		must(t, err)
	case <-time.After(waitLimit):
		t.Fatalf("Close still waiting for the authenticator after %v", waitLimit)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the authenticator's ctx ended with %v, want context.Canceled", err)
	}
}
