package socket_test

// Interop tests: each pattern against libzmq 4.3 (pyzmq, run by
// internal/pyzmq), over tcp and ipc, with each side binding in turn.
// Without a Python that can import zmq they skip (or fail with
// ZMQFLOW_REQUIRE_INTEROP=1).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// interopWait bounds every wait of a subtest: messages, events, handshakes.
const interopWait = 15 * time.Second

// interopTransport is a way to make a fresh endpoint to bind.
type interopTransport struct {
	name string
	ep   func(t *testing.T) string
}

var interopIPCSeq atomic.Int64

var interopTransports = []interopTransport{
	{"tcp", func(*testing.T) string { return "tcp://127.0.0.1:*" }},
	{"ipc", func(t *testing.T) string {
		// Not t.TempDir: a unix socket path must stay under 108 bytes.
		dir, err := os.MkdirTemp("", "zfi")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return fmt.Sprintf("ipc://%s/%d.sock", dir, interopIPCSeq.Add(1))
	}},
}

// interopWiring is one transport and which side binds.
type interopWiring struct {
	tr      interopTransport
	goBinds bool // our socket binds and the libzmq peer connects, or the reverse
}

func (w interopWiring) String() string {
	if w.goBinds {
		return w.tr.name + "/go-binds"
	}
	return w.tr.name + "/py-binds"
}

// eachInteropWiring runs f for tcp and ipc, with our side binding and then the
// libzmq side, as parallel subtests.
func eachInteropWiring(t *testing.T, f func(t *testing.T, w interopWiring)) {
	t.Helper()
	for _, tr := range interopTransports {
		for _, goBinds := range []bool{true, false} {
			w := interopWiring{tr, goBinds}
			t.Run(w.String(), func(t *testing.T) {
				t.Parallel()
				pyzmq.Python(t) // skip early without pyzmq
				f(t, w)
			})
		}
	}
}

// linkPeer joins our socket s and a new libzmq socket of type pyType, binding on
// the side w says, and returns the libzmq peer.
func linkPeer(t *testing.T, w interopWiring, s *socket.Socket, pyType string, pyArgs ...string) *pyzmq.Peer {
	t.Helper()
	if w.goBinds {
		return pyzmq.Socket(t, pyType, append([]string{"--connect", mustBind(t, s, w.tr.ep(t))}, pyArgs...)...)
	}
	p := pyzmq.Socket(t, pyType, append([]string{"--bind", w.tr.ep(t)}, pyArgs...)...)
	mustConnect(t, s, p.Endpoint())
	return p
}

// interopLeakCheck verifies at the end of the test (after its subtests) that no
// goroutine it started is left.
func interopLeakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if !t.Failed() {
			goleak.VerifyNone(t, opt)
		}
	})
}

func openInterop(t *testing.T, typ socket.Type, opts ...socket.Option) *socket.Socket {
	t.Helper()
	s, err := socket.New(typ, append([]socket.Option{socket.WithLinger(time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("New(%v): %v", typ, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close(%v): %v", typ, err)
		}
	})
	return s
}

func mustBind(t *testing.T, s *socket.Socket, ep string) string {
	t.Helper()
	got, err := s.Bind(ep)
	if err != nil {
		t.Fatalf("%v Bind(%s): %v", s.Type(), ep, err)
	}
	return got
}

func mustConnect(t *testing.T, s *socket.Socket, ep string) {
	t.Helper()
	if err := s.Connect(ep); err != nil {
		t.Fatalf("%v Connect(%s): %v", s.Type(), ep, err)
	}
}

func interopCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), interopWait)
	t.Cleanup(cancel)
	return ctx
}

func mustSend(t *testing.T, ctx context.Context, s *socket.Socket, m socket.Msg) {
	t.Helper()
	if err := s.Send(ctx, m); err != nil {
		t.Fatalf("%v Send(%v): %v", s.Type(), shortMsg(m), err)
	}
}

func mustRecv(t *testing.T, ctx context.Context, s *socket.Socket) socket.Msg {
	t.Helper()
	m, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("%v Recv: %v", s.Type(), err)
	}
	return m
}

func pySend(t *testing.T, p *pyzmq.Peer, m socket.Msg) {
	t.Helper()
	if err := p.Send(m...); err != nil {
		t.Fatal(err)
	}
}

