package socket_test

// The libzmq socket options of options_libzmq.go against libzmq 4.3 peers
// (pyzmq): each option where the wire is involved, both ways where libzmq
// has the option too.

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// linkPeers joins our socket s and n new libzmq sockets of type pyType, as
// linkPeer does for one.
func linkPeers(t *testing.T, w interopWiring, s *socket.Socket, n int, pyType string, pyArgs ...string) []*pyzmq.Peer {
	t.Helper()
	var ep string
	if w.goBinds {
		ep = mustBind(t, s, w.tr.ep(t))
	}
	peers := make([]*pyzmq.Peer, n)
	for i := range peers {
		if w.goBinds {
			peers[i] = pyzmq.Socket(t, pyType, append([]string{"--connect", ep}, pyArgs...)...)
			continue
		}
		peers[i] = pyzmq.Socket(t, pyType, append([]string{"--bind", w.tr.ep(t)}, pyArgs...)...)
		mustConnect(t, s, peers[i].Endpoint())
	}
	return peers
}

// Our verbose XPUB passes on the second libzmq SUB's subscription to a
// prefix the first holds.
func TestInteropXPubVerbose(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-xpub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			xpub := openInterop(t, socket.XPub, socket.WithXPubVerbose())
			linkPeers(t, w, xpub, 2, "SUB", "--subscribe", "topic")
			for range 2 {
				wantFrames(t, "our XPUB", mustRecv(t, ctx, xpub), socket.Msg{[]byte("\x01topic")})
			}
		})
	})
	// Our SUB passes a repeated subscription upstream, as libzmq's does:
	// a verbose libzmq XPUB sees both.
	t.Run("py-xpub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			sub := openInterop(t, socket.Sub)
			events := sub.Monitor()
			p := linkPeer(t, w, sub, "XPUB", "--sockopt", "XPUB_VERBOSE=1")
			// Connected first: a reconnect sends each prefix once.
			waitForEvent(t, ctx, events, "handshake-ok", eventIs(socket.EventHandshakeOK))
			must(t, sub.Subscribe([]byte("topic")))
			must(t, sub.Subscribe([]byte("topic")))
			for range 2 {
				wantFrames(t, "libzmq XPUB", pyRecv(t, ctx, p), socket.Msg{[]byte("\x01topic")})
			}
		})
	})
}

// The welcome message reaches a libzmq SUB from our XPUB, and ours from a
// libzmq XPUB.
func TestInteropXPubWelcome(t *testing.T) {
	interopLeakCheck(t)
	welcome := socket.NewMsgString("welcome!")
	t.Run("go-xpub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			xpub := openInterop(t, socket.XPub, socket.WithXPubWelcome(welcome))
			p := linkPeer(t, w, xpub, "SUB", "--subscribe", "welcome")
			wantFrames(t, "libzmq SUB", pyRecv(t, ctx, p), welcome)
		})
	})
	t.Run("py-xpub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			sub := openInterop(t, socket.Sub)
			must(t, sub.Subscribe([]byte("welcome")))
			linkPeer(t, w, sub, "XPUB", "--sockopt", "XPUB_WELCOME_MSG=welcome!")
			wantFrames(t, "our SUB", mustRecv(t, ctx, sub), welcome)
		})
	})
}

// Our manual XPUB grants a libzmq XSUB another prefix than it asked for:
// only what was granted reaches it.
func TestInteropXPubManual(t *testing.T) {
	interopLeakCheck(t)
	eachInteropWiring(t, func(t *testing.T, w interopWiring) {
		ctx := interopCtx(t)
		xpub := openInterop(t, socket.XPub, socket.WithXPubManual())
		p := linkPeer(t, w, xpub, "XSUB")
		pySend(t, p, socket.Msg{[]byte("\x01A")})
		wantFrames(t, "our XPUB", mustRecv(t, ctx, xpub), socket.Msg{[]byte("\x01A")})
		must(t, xpub.Subscribe([]byte("B")))
		mustSend(t, ctx, xpub, socket.NewMsgString("A", "not granted"))
		mustSend(t, ctx, xpub, socket.NewMsgString("B", "granted"))
		wantFrames(t, "libzmq XSUB", pyRecv(t, ctx, p), socket.NewMsgString("B", "granted"))
	})
}

