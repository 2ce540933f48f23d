package socket_test

// Lifetime and plumbing: HWM blocking, Close and linger, reconnects,
// endpoints, sentinel errors and monitor events.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/socket"
)

// PUSH blocks at the high-water mark until its ctx ends, whether the
// peer is stalled or there is no peer at all.
func TestPushBlocksAtHWM(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(1))
		ep := pull.bind(tr.endpoint(t))
		// No linger: what is still queued at the end is not the point, and
		// Close would wait for the stalled PULL for the default 30 s.
		push := openSock(t, socket.Push, socket.WithSendHWM(2), socket.WithLinger(0))
		push.connect(ep)
		push.await(socket.EventHandshakeOK)

		// The PULL never reads: kernel buffers fill, then the queues, then
		// Send must block. 1 MiB messages keep the count small.
		big := socket.NewMsg(make([]byte, 1<<20))
		var err error
		sent := 0
		for ; sent < 200; sent++ {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			start := time.Now()
			err = push.Send(ctx, big)
			cancel()
			if err != nil {
				if d := time.Since(start); d < 250*time.Millisecond {
					t.Errorf("Send failed after %v, before its ctx ended", d)
				}
				break
			}
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("after %d messages of 1 MiB to a stalled PULL: err %v, want context.DeadlineExceeded", sent, err)
		}
		t.Logf("blocked after %d messages", sent)

		// The queue moves again once the PULL reads: the blocked sender
		// gets through, and every message arrives.
		pull.recv()
		ctx := testCtx(t, waitLimit)
		done := make(chan error, 1)
		go func() { done <- push.Send(ctx, big) }()
		for range sent {
			if _, err := pull.Recv(ctx); err != nil {
				t.Fatalf("PULL Recv: %v", err)
			}
		}
		must(t, <-done)
	})
}

// A bound PUSH with no peer blocks at once, and a connected one blocks once
// the kept queue is full (nothing listens at the endpoint).
func TestPushBlocksWithoutPeer(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		bound := openSock(t, socket.Push)
		bound.bind(tr.endpoint(t))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		isErr(t, "bound PUSH without peers", bound.Send(ctx, socket.NewMsgString("x")), context.DeadlineExceeded)

		ep := tr.endpoint(t)
		if tr.name == "tcp" {
			ep = freeTCPEndpoint(t)
		}
		// WithLinger(0): nobody will take the queued messages, and Close
		// would otherwise wait the linger period for a peer.
		conn := openSock(t, socket.Push, socket.WithSendHWM(3), socket.WithLinger(0))
		conn.connect(ep)
		// The peer's queue is there from Connect on, as in libzmq: it
		// takes HWM messages (inproc too, before the Bind).
		for i := range 3 {
			conn.send(fmt.Sprint(i))
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel2()
		isErr(t, "connected PUSH with a full queue", conn.Send(ctx2, socket.NewMsgString("x")), context.DeadlineExceeded)
	})
}

// Send, Recv and every other call after Close fail with ErrClosed; Close
// may be called again; a Send or Recv blocked in Close returns ErrClosed;
// the monitor channel is closed; no goroutine is left.
func TestCloseSemantics(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull)
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push)
		push.connect(ep)
		push.send("x")
		pull.recv()

		idle := openSock(t, socket.Push)
		idle.bind(tr.endpoint(t))
		blockedSend := make(chan error, 1)
		go func() { blockedSend <- idle.Send(context.Background(), socket.NewMsgString("x")) }()
		blockedRecv := make(chan error, 1)
		go func() { _, err := pull.Recv(context.Background()); blockedRecv <- err }()

		for _, s := range []*tsock{push, pull, idle} {
			must(t, s.Close())
			must(t, s.Close())
		}
		for name, ch := range map[string]chan error{"Send": blockedSend, "Recv": blockedRecv} {
			select {
			case err := <-ch:
				isErr(t, name+" blocked when Close was called", err, socket.ErrClosed)
			case <-time.After(waitLimit):
				t.Fatalf("%s blocked in Close did not return", name)
			}
		}
		ctx := testCtx(t, time.Second)
		isErr(t, "Send after Close", push.Send(ctx, socket.NewMsgString("x")), socket.ErrClosed)
		_, err := pull.Recv(ctx)
		isErr(t, "Recv after Close", err, socket.ErrClosed)
		_, err = pull.Bind(tr.endpoint(t))
		isErr(t, "Bind after Close", err, socket.ErrClosed)
		isErr(t, "Connect after Close", push.Connect(ep), socket.ErrClosed)
		sub := openSock(t, socket.Sub)
		must(t, sub.Close())
		isErr(t, "Subscribe after Close", sub.Subscribe([]byte("a")), socket.ErrClosed)

		for _, s := range []*tsock{push, pull, idle, sub} {
			for range s.mon { // drains, and ends because Close closed it
			}
		}
		goleak.VerifyNone(t)
	})
}