func pyRecv(t *testing.T, ctx context.Context, p *pyzmq.Peer) socket.Msg {
	t.Helper()
	m, err := p.Recv(ctx)
	if err != nil {
		t.Fatalf("libzmq peer Recv: %v", err)
	}
	return socket.Msg(m)
}

func wantFrames(t *testing.T, who string, got, want socket.Msg) {
	t.Helper()
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("%s received %v, want %v", who, shortMsg(got), shortMsg(want))
	}
}

// shortMsg formats a message with long frames cut, for failure messages.
func shortMsg(m socket.Msg) string {
	c := make(socket.Msg, len(m))
	for i, f := range m {
		if len(f) > 40 {
			f = fmt.Appendf(append(f[:20:20], "..."...), "(%d bytes)", len(f))
		}
		c[i] = f
	}
	return c.String()
}

// interopBigMsg is a multipart message with empty frames and a 100 KiB frame.
func interopBigMsg() socket.Msg {
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = byte(i % 251)
	}
	return socket.Msg{{}, []byte("head"), {}, big, {}, []byte("tail")}
}

// waitForEvent waits for a monitor event that satisfies ok.
func waitForEvent(t *testing.T, ctx context.Context, events <-chan socket.Event, what string, ok func(socket.Event) bool) socket.Event {
	t.Helper()
	var seen []string
	for {
		select {
		case e, open := <-events:
			if !open {
				t.Fatalf("monitor closed while waiting for %s (saw %v)", what, seen)
			}
			if ok(e) {
				return e
			}
			if len(seen) == 8 { // keep the first and the last few
				seen = append(seen[:4], seen[5:]...)
				seen[3] = "..."
			}
			seen = append(seen, e.String())
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (saw %v)", what, ctx.Err(), seen)
		}
	}
}

func eventIs(k socket.EventKind) func(socket.Event) bool {
	return func(e socket.Event) bool { return e.Kind == k }
}

// ---------------------------------------------------------------------------
// PUSH / PULL

func TestInteropPushPull(t *testing.T) {
	interopLeakCheck(t)
	msgs := []socket.Msg{socket.NewMsgString("one"), interopBigMsg(), socket.NewMsgString("a", "", "c"), socket.NewMsgString("last")}

	t.Run("go-push", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push)
			p := linkPeer(t, w, push, "PULL")
			for _, m := range msgs {
				mustSend(t, ctx, push, m)
			}
			for _, m := range msgs {
				wantFrames(t, "libzmq PULL", pyRecv(t, ctx, p), m)
			}
		})
	})
	t.Run("py-push", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pull := openInterop(t, socket.Pull)
			p := linkPeer(t, w, pull, "PUSH")
			for _, m := range msgs {
				pySend(t, p, m)
			}
			for _, m := range msgs {
				wantFrames(t, "our PULL", mustRecv(t, ctx, pull), m)
			}
		})
	})
}

// TestInteropPushRoundRobin checks that PUSH splits the work between two PULL
// peers, libzmq's PUSH between two of ours and ours between two of libzmq's.
func TestInteropPushRoundRobin(t *testing.T) {
	interopLeakCheck(t)
	const n = 100

	t.Run("py-push", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pulls := []*socket.Socket{openInterop(t, socket.Pull), openInterop(t, socket.Pull)}
			var p *pyzmq.Peer
			if w.goBinds {
				p = pyzmq.Socket(t, "PUSH", "--connect", mustBind(t, pulls[0], w.tr.ep(t)), "--connect", mustBind(t, pulls[1], w.tr.ep(t)))
			} else {
				p = pyzmq.Socket(t, "PUSH", "--bind", w.tr.ep(t))
				mustConnect(t, pulls[0], p.Endpoint())
				mustConnect(t, pulls[1], p.Endpoint())
			}
			for range pulls {
				if _, err := p.WaitEvent(ctx, "HANDSHAKE_SUCCEEDED"); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				pySend(t, p, socket.NewMsgString("task", strconv.Itoa(i)))
			}
			checkSplit(t, ctx, n, func(ctx context.Context, i int) (socket.Msg, error) { return pulls[i].Recv(ctx) }, len(pulls))
		})
	})
	t.Run("go-push", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push)
			events := push.Monitor()
			var peers []*pyzmq.Peer
			if w.goBinds {
				ep := mustBind(t, push, w.tr.ep(t))
				peers = append(peers, pyzmq.Socket(t, "PULL", "--connect", ep), pyzmq.Socket(t, "PULL", "--connect", ep))
				for range peers {
					waitForEvent(t, ctx, events, "handshake-ok", eventIs(socket.EventHandshakeOK))
				}
			} else {
				peers = append(peers, pyzmq.Socket(t, "PULL", "--bind", w.tr.ep(t)), pyzmq.Socket(t, "PULL", "--bind", w.tr.ep(t)))
				mustConnect(t, push, peers[0].Endpoint())
				mustConnect(t, push, peers[1].Endpoint())
			}
			for i := range n {
				mustSend(t, ctx, push, socket.NewMsgString("task", strconv.Itoa(i)))
			}
			checkSplit(t, ctx, n, func(ctx context.Context, i int) (socket.Msg, error) {
				m, err := peers[i].Recv(ctx)
				return socket.Msg(m), err
			}, len(peers))
		})
	})
}

