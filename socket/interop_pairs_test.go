package socket_test

import (
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// The remaining compatible pairs of RFC 23, each against libzmq over tcp and
// ipc with each side binding: the request-reply types across each other
// (REQ-ROUTER, DEALER-REP, DEALER-DEALER, ROUTER-ROUTER) and PUB with a
// libzmq XSUB. (PUSH-PULL, REQ-REP, DEALER-ROUTER, PUB-SUB, XPUB-SUB,
// XSUB-XPUB and PAIR have tests of their own above.)
func TestInteropCrossPairs(t *testing.T) {
	interopLeakCheck(t)

	// Our REQ to a libzmq ROUTER that echoes: the envelope (identity,
	// delimiter) goes there and back, and REQ shows only the body.
	t.Run("go-req/py-router", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			req := openInterop(t, socket.Req)
			linkPeer(t, w, req, "ROUTER", "--echo")
			for i, body := range []string{"one", "two"} {
				mustSend(t, ctx, req, socket.NewMsgString(body, "part"))
				wantFrames(t, "our REQ, reply "+string(rune('1'+i)), mustRecv(t, ctx, req), socket.NewMsgString(body, "part"))
			}
		})
	})

	// A libzmq REQ to our ROUTER: we see [identity, "", body] and answer
	// along the same envelope.
	t.Run("py-req/go-router", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			router := openInterop(t, socket.Router)
			p := linkPeer(t, w, router, "REQ", "--identity", "py-req")
			pySend(t, p, socket.NewMsgString("question"))
			got := mustRecv(t, ctx, router)
			wantFrames(t, "our ROUTER", got, socket.NewMsgString("py-req", "", "question"))
			mustSend(t, ctx, router, socket.NewMsgString("py-req", "", "answer"))
			wantFrames(t, "libzmq REQ", pyRecv(t, ctx, p), socket.NewMsgString("answer"))
		})
	})

	// Our DEALER to a libzmq REP: the DEALER writes the delimiter itself.
	t.Run("go-dealer/py-rep", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			dealer := openInterop(t, socket.Dealer)
			linkPeer(t, w, dealer, "REP", "--echo")
			mustSend(t, ctx, dealer, socket.NewMsgString("", "ping"))
			wantFrames(t, "our DEALER", mustRecv(t, ctx, dealer), socket.NewMsgString("", "ping"))
		})
	})

	// A libzmq DEALER to our REP: REP strips the envelope and puts it back.
	t.Run("py-dealer/go-rep", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			rep := openInterop(t, socket.Rep)
			p := linkPeer(t, w, rep, "DEALER")
			pySend(t, p, socket.NewMsgString("", "ping"))
			wantFrames(t, "our REP", mustRecv(t, ctx, rep), socket.NewMsgString("ping"))
			mustSend(t, ctx, rep, socket.NewMsgString("pong"))
			wantFrames(t, "libzmq DEALER", pyRecv(t, ctx, p), socket.NewMsgString("", "pong"))
		})
	})

	t.Run("dealer/dealer", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			dealer := openInterop(t, socket.Dealer)
			p := linkPeer(t, w, dealer, "DEALER")
			mustSend(t, ctx, dealer, socket.NewMsgString("to", "libzmq"))
			wantFrames(t, "libzmq DEALER", pyRecv(t, ctx, p), socket.NewMsgString("to", "libzmq"))
			pySend(t, p, socket.NewMsgString("to", "us"))
			wantFrames(t, "our DEALER", mustRecv(t, ctx, dealer), socket.NewMsgString("to", "us"))
		})
	})

	// ROUTER to ROUTER: each addresses the other by the identity it
	// announced. The libzmq side repeats until the connection is up, since
	// a ROUTER drops what it cannot route yet.
	t.Run("router/router", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			router := openInterop(t, socket.Router, socket.WithIdentity([]byte("go-r")))
			p := linkPeer(t, w, router, "ROUTER", "--identity", "py-r")
			if err := p.Repeat(20*time.Millisecond, []byte("go-r"), []byte("hello")); err != nil {
				t.Fatal(err)
			}
			wantFrames(t, "our ROUTER", mustRecv(t, ctx, router), socket.NewMsgString("py-r", "hello"))
			if err := p.Echo(false); err != nil { // any command ends the repeat
				t.Fatal(err)
			}
			mustSend(t, ctx, router, socket.NewMsgString("py-r", "back"))
			for {
				m := pyRecv(t, ctx, p)
				if string(m[1]) == "back" {
					wantFrames(t, "libzmq ROUTER", m, socket.NewMsgString("go-r", "back"))
					break
				}
			}
		})
	})

	// Our PUB to a libzmq XSUB, which subscribes by sending 0x01+prefix.
	t.Run("go-pub/py-xsub", func(t *testing.T) {
		eachInteropWiring(t, func(t *testing.T, w interopWiring) {
			ctx := interopCtx(t)
			pub := openInterop(t, socket.Pub)
			p := linkPeer(t, w, pub, "XSUB")
			pySend(t, p, socket.Msg{[]byte("\x01A")})
			publishUntil(t, ctx, pub, pubWarmUp, func() { wantFrames(t, "libzmq XSUB", pyRecv(t, ctx, p), pubWarmUp) })
			for _, m := range pubFiltered {
				mustSend(t, ctx, pub, m)
			}
			expectFiltered(t, "libzmq XSUB", func() socket.Msg { return pyRecv(t, ctx, p) })
		})
	})
}