// Our inverting XPUB skips the libzmq XSUB that subscribed to "A"; a
// libzmq inverting XPUB skips ours.
func TestInteropInvertMatching(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-xpub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			xpub := openInterop(t, socket.XPub, socket.WithInvertMatching())
			p := linkPeer(t, w, xpub, "XSUB")
			pySend(t, p, socket.Msg{[]byte("\x01A")})
			wantFrames(t, "our XPUB", mustRecv(t, ctx, xpub), socket.Msg{[]byte("\x01A")})
			mustSend(t, ctx, xpub, socket.NewMsgString("A", "excluded"))
			mustSend(t, ctx, xpub, socket.NewMsgString("B", "sent"))
			wantFrames(t, "libzmq XSUB", pyRecv(t, ctx, p), socket.NewMsgString("B", "sent"))
		})
	})
	t.Run("py-xpub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			xsub := openInterop(t, socket.XSub)
			p := linkPeer(t, w, xsub, "XPUB", "--sockopt", "INVERT_MATCHING=1")
			mustSend(t, ctx, xsub, socket.Msg{[]byte("\x01A")})
			wantFrames(t, "libzmq XPUB", pyRecv(t, ctx, p), socket.Msg{[]byte("\x01A")})
			pySend(t, p, socket.NewMsgString("A", "excluded"))
			pySend(t, p, socket.NewMsgString("B", "sent"))
			wantFrames(t, "our XSUB", mustRecv(t, ctx, xsub), socket.NewMsgString("B", "sent"))
		})
	})
}

// Our relaxed, correlating REQ against a libzmq ROUTER (which sees the
// request id) and REP (which returns it unseen); a libzmq one against our
// ROUTER and REP.
func TestInteropReqRelaxedCorrelate(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-req/router", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			req := openInterop(t, socket.Req, socket.WithReqRelaxed(), socket.WithReqCorrelate())
			p := linkPeer(t, w, req, "ROUTER")
			var got []socket.Msg
			for _, q := range []string{"q1", "q2"} {
				mustSend(t, ctx, req, socket.NewMsgString(q))
				m := pyRecv(t, ctx, p)
				if len(m) != 4 || len(m[1]) != 4 || len(m[2]) != 0 || string(m[3]) != q {
					t.Fatalf("libzmq ROUTER got %v, want [identity, 4-byte id, \"\", %s]", shortMsg(m), q)
				}
				got = append(got, m)
			}
			for _, m := range got {
				pySend(t, p, socket.Msg{m[0], m[1], {}, append([]byte("re "), m[3]...)})
			}
			wantFrames(t, "our REQ", mustRecv(t, ctx, req), socket.NewMsgString("re q2"))
		})
	})
	t.Run("go-req/rep", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			req := openInterop(t, socket.Req, socket.WithReqCorrelate())
			linkPeer(t, w, req, "REP", "--echo")
			for _, q := range []string{"q1", "q2"} {
				mustSend(t, ctx, req, socket.NewMsgString(q, "", "x"))
				wantFrames(t, "our REQ", mustRecv(t, ctx, req), socket.NewMsgString(q, "", "x"))
			}
		})
	})
	t.Run("py-req/router", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			router := openInterop(t, socket.Router)
			p := linkPeer(t, w, router, "REQ", "--sockopt", "REQ_RELAXED=1", "--sockopt", "REQ_CORRELATE=1")
			var got []socket.Msg
			for _, q := range []string{"q1", "q2"} {
				pySend(t, p, socket.NewMsgString(q))
				m := mustRecv(t, ctx, router)
				if len(m) != 4 || len(m[1]) != 4 || len(m[2]) != 0 || string(m[3]) != q {
					t.Fatalf("our ROUTER got %v, want [identity, 4-byte id, \"\", %s]", shortMsg(m), q)
				}
				got = append(got, m)
			}
			for _, m := range got {
				mustSend(t, ctx, router, socket.Msg{m[0], m[1], {}, append([]byte("re "), m[3]...)})
			}
			wantFrames(t, "libzmq REQ", pyRecv(t, ctx, p), socket.NewMsgString("re q2"))
		})
	})
	t.Run("py-req/rep", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			rep := openInterop(t, socket.Rep)
			p := linkPeer(t, w, rep, "REQ", "--sockopt", "REQ_CORRELATE=1")
			for _, q := range []string{"q1", "q2"} {
				pySend(t, p, socket.NewMsgString(q))
				wantFrames(t, "our REP", mustRecv(t, ctx, rep), socket.NewMsgString(q))
				mustSend(t, ctx, rep, socket.NewMsgString("re "+q))
				wantFrames(t, "libzmq REQ", pyRecv(t, ctx, p), socket.NewMsgString("re "+q))
			}
		})
	})
}