// checkSplit receives tasks 0..n-1 from k receivers at once, and checks that
// every task arrived once, in order at each receiver, and that every receiver
// got a fair part of them.
func checkSplit(t *testing.T, ctx context.Context, n int, recvFrom func(context.Context, int) (socket.Msg, error), k int) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make([][]int, k)
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, k)
	for i := range k {
		wg.Go(func() {
			for total.Load() < int64(n) {
				m, err := recvFrom(ctx, i)
				if err != nil {
					if total.Load() < int64(n) {
						errs[i] = err
					}
					return
				}
				id, err := strconv.Atoi(string(m[len(m)-1]))
				if len(m) != 2 || string(m[0]) != "task" || err != nil {
					errs[i] = fmt.Errorf("unexpected message %v", m)
					cancel()
					return
				}
				got[i] = append(got[i], id)
				if total.Add(1) == int64(n) {
					cancel()
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("after %d of %d tasks: %v", total.Load(), n, err)
	}
	var all []int
	for i, ids := range got {
		t.Logf("receiver %d got %d tasks", i, len(ids))
		if !slices.IsSorted(ids) {
			t.Errorf("receiver %d got tasks out of order: %v", i, ids)
		}
		if len(ids) < n/(2*k) {
			t.Errorf("receiver %d got %d of %d tasks, want a fair share (round-robin)", i, len(ids), n)
		}
		all = append(all, ids...)
	}
	slices.Sort(all)
	for i, id := range all {
		if id != i {
			t.Fatalf("tasks received: %v, want each of 0..%d once", all, n-1)
		}
	}
}

// ---------------------------------------------------------------------------
// REQ / REP

func TestInteropReqRep(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-req", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			req := openInterop(t, socket.Req)
			linkPeer(t, w, req, "REP", "--echo")
			// The body may itself start with an empty frame: only the
			// envelope up to the first delimiter belongs to REQ/REP.
			for _, m := range []socket.Msg{socket.NewMsgString("hello"), socket.NewMsgString("", "x", ""), interopBigMsg()} {
				mustSend(t, ctx, req, m)
				wantFrames(t, "our REQ", mustRecv(t, ctx, req), m)
			}
		})
	})
	t.Run("py-req", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			rep := openInterop(t, socket.Rep)
			p := linkPeer(t, w, rep, "REQ")
			for i := range 3 {
				q := socket.NewMsgString("question", strconv.Itoa(i))
				pySend(t, p, q)
				wantFrames(t, "our REP", mustRecv(t, ctx, rep), q)
				a := socket.NewMsgString("answer", strconv.Itoa(i), "")
				mustSend(t, ctx, rep, a)
				wantFrames(t, "libzmq REQ", pyRecv(t, ctx, p), a)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// DEALER / ROUTER

func TestInteropDealerRouter(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-router", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			router := openInterop(t, socket.Router, socket.WithRouterMandatory())
			p := linkPeer(t, w, router, "DEALER", "--identity", "py-dealer")
			m := interopBigMsg()
			pySend(t, p, m)
			wantFrames(t, "our ROUTER", mustRecv(t, ctx, router), append(socket.NewMsgString("py-dealer"), m...))
			reply := socket.NewMsgString("py-dealer", "", "world")
			mustSend(t, ctx, router, reply)
			wantFrames(t, "libzmq DEALER", pyRecv(t, ctx, p), reply[1:])
			if err := router.Send(ctx, socket.NewMsgString("nobody", "x")); !errors.Is(err, socket.ErrHostUnreachable) {
				t.Errorf("ROUTER Send to an unknown identity with mandatory: %v, want ErrHostUnreachable", err)
			}
		})
	})
	t.Run("py-router", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			names := []string{"go-a", "go-b"}
			dealers := map[string]*socket.Socket{}
			for _, name := range names {
				dealers[name] = openInterop(t, socket.Dealer, socket.WithIdentity([]byte(name)))
			}
			var p *pyzmq.Peer
			if w.goBinds {
				p = pyzmq.Socket(t, "ROUTER", "--connect", mustBind(t, dealers["go-a"], w.tr.ep(t)), "--connect", mustBind(t, dealers["go-b"], w.tr.ep(t)))
			} else {
				p = pyzmq.Socket(t, "ROUTER", "--bind", w.tr.ep(t))
				for _, name := range names {
					mustConnect(t, dealers[name], p.Endpoint())
				}
			}
			// libzmq's ROUTER sees the identity each of our DEALERs announced.
			for _, name := range names {
				mustSend(t, ctx, dealers[name], socket.NewMsgString("hello from", name))
			}
			from := map[string]socket.Msg{}
			for range names {
				m := pyRecv(t, ctx, p)
				from[string(m[0])] = m[1:]
			}
			for _, name := range names {
				wantFrames(t, "libzmq ROUTER from "+name, from[name], socket.NewMsgString("hello from", name))
			}
			// libzmq's ROUTER routes by that identity: each gets its own.
			for _, name := range []string{"go-b", "go-a"} {
				pySend(t, p, socket.NewMsgString(name, "", "for", name))
			}
			for _, name := range names {
				wantFrames(t, "our DEALER "+name, mustRecv(t, ctx, dealers[name]), socket.NewMsgString("", "for", name))
			}
		})
	})
}