// Close honours linger: 10,000 messages queued for a connected PULL all
// arrive although the PUSH closes right after sending them.
func TestCloseLingerDelivers(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		const n = 10000
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(n))
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithSendHWM(n))
		push.connect(ep)
		push.await(socket.EventHandshakeOK)
		payload := strings.Repeat("p", 100)
		for i := range n {
			push.send(fmt.Sprint(i), payload)
		}
		start := time.Now()
		must(t, push.Close())
		t.Logf("Close took %v", time.Since(start))
		for i := range n {
			m := pull.recv()
			if m[0] != fmt.Sprint(i) {
				t.Fatalf("message %d arrived as %q", i, m[0])
			}
		}
	})
}

// Linger covers a connection still being set up: Connect, Send, Close at
// once (the guide's first examples do this) delivers the messages, as in
// libzmq, where the session keeps connecting for the linger period.
func TestCloseLingerBeforeHandshake(t *testing.T) {
	for _, tr := range transports[:2] { // inproc Send delivers at once
		t.Run(tr.name, func(t *testing.T) {
			pull := openSock(t, socket.Pull)
			ep := pull.bind(tr.endpoint(t))
			for round := range 5 {
				push := openSock(t, socket.Push, socket.WithLinger(5*time.Second))
				push.connect(ep)
				for i := range 10 {
					push.send(fmt.Sprint(round), fmt.Sprint(i))
				}
				must(t, push.Close())
				for i := range 10 {
					m, ok := pull.tryRecv(time.Second)
					if !ok {
						t.Fatalf("round %d: %d of 10 messages arrived; Close dropped the rest although linger was 5s", round, i)
					}
					if !equal(m, fmt.Sprint(round), fmt.Sprint(i)) {
						t.Fatalf("round %d: got %q, want message %d", round, m, i)
					}
				}
			}
		})
	}
}

// WithLinger(0) discards what is queued and Close returns at once; a short
// linger bounds Close with a stalled peer.
func TestCloseLingerBounded(t *testing.T) {
	for _, tr := range transports[:2] { // linger is about connections: tcp and ipc
		t.Run(tr.name, func(t *testing.T) {
			for _, tc := range []struct {
				linger   time.Duration
				min, max time.Duration
			}{
				// The upper bounds are generous (a busy machine stalls), and
				// far below the default linger of 30 s that Close would
				// otherwise wait.
				{0, 0, waitLimit},
				{300 * time.Millisecond, 250 * time.Millisecond, waitLimit},
			} {
				t.Run(fmt.Sprint(tc.linger), func(t *testing.T) {
					pull := openSock(t, socket.Pull, socket.WithRecvHWM(1))
					ep := pull.bind(tr.endpoint(t))
					push := openSock(t, socket.Push, socket.WithLinger(tc.linger), socket.WithSendHWM(10))
					push.connect(ep)
					push.await(socket.EventHandshakeOK)
					big := socket.NewMsg(make([]byte, 1<<20))
					for {
						ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
						err := push.Send(ctx, big)
						cancel()
						if err != nil {
							isErr(t, "Send to a stalled PULL", err, context.DeadlineExceeded)
							break
						}
					}
					start := time.Now()
					must(t, push.Close())
					if d := time.Since(start); d < tc.min || d > tc.max {
						t.Errorf("Close with linger %v and a stalled peer took %v, want %v..%v", tc.linger, d, tc.min, tc.max)
					}
				})
			}
		})
	}
}

// Connect may come before Bind: the message sent meanwhile arrives.
func TestConnectBeforeBind(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ep := tr.endpoint(t)
		if tr.name == "tcp" {
			ep = freeTCPEndpoint(t)
		}
		push := openSock(t, socket.Push, socket.WithReconnectInterval(20*time.Millisecond))
		push.connect(ep)
		push.send("early") // queued for the peer to come
		pull := openSock(t, socket.Pull)
		pull.bind(ep)
		if m := pull.recv(); !equal(m, "early") {
			t.Fatalf("got %q", m)
		}
	})
}