// Our handing-over ROUTER gives identity X to the second libzmq DEALER
// that announces it.
func TestInteropRouterHandover(t *testing.T) {
	interopLeakCheck(t)
	eachInteropWiring(t, func(t *testing.T, w interopWiring) {
		ctx := interopCtx(t)
		// Neither side may redial the dropped peer, which would take the
		// identity back.
		router := openInterop(t, socket.Router, socket.WithRouterHandover(), socket.WithReconnectInterval(time.Hour))
		events := router.Monitor()
		args := []string{"--identity", "X", "--sockopt", "RECONNECT_IVL=3600000"}
		var ep string
		if w.goBinds {
			ep = mustBind(t, router, w.tr.ep(t))
		}
		dealer := func() *pyzmq.Peer {
			if w.goBinds {
				return pyzmq.Socket(t, "DEALER", append([]string{"--connect", ep}, args...)...)
			}
			p := pyzmq.Socket(t, "DEALER", append([]string{"--bind", w.tr.ep(t)}, args...)...)
			mustConnect(t, router, p.Endpoint())
			return p
		}
		old := dealer()
		pySend(t, old, socket.NewMsgString("from old"))
		wantFrames(t, "our ROUTER", mustRecv(t, ctx, router), socket.NewMsgString("X", "from old"))
		newer := dealer()
		pySend(t, newer, socket.NewMsgString("from new"))
		wantFrames(t, "our ROUTER", mustRecv(t, ctx, router), socket.NewMsgString("X", "from new"))
		waitForEvent(t, ctx, events, "the old peer dropped", func(e socket.Event) bool {
			return e.Kind == socket.EventDisconnected && errors.Is(e.Err, socket.ErrHandedOver)
		})
		if _, err := old.WaitEvent(ctx, "DISCONNECTED"); err != nil {
			t.Fatal(err)
		}
		mustSend(t, ctx, router, socket.NewMsgString("X", "to X"))
		wantFrames(t, "the new libzmq DEALER", pyRecv(t, ctx, newer), socket.NewMsgString("to X"))
	})
}

// Our probing DEALER is known to a libzmq ROUTER at once, and a libzmq
// probing DEALER to ours.
func TestInteropProbeRouter(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-dealer", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			dealer := openInterop(t, socket.Dealer, socket.WithProbeRouter(), socket.WithIdentity([]byte("D")))
			p := linkPeer(t, w, dealer, "ROUTER")
			wantFrames(t, "libzmq ROUTER", pyRecv(t, ctx, p), socket.Msg{[]byte("D"), {}})
			pySend(t, p, socket.NewMsgString("D", "hello"))
			wantFrames(t, "our DEALER", mustRecv(t, ctx, dealer), socket.NewMsgString("hello"))
		})
	})
	t.Run("py-dealer", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			router := openInterop(t, socket.Router)
			p := linkPeer(t, w, router, "DEALER", "--identity", "D", "--sockopt", "PROBE_ROUTER=1")
			wantFrames(t, "our ROUTER", mustRecv(t, ctx, router), socket.Msg{[]byte("D"), {}})
			mustSend(t, ctx, router, socket.NewMsgString("D", "hello"))
			wantFrames(t, "libzmq DEALER", pyRecv(t, ctx, p), socket.NewMsgString("hello"))
		})
	})
}

// Our immediate PUSH, connected to a libzmq PULL and to an endpoint nobody
// binds, sends everything to the libzmq PULL.
func TestInteropImmediate(t *testing.T) {
	interopLeakCheck(t)
	for _, tr := range interopTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := interopCtx(t)
			push := openInterop(t, socket.Push, socket.WithImmediate())
			events := push.Monitor()
			p := pyzmq.Socket(t, "PULL", "--bind", tr.ep(t))
			nobody := tr.ep(t)
			if tr.name == "tcp" {
				nobody = freeTCPEndpoint(t)
			}
			mustConnect(t, push, nobody)
			mustConnect(t, push, p.Endpoint())
			waitForEvent(t, ctx, events, "handshake-ok", eventIs(socket.EventHandshakeOK))
			for i := range 10 {
				mustSend(t, ctx, push, socket.NewMsgString("task", strconv.Itoa(i)))
			}
			for i := range 10 {
				wantFrames(t, "libzmq PULL", pyRecv(t, ctx, p), socket.NewMsgString("task", strconv.Itoa(i)))
			}
		})
	}
}

