package socket_test

// ZMTP heartbeats (RFC 37) between our own sockets and against peers that
// fall silent without hanging up. The libzmq side is in interop_test.go.

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// silentServer accepts connections, completes the NULL handshake as a socket
// of type typ, then reads nothing and answers nothing, as a frozen process
// would. It returns its tcp endpoint and a channel of the connections it
// accepted.
func silentServer(t *testing.T, typ string) (string, <-chan net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p := &rawPeer{t, c}
			c.SetDeadline(time.Now().Add(waitLimit))
			p.write(zmtpGreeting("NULL", false))
			var g [64]byte
			if _, err := c.Read(g[:]); err != nil {
				c.Close()
				continue
			}
			p.write(zmtpCommand("READY", zmtpProps("Socket-Type", typ)))
			if _, _, err := p.readFrame(); err != nil { // their READY
				c.Close()
				continue
			}
			c.SetDeadline(time.Time{})
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	})
	return "tcp://" + l.Addr().String(), accepted
}

// A peer that completes the handshake and then falls silent is dropped once
// nothing has come from it within the timeout after a PING, with
// ErrHeartbeat; the dialer then connects again.
func TestHeartbeatDropsSilentPeer(t *testing.T) {
	ep, accepted := silentServer(t, "PULL")
	push := openSock(t, socket.Push, socket.WithLinger(0),
		socket.WithHeartbeat(50*time.Millisecond, 300*time.Millisecond, 0),
		socket.WithReconnectInterval(10*time.Millisecond))
	push.connect(ep)
	push.await(socket.EventHandshakeOK)
	first := <-accepted

	// The silent peer sees our PINGs, with no TTL asked (0).
	p := &rawPeer{t, first}
	first.SetDeadline(time.Now().Add(waitLimit))
	flags, body, err := p.readFrame()
	if err != nil || flags != 0x04 || string(body) != "\x04PING\x00\x00" {
		t.Fatalf("want a PING command, got flags %#x body %q err %v", flags, body, err)
	}

	e := push.await(socket.EventDisconnected)
	if !errors.Is(e.Err, socket.ErrHeartbeat) {
		t.Fatalf("disconnect %v, want ErrHeartbeat", e)
	}
	push.await(socket.EventHandshakeOK) // reconnected
}

// Heartbeats between two of our sockets keep an idle connection: each side
// answers the other's PINGs, and the PONGs count as signs of life. The
// timeout is kept far above what a PONG takes, so that a busy machine does
// not drop the peer; the idle time is several timeouts.
func TestHeartbeatKeepsIdlePeer(t *testing.T) {
	const timeout = 2 * time.Second
	eachTransport(t, func(t *testing.T, tr transport) {
		if tr.name == "inproc" {
			t.Skip("inproc connections have no ZMTP and no heartbeats")
		}
		t.Parallel()
		hb := socket.WithHeartbeat(100*time.Millisecond, timeout, 10*timeout)
		pull := openSock(t, socket.Pull, hb)
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, hb)
		push.connect(ep)
		push.send("before")
		if m := pull.recv(); !equal(m, "before") {
			t.Fatalf("got %q", m)
		}
		idle := time.NewTimer(3 * timeout)
		defer idle.Stop()
		for {
			select {
			case e := <-push.mon:
				if e.Kind == socket.EventDisconnected {
					t.Fatalf("PUSH lost its idle peer: %v", e)
				}
				continue
			case e := <-pull.mon:
				if e.Kind == socket.EventDisconnected {
					t.Fatalf("PULL lost its idle peer: %v", e)
				}
				continue
			case <-idle.C:
			}
			break
		}
		push.send("after")
		if m := pull.recv(); !equal(m, "after") {
			t.Fatalf("got %q", m)
		}
	})
}

// A bound PUSH whose peer falls silent stops dealing to it once the
// heartbeat drops it: every message then goes to the live peer. (The
// timeout is long enough that a busy machine does not drop the live one.)
func TestHeartbeatPushSkipsDeadPeer(t *testing.T) {
	push := openSock(t, socket.Push, socket.WithLinger(0),
		socket.WithHeartbeat(100*time.Millisecond, 2*time.Second, 0))
	ep := push.bind("tcp://127.0.0.1:*")
	live := openSock(t, socket.Pull)
	live.connect(ep)
	push.await(socket.EventHandshakeOK)

	dead := dialRaw(t, ep) // completes the handshake, then says nothing
	dead.handshake("PULL")
	push.await(socket.EventHandshakeOK)
	e := push.await(socket.EventDisconnected)
	if !errors.Is(e.Err, socket.ErrHeartbeat) || !strings.HasPrefix(e.Remote, "127.0.0.1:") {
		t.Fatalf("disconnect %v, want the silent peer with ErrHeartbeat", e)
	}
	if n := push.Stats().Peers; n != 1 {
		t.Fatalf("%d peers after the drop, want 1", n)
	}
	for i := range 100 {
		push.send("m", string(rune('0'+i%10)))
	}
	for range 100 {
		live.recv()
	}
}