// A connecting socket reconnects when its peer goes away and a new one binds
// the same endpoint; a message sent in the gap waits for it.
func TestReconnectAfterPeerRestart(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull1 := openSock(t, socket.Pull)
		ep := pull1.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithReconnectInterval(20*time.Millisecond))
		push.connect(ep)
		push.send("one")
		if m := pull1.recv(); !equal(m, "one") {
			t.Fatalf("got %q", m)
		}
		must(t, pull1.Close())
		if tr.name != "inproc" {
			push.await(socket.EventDisconnected)
			push.send("in the gap")
		}
		pull2 := openSock(t, socket.Pull)
		if got := pull2.bind(ep); got != ep {
			t.Fatalf("rebinding %s got %s", ep, got)
		}
		if tr.name == "inproc" {
			push.send("in the gap")
		}
		if m := pull2.recv(); !equal(m, "in the gap") {
			t.Fatalf("got %q", m)
		}
		push.send("two")
		if m := pull2.recv(); !equal(m, "two") {
			t.Fatalf("got %q", m)
		}
	})
}

// Wildcard binds resolve to a usable endpoint.
func TestWildcardBind(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:*", "tcp://127.0.0.1:0", "tcp://*:*"} {
		t.Run(ep, func(t *testing.T) {
			pull := openSock(t, socket.Pull)
			got := pull.bind(ep)
			host, port, err := net.SplitHostPort(strings.TrimPrefix(got, "tcp://"))
			if err != nil || port == "0" || port == "*" || !strings.HasPrefix(got, "tcp://") {
				t.Fatalf("Bind(%q) = %q, want tcp://host:port with the port picked", ep, got)
			}
			if strings.HasPrefix(ep, "tcp://*") && host != "0.0.0.0" {
				t.Errorf("Bind(%q) = %q, want host 0.0.0.0", ep, got)
			}
			push := openSock(t, socket.Push)
			push.connect("tcp://" + net.JoinHostPort("127.0.0.1", port))
			push.send("hi")
			if m := pull.recv(); !equal(m, "hi") {
				t.Fatalf("got %q", m)
			}
			must(t, pull.Unbind(got))
		})
	}
}

// Unbind closes the endpoint and its connections and frees it for a new
// bind; Disconnect stops sending to that peer. Both refuse what is not
// bound or connected.
func TestUnbindDisconnect(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a, b := openSock(t, socket.Pull), openSock(t, socket.Pull)
		epA, epB := a.bind(tr.endpoint(t)), b.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithReconnectInterval(20*time.Millisecond))
		push.connect(epA)
		push.connect(epB)
		must(t, push.Disconnect(epA))
		for i := range 10 {
			push.send(fmt.Sprint(i))
		}
		for i := range 10 {
			if m := b.recv(); !equal(m, fmt.Sprint(i)) {
				t.Fatalf("after Disconnect of A, B got %q as message %d", m, i)
			}
		}
		isErr(t, "Disconnect again", push.Disconnect(epA), socket.ErrNotBound)
		isErr(t, "Disconnect never connected", push.Disconnect("tcp://127.0.0.1:1"), socket.ErrNotBound)

		// Unbind B: push loses its peer and the endpoint is free again.
		must(t, b.Unbind(epB))
		isErr(t, "Unbind again", b.Unbind(epB), socket.ErrNotBound)
		if tr.name != "inproc" {
			push.awaitOn(socket.EventDisconnected, epB)
		}
		c := openSock(t, socket.Pull)
		c.bind(epB)
		push.send("to c")
		if m := c.recv(); !equal(m, "to c") {
			t.Fatalf("new binder got %q", m)
		}
	})
}

// One socket binds and connects on several endpoints and transports at once.
func TestManyEndpoints(t *testing.T) {
	pull := openSock(t, socket.Pull)
	var eps []string
	for _, tr := range transports {
		for range 2 {
			eps = append(eps, pull.bind(tr.endpoint(t)))
		}
	}
	push := openSock(t, socket.Push)
	for _, ep := range eps {
		push.connect(ep)
	}
	const n = 60
	for i := range n {
		push.send(fmt.Sprint(i))
	}
	seen := map[string]bool{}
	for range n {
		seen[pull.recv()[0]] = true
	}
	if len(seen) != n {
		t.Errorf("got %d distinct messages, want %d", len(seen), n)
	}
	if s := pull.Stats(); s.Peers != len(eps) {
		t.Errorf("PULL has %d peers, want %d", s.Peers, len(eps))
	}

	// A PUSH connected to several PULLs on different transports.
	pulls := make([]*tsock, len(transports))
	push2 := openSock(t, socket.Push)
	for i, tr := range transports {
		pulls[i] = openSock(t, socket.Pull)
		push2.connect(pulls[i].bind(tr.endpoint(t)))
	}
	for i := range 3 * len(pulls) {
		push2.send(fmt.Sprint(i))
	}
	for _, p := range pulls {
		for range 3 {
			p.recv()
		}
	}
}