// ---------------------------------------------------------------------------
// PUB / SUB, XPUB / XSUB

// publishUntil sends m from pub every few milliseconds until arrived returns
// (the subscription has reached the publisher and a message came through),
// then stops. This is the slow-joiner handshake, without sleeping.
func publishUntil(t *testing.T, ctx context.Context, pub *socket.Socket, m socket.Msg, arrived func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sendErr error
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := pub.Send(ctx, m); err != nil {
				if ctx.Err() == nil {
					sendErr = err
				}
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	})
	arrived()
	cancel()
	wg.Wait()
	if sendErr != nil {
		t.Fatalf("PUB Send: %v", sendErr)
	}
}

// pubFiltered is what a publisher sends once a subscriber of "A" is connected:
// the subscriber must receive exactly pubWant, in order, after any warm-up
// messages ("A", "warm-up").
var (
	pubFiltered = []socket.Msg{
		socket.NewMsgString("B", "not subscribed"),
		socket.NewMsgString("AB", "prefix match"),
		socket.NewMsgString("b", "A"),
		socket.NewMsgString("", "empty topic"),
		socket.NewMsgString("A", "", "end"),
	}
	pubWarmUp = socket.NewMsgString("A", "warm-up")
	pubWant   = []socket.Msg{pubFiltered[1], pubFiltered[4]}
)

// expectFiltered receives with next until the last of pubWant, skipping
// warm-up messages, and checks that exactly pubWant arrived.
func expectFiltered(t *testing.T, who string, next func() socket.Msg) {
	t.Helper()
	var got []socket.Msg
	for len(got) < len(pubWant) {
		m := next()
		if slices.EqualFunc(m, pubWarmUp, bytes.Equal) && len(got) == 0 {
			continue
		}
		got = append(got, m)
	}
	for i := range pubWant {
		wantFrames(t, who, got[i], pubWant[i])
	}
}