// A conflating PUSH, ours or libzmq's, that sends before its peer binds
// delivers only the last message to the peer of the other kind.
// A conflating probing DEALER that sends before its connection is up: the
// message replaces the probe, with ours as with libzmq's.
func TestInteropConflateProbe(t *testing.T) {
	interopLeakCheck(t)
	t.Run("go-dealer", func(t *testing.T) {
		t.Parallel()
		pyzmq.Python(t)
		ctx := interopCtx(t)
		ep := freeTCPEndpoint(t)
		dealer := openInterop(t, socket.Dealer, socket.WithConflate(), socket.WithProbeRouter(),
			socket.WithIdentity([]byte("D")), socket.WithReconnectInterval(20*time.Millisecond))
		mustConnect(t, dealer, ep)
		for _, v := range []string{"1", "2"} {
			mustSend(t, ctx, dealer, socket.NewMsgString(v))
		}
		p := pyzmq.Socket(t, "ROUTER", "--bind", ep)
		wantFrames(t, "libzmq ROUTER", pyRecv(t, ctx, p), socket.NewMsgString("D", "2"))
	})
	t.Run("py-dealer", func(t *testing.T) {
		t.Parallel()
		pyzmq.Python(t)
		ctx := interopCtx(t)
		ep := freeTCPEndpoint(t)
		p := pyzmq.Socket(t, "DEALER", "--connect", ep, "--identity", "D", "--sockopt", "CONFLATE=1",
			"--sockopt", "PROBE_ROUTER=1", "--sockopt", "RECONNECT_IVL=20")
		for _, v := range []string{"1", "2"} {
			pySend(t, p, socket.NewMsgString(v))
		}
		if err := p.Sync(ctx); err != nil { // both are in its queue
			t.Fatal(err)
		}
		router := openInterop(t, socket.Router)
		mustBind(t, router, ep)
		wantFrames(t, "our ROUTER", mustRecv(t, ctx, router), socket.NewMsgString("D", "2"))
	})
}

func TestInteropConflate(t *testing.T) {
	interopLeakCheck(t)
	for _, tr := range interopTransports {
		nobody := func(t *testing.T) string {
			if tr.name == "tcp" {
				return freeTCPEndpoint(t)
			}
			return tr.ep(t)
		}
		t.Run("go-push/"+tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := interopCtx(t)
			ep := nobody(t)
			push := openInterop(t, socket.Push, socket.WithConflate(), socket.WithReconnectInterval(20*time.Millisecond))
			mustConnect(t, push, ep)
			for _, v := range []string{"1", "2", "3"} {
				mustSend(t, ctx, push, socket.NewMsgString(v))
			}
			p := pyzmq.Socket(t, "PULL", "--bind", ep)
			wantFrames(t, "libzmq PULL", pyRecv(t, ctx, p), socket.NewMsgString("3"))
			mustSend(t, ctx, push, socket.NewMsgString("end"))
			wantFrames(t, "libzmq PULL", pyRecv(t, ctx, p), socket.NewMsgString("end"))
		})
		t.Run("py-push/"+tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := interopCtx(t)
			ep := nobody(t)
			p := pyzmq.Socket(t, "PUSH", "--connect", ep, "--sockopt", "CONFLATE=1", "--sockopt", "RECONNECT_IVL=20")
			for _, v := range []string{"1", "2", "3"} {
				pySend(t, p, socket.NewMsgString(v))
			}
			pull := openInterop(t, socket.Pull)
			if err := p.Sync(ctx); err != nil { // the three are in its queue
				t.Fatal(err)
			}
			mustBind(t, pull, ep)
			wantFrames(t, "our PULL", mustRecv(t, ctx, pull), socket.NewMsgString("3"))
			pySend(t, p, socket.NewMsgString("end"))
			wantFrames(t, "our PULL", mustRecv(t, ctx, pull), socket.NewMsgString("end"))
		})
	}
}