// Bad endpoints, options and operations give the package's sentinel errors.
func TestSentinelErrors(t *testing.T) {
	for _, ep := range []string{"", "tcp://", "tcp:/x", "foo://bar", "tcp://127.0.0.1", "tcp://127.0.0.1:99999",
		"tcp://127.0.0.1:abc", "inproc://", "ipc://"} {
		s := openSock(t, socket.Pull)
		_, err := s.Bind(ep)
		isErr(t, fmt.Sprintf("Bind(%q)", ep), err, socket.ErrBadEndpoint)
		isErr(t, fmt.Sprintf("Connect(%q)", ep), s.Connect(ep), socket.ErrBadEndpoint)
	}
	for _, ep := range []string{"tcp://127.0.0.1:*", "tcp://127.0.0.1:0", "tcp://*:5555", "tcp://:5555"} {
		s := openSock(t, socket.Push)
		isErr(t, fmt.Sprintf("Connect(%q)", ep), s.Connect(ep), socket.ErrBadEndpoint)
	}

	for name, opt := range map[string]socket.Option{
		"WithSendHWM(0)":                 socket.WithSendHWM(0),
		"WithRecvHWM(-1)":                socket.WithRecvHWM(-1),
		"WithReconnectInterval(0)":       socket.WithReconnectInterval(0),
		"WithReconnectIntervalMax(-1)":   socket.WithReconnectIntervalMax(-1),
		"WithHandshakeTimeout(0)":        socket.WithHandshakeTimeout(0),
		"WithMaxMsgSize(0)":              socket.WithMaxMsgSize(0),
		"WithMaxMsgSize(-2)":             socket.WithMaxMsgSize(-2),
		"WithIdentity(nil)":              socket.WithIdentity(nil),
		"WithIdentity(0x00...)":          socket.WithIdentity([]byte{0, 'a'}),
		"WithIdentity(256 bytes)":        socket.WithIdentity(make([]byte, 256)),
		"WithPlainServer(nil)":           socket.WithPlainServer(nil),
		"WithPlainClient(long user)":     socket.WithPlainClient(strings.Repeat("u", 256), "p"),
		"WithPlainClient(long password)": socket.WithPlainClient("u", strings.Repeat("p", 256)),
	} {
		_, err := socket.New(socket.Dealer, opt)
		isErr(t, name, err, socket.ErrBadOption)
	}
	_, err := socket.New(socket.Dealer, socket.WithPlainClient("u", "p"), socket.WithPlainServer(func(context.Context, socket.AuthRequest) error { return nil }))
	isErr(t, "PLAIN client and server at once", err, socket.ErrBadOption)
	for _, typ := range []socket.Type{0, socket.Type(99), -1} {
		_, err := socket.New(typ)
		isErr(t, fmt.Sprintf("New(Type(%d))", typ), err, socket.ErrBadType)
	}
	_, err = socket.ParseType("ROUTERX")
	isErr(t, "ParseType", err, socket.ErrBadType)

	ctx := testCtx(t, time.Second)
	for _, typ := range []socket.Type{socket.Pull, socket.Sub} {
		s := openSock(t, typ)
		isErr(t, fmt.Sprintf("Send on %v", typ), s.Send(ctx, socket.NewMsgString("x")), socket.ErrNotSupported)
	}
	for _, typ := range []socket.Type{socket.Push, socket.Pub} {
		s := openSock(t, typ)
		_, err := s.Recv(ctx)
		isErr(t, fmt.Sprintf("Recv on %v", typ), err, socket.ErrNotSupported)
	}
	for _, typ := range []socket.Type{socket.Pub, socket.XPub, socket.XSub, socket.Push, socket.Router} {
		s := openSock(t, typ)
		isErr(t, fmt.Sprintf("Subscribe on %v", typ), s.Subscribe([]byte("a")), socket.ErrNotSupported)
		isErr(t, fmt.Sprintf("Unsubscribe on %v", typ), s.Unsubscribe([]byte("a")), socket.ErrNotSupported)
	}
	push := openSock(t, socket.Push)
	isErr(t, "Send of an empty message", push.Send(ctx, socket.Msg{}), socket.ErrEmptyMsg)
	router := openSock(t, socket.Router)
	isErr(t, "ROUTER Send without a body", router.Send(ctx, socket.NewMsgString("id")), socket.ErrEmptyMsg)
	isErr(t, "Unbind of an endpoint never bound", push.Unbind("tcp://127.0.0.1:1"), socket.ErrNotBound)
	isErr(t, "Unbind of an inproc name never bound", push.Unbind("inproc://never-bound-here"), socket.ErrNotBound)

	// Binding what is taken.
	for _, tr := range transports {
		a, b := openSock(t, socket.Pull), openSock(t, socket.Pull)
		ep := a.bind(tr.endpoint(t))
		_, err := b.Bind(ep)
		isErr(t, tr.name+" bind of a taken endpoint", err, socket.ErrAddrInUse)
		// Said once, naming the endpoint; the system's error is kept.
		if want := "socket: address already in use: " + ep; err != nil && err.Error() != want {
			t.Errorf("%s bind of a taken endpoint: %q, want %q", tr.name, err, want)
		}
		if tr.name != "inproc" && !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("%s bind of a taken endpoint: %v does not wrap EADDRINUSE", tr.name, err)
		}
		_, err = a.Bind(ep)
		isErr(t, tr.name+" second bind of one endpoint on one socket", err, socket.ErrAddrInUse)
	}
	// Connecting twice to one endpoint.
	for _, tr := range transports {
		p := openSock(t, socket.Pull)
		ep := p.bind(tr.endpoint(t))
		s := openSock(t, socket.Push)
		s.connect(ep)
		if err := s.Connect(ep); err == nil {
			t.Errorf("%s: second Connect to %s succeeded", tr.name, ep)
		}
	}
}