func TestInteropPubSub(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-pub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pub := openInterop(t, socket.Pub)
			p := linkPeer(t, w, pub, "SUB", "--subscribe", "A")
			publishUntil(t, ctx, pub, pubWarmUp, func() { wantFrames(t, "libzmq SUB", pyRecv(t, ctx, p), pubWarmUp) })
			for _, m := range pubFiltered {
				mustSend(t, ctx, pub, m)
			}
			expectFiltered(t, "libzmq SUB", func() socket.Msg { return pyRecv(t, ctx, p) })
		})
	})
	t.Run("py-pub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			sub := openInterop(t, socket.Sub)
			if err := sub.Subscribe([]byte("A")); err != nil {
				t.Fatal(err)
			}
			p := linkPeer(t, w, sub, "PUB")
			if err := p.Repeat(10*time.Millisecond, pubWarmUp...); err != nil {
				t.Fatal(err)
			}
			wantFrames(t, "our SUB", mustRecv(t, ctx, sub), pubWarmUp)
			for _, m := range pubFiltered { // the first send ends the repeat
				pySend(t, p, m)
			}
			expectFiltered(t, "our SUB", func() socket.Msg { return mustRecv(t, ctx, sub) })
		})
	})
}

func TestInteropXPubXSub(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-xpub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			xpub := openInterop(t, socket.XPub)
			p := linkPeer(t, w, xpub, "SUB", "--subscribe", "topic")
			wantFrames(t, "our XPUB", mustRecv(t, ctx, xpub), socket.Msg{[]byte("\x01topic")})
			m := socket.NewMsgString("topic", "data")
			mustSend(t, ctx, xpub, m)
			wantFrames(t, "libzmq SUB", pyRecv(t, ctx, p), m)
			if err := p.Unsubscribe("topic"); err != nil {
				t.Fatal(err)
			}
			wantFrames(t, "our XPUB", mustRecv(t, ctx, xpub), socket.Msg{[]byte("\x00topic")})
		})
	})
	t.Run("go-xsub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			xsub := openInterop(t, socket.XSub)
			p := linkPeer(t, w, xsub, "XPUB")
			sub := socket.Msg{[]byte("\x01topic")}
			mustSend(t, ctx, xsub, sub)
			wantFrames(t, "libzmq XPUB", pyRecv(t, ctx, p), sub)
			m := socket.NewMsgString("topic", "data")
			pySend(t, p, m)
			wantFrames(t, "our XSUB", mustRecv(t, ctx, xsub), m)
			unsub := socket.Msg{[]byte("\x00topic")}
			mustSend(t, ctx, xsub, unsub)
			wantFrames(t, "libzmq XPUB", pyRecv(t, ctx, p), unsub)
		})
	})
	// A libzmq XSUB/XPUB proxy between our PUB and our SUB: subscriptions go
	// up through it, messages come down.
	t.Run("proxy", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pub := openInterop(t, socket.Pub)
			sub := openInterop(t, socket.Sub)
			if err := sub.Subscribe([]byte("A")); err != nil {
				t.Fatal(err)
			}
			if w.goBinds {
				pyzmq.Proxy(t, "connect", mustBind(t, pub, w.tr.ep(t)), "connect", mustBind(t, sub, w.tr.ep(t)))
			} else {
				px := pyzmq.Proxy(t, "bind", w.tr.ep(t), "bind", w.tr.ep(t))
				mustConnect(t, pub, px.Endpoints()[0])
				mustConnect(t, sub, px.Endpoints()[1])
			}
			publishUntil(t, ctx, pub, pubWarmUp, func() { wantFrames(t, "our SUB", mustRecv(t, ctx, sub), pubWarmUp) })
			for _, m := range pubFiltered {
				mustSend(t, ctx, pub, m)
			}
			expectFiltered(t, "our SUB", func() socket.Msg { return mustRecv(t, ctx, sub) })
		})
	})
}

// ---------------------------------------------------------------------------
// PAIR

func TestInteropPair(t *testing.T) {
	interopLeakCheck(t)
	eachInteropWiring(t, func(t *testing.T, w interopWiring) {
		ctx := interopCtx(t)
		pair := openInterop(t, socket.Pair)
		p := linkPeer(t, w, pair, "PAIR", "--echo")
		for _, m := range []socket.Msg{interopBigMsg(), socket.NewMsgString("x")} {
			mustSend(t, ctx, pair, m)
			wantFrames(t, "our PAIR (echo)", mustRecv(t, ctx, pair), m)
		}
		if err := p.Echo(false); err != nil {
			t.Fatal(err)
		}
		m := socket.NewMsgString("from", "", "libzmq")
		pySend(t, p, m)
		wantFrames(t, "our PAIR", mustRecv(t, ctx, pair), m)
		m = socket.NewMsgString("to", "", "libzmq")
		mustSend(t, ctx, pair, m)
		wantFrames(t, "libzmq PAIR", pyRecv(t, ctx, p), m)
	})
}