// A peer's TTL is honoured without heartbeats of our own: a peer that asks
// to be dropped after 300 ms of silence, and then falls silent, is dropped.
func TestHeartbeatHonoursPeerTTL(t *testing.T) {
	pull := openSock(t, socket.Pull)
	ep := pull.bind("tcp://127.0.0.1:*")
	p := dialRaw(t, ep)
	p.handshake("PUSH")
	p.write(zmtpCommand("PING", []byte{0, 3})) // TTL 3 tenths of a second
	flags, body, err := p.readFrame()
	if err != nil || flags != 0x04 || string(body) != "\x04PONG" {
		t.Fatalf("want a PONG, got flags %#x body %q err %v", flags, body, err)
	}
	e := pull.await(socket.EventDisconnected)
	if !errors.Is(e.Err, socket.ErrHeartbeat) {
		t.Fatalf("disconnect %v, want ErrHeartbeat", e)
	}
	p.expectClosed()
}

func TestHeartbeatOptions(t *testing.T) {
	for name, o := range map[string]socket.Option{
		"zero interval":    socket.WithHeartbeat(0, time.Second, 0),
		"negative timeout": socket.WithHeartbeat(time.Second, -1, 0),
		"TTL too long":     socket.WithHeartbeat(time.Second, 0, 7000*time.Second),
		"TTL too short":    socket.WithHeartbeat(time.Second, 0, 50*time.Millisecond),
	} {
		if _, err := socket.New(socket.Push, o); !errors.Is(err, socket.ErrBadOption) {
			t.Errorf("%s: got %v, want ErrBadOption", name, err)
		}
	}
}

// A peer that reads a large message slowly, and answers no PING while it
// does, is alive: it is taking our backlog. Heartbeats must not drop it.
func TestHeartbeatSlowReaderAlive(t *testing.T) {
	ep, accepted := silentServer(t, "PULL")
	push := openSock(t, socket.Push, socket.WithLinger(0),
		socket.WithHeartbeat(50*time.Millisecond, time.Second, 0))
	push.connect(ep)
	push.await(socket.EventHandshakeOK)
	c := <-accepted
	// Far more than the kernel's buffers hold, so that a drop shows as a
	// cut stream; read at about 6 MB/s, for a couple of seconds, two timeouts
	// and more.
	const size = 16 << 20
	push.Send(testCtx(t, waitLimit), socket.NewMsg(make([]byte, size)))
	got := 0
	buf := make([]byte, 64<<10)
	c.SetDeadline(time.Now().Add(3 * waitLimit))
	for got < size+9 { // the frame header too
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("the slow reader was dropped after %d of %d bytes: %v", got, size, err)
		}
		got += n
		time.Sleep(10 * time.Millisecond)
	}
	// Now it has nothing to read and answers no PING: it is dropped.
	e := push.await(socket.EventDisconnected)
	if !errors.Is(e.Err, socket.ErrHeartbeat) {
		t.Fatalf("disconnect %v, want ErrHeartbeat", e)
	}
}

// While our receive queue is full, the peer's PONGs wait unread: it cannot
// be judged, and is not dropped however long the application leaves its
// messages waiting.
func TestHeartbeatHeldReaderKeepsPeer(t *testing.T) {
	hb := socket.WithHeartbeat(50*time.Millisecond, 300*time.Millisecond, 0)
	pull := openSock(t, socket.Pull, hb, socket.WithRecvHWM(1))
	ep := pull.bind("tcp://127.0.0.1:*")
	push := openSock(t, socket.Push, hb, socket.WithSendHWM(10))
	push.connect(ep)
	const n = 20
	for i := range n {
		push.send(fmt.Sprint(i))
	}
	// Ten timeouts without a Recv.
	idle := time.NewTimer(3 * time.Second)
	defer idle.Stop()
	for {
		select {
		case e := <-pull.mon:
			if e.Kind == socket.EventDisconnected {
				t.Fatalf("a peer held back by our full queue was dropped: %v", e)
			}
			continue
		case <-idle.C:
		}
		break
	}
	for i := range n {
		if m := pull.recv(); !equal(m, fmt.Sprint(i)) {
			t.Fatalf("message %d: got %q", i, m)
		}
	}
}