// The monitor tells a connection's story in order.
func TestMonitorSequence(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull)
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push)
		push.connect(ep)
		push.send("x")
		pull.recv()
		must(t, push.Close())
		var pushKinds []socket.EventKind
		for e := range push.mon {
			pushKinds = append(pushKinds, e.Kind)
			if e.Endpoint != ep {
				t.Errorf("PUSH event %v: endpoint %q, want %q", e, e.Endpoint, ep)
			}
		}
		var wantPull, wantPush []socket.EventKind
		if tr.name == "inproc" {
			wantPull = []socket.EventKind{socket.EventListening, socket.EventHandshakeOK}
			wantPush = []socket.EventKind{socket.EventHandshakeOK}
		} else {
			wantPull = []socket.EventKind{socket.EventListening, socket.EventAccepted, socket.EventHandshakeOK, socket.EventDisconnected}
			wantPush = []socket.EventKind{socket.EventConnected, socket.EventHandshakeOK, socket.EventDisconnected, socket.EventClosed}
		}
		if !kindsEqual(pushKinds, wantPush) {
			t.Errorf("PUSH events %v, want %v", pushKinds, wantPush)
		}
		for _, want := range wantPull {
			e := pull.await(want)
			if e.Endpoint != ep {
				t.Errorf("PULL event %v: endpoint %q, want %q", e, e.Endpoint, ep)
			}
			if tr.name == "tcp" && want != socket.EventListening && e.Remote == "" {
				t.Errorf("PULL event %v has no remote address", e)
			}
		}
		must(t, pull.Unbind(ep))
		pull.await(socket.EventClosed)
	})
}