// ---------------------------------------------------------------------------
// Heartbeats

// TestInteropHeartbeat keeps an idle connection to a libzmq peer that sends
// ZMTP PINGs and hangs up if no PONG comes within its timeout; and, the
// other way, keeps one where our side sends the PINGs and libzmq answers.
// The timeouts are far above what a PONG takes, and the idle time is
// several of them: without the PONGs, the side that pings would hang up.
func TestInteropHeartbeat(t *testing.T) {
	interopLeakCheck(t)
	const timeout = 2 * time.Second
	keepsIdle := func(t *testing.T, pair *socket.Socket, events <-chan socket.Event, p *pyzmq.Peer) {
		t.Helper()
		ctx := interopCtx(t)
		waitForEvent(t, ctx, events, "handshake-ok", eventIs(socket.EventHandshakeOK))
		m := socket.NewMsgString("before")
		mustSend(t, ctx, pair, m)
		wantFrames(t, "our PAIR (echo)", mustRecv(t, ctx, pair), m)
		timer := time.NewTimer(3 * timeout)
		defer timer.Stop()
	idling:
		for {
			select {
			case e := <-events:
				if e.Kind == socket.EventDisconnected || e.Kind == socket.EventHandshakeFailed {
					t.Fatalf("the idle connection was lost: %v", e)
				}
			case <-timer.C:
				break idling
			}
		}
		m = socket.NewMsgString("after", "", "idle")
		mustSend(t, ctx, pair, m)
		wantFrames(t, "our PAIR (echo)", mustRecv(t, ctx, pair), m)
		for _, e := range p.SeenEvents() {
			if strings.HasPrefix(e, "DISCONNECTED") {
				t.Fatalf("libzmq peer saw a disconnect: events %v", p.SeenEvents())
			}
		}
	}
	t.Run("libzmq-pings", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			pair := openInterop(t, socket.Pair)
			events := pair.Monitor()
			p := linkPeer(t, w, pair, "PAIR", "--echo", "--heartbeat", "100,"+fmt.Sprint(timeout.Milliseconds()))
			keepsIdle(t, pair, events, p)
		})
	})
	t.Run("go-pings", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			pair := openInterop(t, socket.Pair, socket.WithHeartbeat(100*time.Millisecond, timeout, 10*timeout))
			events := pair.Monitor()
			p := linkPeer(t, w, pair, "PAIR", "--echo")
			keepsIdle(t, pair, events, p)
		})
	})
}

// TestInteropHeartbeatFrozenPeer freezes a libzmq peer with SIGSTOP: its
// connection stays open and silent, as after a hang or a partition. Our
// heartbeats drop it with ErrHeartbeat; once it is thawed, the connection
// comes back (ours redials, or libzmq's does) and messages flow again.
func TestInteropHeartbeatFrozenPeer(t *testing.T) {
	interopLeakCheck(t)
	eachInteropWiring(t, func(t *testing.T, w interopWiring) {
		ctx := interopCtx(t)
		push := openInterop(t, socket.Push, socket.WithHeartbeat(100*time.Millisecond, time.Second, 0),
			socket.WithReconnectInterval(50*time.Millisecond))
		events := push.Monitor()
		p := linkPeer(t, w, push, "PULL")
		waitForEvent(t, ctx, events, "handshake-ok", eventIs(socket.EventHandshakeOK))
		mustSend(t, ctx, push, socket.NewMsgString("before"))
		wantFrames(t, "libzmq PULL", pyRecv(t, ctx, p), socket.NewMsgString("before"))

		if err := p.Freeze(); err != nil {
			t.Fatal(err)
		}
		e := waitForEvent(t, ctx, events, "the frozen peer dropped", eventIs(socket.EventDisconnected))
		if !errors.Is(e.Err, socket.ErrHeartbeat) {
			t.Fatalf("disconnect %v, want ErrHeartbeat", e)
		}
		if err := p.Thaw(); err != nil {
			t.Fatal(err)
		}
		waitForEvent(t, ctx, events, "the connection back", eventIs(socket.EventHandshakeOK))
		mustSend(t, ctx, push, socket.NewMsgString("after"))
		wantFrames(t, "libzmq PULL", pyRecv(t, ctx, p), socket.NewMsgString("after"))
	})
}