func kindsEqual(a, b []socket.EventKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Shutdown lingers until its ctx ends, not for the linger period, and
// reports what it discarded: messages queued for a peer that never came, on
// every transport (inproc queues for a Bind that never came).
func TestShutdownDiscards(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ep := tr.endpoint(t)
		if tr.name == "tcp" {
			ep = freeTCPEndpoint(t)
		}
		push := openSock(t, socket.Push) // the default linger: 30 s
		push.connect(ep)
		for i := range 3 {
			push.send(fmt.Sprint(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- push.Shutdown(ctx) }()
		select {
		case err := <-done:
			isErr(t, "Shutdown", err, socket.ErrDiscarded)
			isErr(t, "Shutdown", err, context.DeadlineExceeded)
			if !strings.Contains(fmt.Sprint(err), "3 messages") {
				t.Errorf("Shutdown: %v, want it to count 3 messages", err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("Shutdown still lingering %v after its ctx ended", waitLimit)
		}
		if n := push.Stats().Discarded; n != 3 {
			t.Errorf("Stats().Discarded = %d, want 3", n)
		}
		must(t, push.Shutdown(ctx)) // closed already
		must(t, push.Close())
	})
}

// A Close or Shutdown while the first one lingers waits for it to end, as
// Close promises (its goroutines ended), but a Shutdown's own ctx bounds
// its wait.
func TestSecondCloseWaitsForFirst(t *testing.T) {
	push := openSock(t, socket.Push) // the default linger: 30 s
	push.connect(freeTCPEndpoint(t))
	push.send("queued for a peer that never comes")
	first, endFirst := context.WithCancel(context.Background())
	defer endFirst()
	firstDone := make(chan error, 1)
	go func() { firstDone <- push.Shutdown(first) }()
	for end := time.Now().Add(waitLimit); !errors.Is(push.TrySend(socket.NewMsgString("x")), socket.ErrClosed); {
		if time.Now().After(end) { // the first has not begun
			t.Fatalf("Send still open %v after Shutdown was called", waitLimit)
		}
		runtime.Gosched()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() { second <- push.Shutdown(ctx) }()
	select {
	case err := <-second:
		must(t, err)
	case <-time.After(waitLimit):
		endFirst()
		<-second
		t.Fatalf("a second Shutdown waited %v past its own ctx for the first", waitLimit)
	}

	closed := make(chan error, 1)
	go func() { closed <- push.Close() }()
	select {
	case <-closed:
		t.Fatal("a second Close returned while the first Shutdown lingered")
	case <-time.After(100 * time.Millisecond):
	}
	endFirst()
	for _, c := range []chan error{firstDone, closed} {
		select {
		case <-c:
		case <-time.After(waitLimit):
			t.Fatalf("Close or Shutdown still lingering %v after the first's ctx ended", waitLimit)
		}
	}
}

// Shutdown returns nil once everything queued went out; a peer that reads
// slowly is waited for.
func TestShutdownDelivers(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(1))
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithSendHWM(100))
		push.connect(ep)
		const n = 50
		for i := range n {
			push.send(fmt.Sprint(i))
		}
		got := make(chan error, 1)
		go func() {
			for i := range n {
				m, err := pull.Recv(testCtx(t, waitLimit))
				if err == nil && m.Strings()[0] != fmt.Sprint(i) {
					err = fmt.Errorf("message %d is %q", i, m)
				}
				if err != nil {
					got <- err
					return
				}
			}
			got <- nil
		}()
		must(t, push.Shutdown(testCtx(t, waitLimit)))
		must(t, <-got)
		if d := push.Stats().Discarded; d != 0 {
			t.Errorf("Stats().Discarded = %d, want 0", d)
		}
	})
}

// A Shutdown whose ctx is cancelled while a stalled peer holds up the queue
// ends at once and counts what it left. (inproc has no queue of the
// sender's: a message sent is in the receiver's queue, delivered.)
func TestShutdownCancelled(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		if tr.name == "inproc" {
			t.Skip("inproc delivers into the peer's queue: nothing to discard")
		}
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(1))
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithSendHWM(4))
		push.connect(ep)
		push.await(socket.EventHandshakeOK)
		big := socket.NewMsg(make([]byte, 1<<20))
		for { // until the queue and the buffers are full
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := push.Send(ctx, big)
			cancel()
			if err != nil {
				break
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- push.Shutdown(ctx) }()
		cancel()
		select {
		case err := <-done:
			isErr(t, "Shutdown", err, socket.ErrDiscarded)
			isErr(t, "Shutdown", err, context.Canceled)
		case <-time.After(waitLimit):
			t.Fatalf("Shutdown still lingering %v after its ctx was cancelled", waitLimit)
		}
	})
}

// A closing inproc connector waits, within its linger, for the Bind its
// queued messages wait for; once bound, they are delivered.
func TestShutdownInprocAwaitsBind(t *testing.T) {
	ep := inprocName(t)
	push := openSock(t, socket.Push)
	push.connect(ep)
	push.send("queued before the bind")
	done := make(chan error, 1)
	go func() { done <- push.Shutdown(testCtx(t, waitLimit)) }()
	pull := openSock(t, socket.Pull)
	pull.bind(ep)
	if m := pull.recv(); !equal(m, "queued before the bind") {
		t.Fatalf("got %q", m)
	}
	must(t, <-done)
}