// TestInteropHeartbeatPeerTTL: a libzmq peer asks, in its PINGs, to be
// dropped after 1 s without traffic (ZMQ_HEARTBEAT_TTL). Our socket, with no
// heartbeats of its own, honours it once the peer is frozen.
func TestInteropHeartbeatPeerTTL(t *testing.T) {
	interopLeakCheck(t)
	eachInteropWiring(t, func(t *testing.T, w interopWiring) {
		ctx := interopCtx(t)
		pull := openInterop(t, socket.Pull)
		events := pull.Monitor()
		p := linkPeer(t, w, pull, "PUSH", "--heartbeat", "100,30000,1000")
		// Ticks every 100 ms: by the fifth, libzmq has sent PINGs (every
		// 100 ms from the handshake on), and they came before it.
		if err := p.Repeat(100*time.Millisecond, []byte("tick")); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			wantFrames(t, "our PULL", mustRecv(t, ctx, pull), socket.NewMsgString("tick"))
		}
		if err := p.Freeze(); err != nil {
			t.Fatal(err)
		}
		e := waitForEvent(t, ctx, events, "the frozen peer dropped", eventIs(socket.EventDisconnected))
		if !errors.Is(e.Err, socket.ErrHeartbeat) {
			t.Fatalf("disconnect %v, want ErrHeartbeat", e)
		}
	})
}

// ---------------------------------------------------------------------------
// PLAIN

func TestInteropPlain(t *testing.T) {
	interopLeakCheck(t)
	const user, password = "admin", "secret"
	auth := func(_ context.Context, r socket.AuthRequest) error {
		if r.Username != user || r.Password != password {
			return errors.New("unknown user or wrong password")
		}
		return nil
	}
	// refused waits for the first handshake to end on our side and on the
	// libzmq side, and checks that both saw an authentication failure, as
	// they would between two libzmq peers (HANDSHAKE_FAILED_AUTH, status 400).
	refused := func(t *testing.T, ctx context.Context, events <-chan socket.Event, p *pyzmq.Peer) {
		t.Helper()
		e := waitForEvent(t, ctx, events, "the handshake to end", func(e socket.Event) bool {
			return e.Kind == socket.EventHandshakeFailed || e.Kind == socket.EventHandshakeOK
		})
		if e.Kind != socket.EventHandshakeFailed || !errors.Is(e.Err, socket.ErrAuth) {
			t.Errorf("our side: %v, want handshake-failed with ErrAuth", e)
		}
		got, err := p.WaitEvent(ctx, "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_NO_DETAIL", "HANDSHAKE_SUCCEEDED")
		if err != nil {
			t.Fatal(err)
		}
		if got != "HANDSHAKE_FAILED_AUTH" {
			t.Errorf("libzmq side: %s, want HANDSHAKE_FAILED_AUTH (events %v)", got, p.SeenEvents())
		}
	}

	t.Run("go-server", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pull := openInterop(t, socket.Pull, socket.WithPlainServer(auth))
			events := pull.Monitor()
			p := linkPeer(t, w, pull, "PUSH", "--plain-client", user+":"+password)
			m := socket.NewMsgString("authenticated", "")
			pySend(t, p, m)
			wantFrames(t, "our PLAIN server", mustRecv(t, ctx, pull), m)
			waitForEvent(t, ctx, events, "handshake-ok", eventIs(socket.EventHandshakeOK))
		})
	})
	t.Run("go-server-refuses", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pull := openInterop(t, socket.Pull, socket.WithPlainServer(auth))
			events := pull.Monitor()
			p := linkPeer(t, w, pull, "PUSH", "--plain-client", user+":wrong")
			refused(t, ctx, events, p)
		})
	})
	t.Run("go-client", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push, socket.WithPlainClient(user, password))
			p := linkPeer(t, w, push, "PULL", "--plain-server", user+":"+password)
			m := socket.NewMsgString("authenticated", "")
			mustSend(t, ctx, push, m)
			wantFrames(t, "libzmq PLAIN server", pyRecv(t, ctx, p), m)
		})
	})
	t.Run("go-client-refused", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push, socket.WithPlainClient(user, "wrong"))
			events := push.Monitor()
			p := linkPeer(t, w, push, "PULL", "--plain-server", user+":"+password)
			refused(t, ctx, events, p)
		})
	})
}
