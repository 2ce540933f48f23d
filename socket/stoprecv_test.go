package socket_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// waitUntil polls cond until it holds, failing the test after waitLimit:
// for counters no event tells of (Stats().Queued, Stats().Unreceived).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

// After StopReceiving a socket keeps what it had queued for Recv and
// takes nothing more: a tcp or ipc peer's later message is read and
// counted in Stats().Unreceived, an inproc peer's is refused at its Send
// (a PUB drops it and counts it), and the socket still sends. For every
// type that receives, over every transport.
func TestStopReceiving(t *testing.T) {
	for _, tc := range []struct {
		recv, send socket.Type
		replies    bool // the receiver can send back to the sender
	}{
		{recv: socket.Pull, send: socket.Push},
		{recv: socket.Pair, send: socket.Pair, replies: true},
		{recv: socket.Router, send: socket.Dealer, replies: true},
		{recv: socket.Dealer, send: socket.Dealer, replies: true},
		{recv: socket.Sub, send: socket.Pub},
		{recv: socket.XSub, send: socket.Pub},
	} {
		t.Run(fmt.Sprintf("%v<-%v", tc.recv, tc.send), func(t *testing.T) {
			eachTransport(t, func(t *testing.T, tr transport) {
				r := openSock(t, tc.recv)
				s := openSock(t, tc.send, socket.WithLinger(0))
				s.connect(r.bind(tr.endpoint(t)))
				switch tc.recv {
				case socket.Sub:
					must(t, r.Subscribe(nil))
					subSync(t, s, r)
				case socket.XSub:
					r.send("\x01")
					subSync(t, s, r)
				default:
					s.send("hello")
					r.recv()
				}
				s.send("before")
				waitUntil(t, "the message sent before is queued", func() bool { return r.Stats().Queued == 1 })
				r.StopReceiving()
				r.StopReceiving() // a second call does nothing
				sendAfter(t, s, tr, tc.send)
				if tr.name != "inproc" {
					waitUntil(t, "the message sent after is counted unreceived", func() bool { return r.Stats().Unreceived == 1 })
				}
				m := r.recv()
				if got := m[len(m)-1]; got != "before" {
					t.Fatalf("received %q, want the message sent before StopReceiving", m)
				}
				if m, err := r.TryRecv(); !errors.Is(err, socket.ErrWouldBlock) {
					t.Fatalf("TryRecv after the queue was taken: %q, %v; want ErrWouldBlock", m.Strings(), err)
				}
				if st := r.Stats(); st.Queued != 0 || tr.name == "inproc" && st.Unreceived != 0 {
					t.Fatalf("Stats after: Queued %d, Unreceived %d", st.Queued, st.Unreceived)
				}
				if tc.replies {
					reply := socket.NewMsgString("reply")
					if tc.recv == socket.Router {
						reply = append(socket.Msg{[]byte(m[0])}, reply...)
					}
					ctx := testCtx(t, waitLimit)
					must(t, r.Send(ctx, reply))
					if got := s.recv(); got[len(got)-1] != "reply" {
						t.Fatalf("the sender received %q, want the reply", got)
					}
				}
				must(t, r.Close())
				if tr.name == "inproc" {
					if d := s.Stats().Discarded; d != 0 {
						t.Fatalf("the receiver's close discarded %d of the sender's messages", d)
					}
				}
			})
		})
	}
}

// sendAfter sends a message once the receiver stopped receiving: over
// inproc the receiver refuses it, which a PUB counts as dropped and the
// other types see as no room.
func sendAfter(t *testing.T, s *tsock, tr transport, typ socket.Type) {
	t.Helper()
	err := s.TrySend(socket.NewMsgString("after"))
	switch {
	case tr.name != "inproc":
		must(t, err)
	case typ == socket.Pub:
		must(t, err)
		if d := s.Stats().Dropped; d != 1 {
			t.Fatalf("the PUB counts %d messages dropped, want 1 (refused by the stopped receiver)", d)
		}
		if e := s.await(socket.EventDropped); e.Err == nil || !strings.Contains(e.Err.Error(), "peer stopped receiving") {
			t.Fatalf("the PUB reports the drop as %v, want the peer stopped receiving", e.Err)
		}
	default:
		if !errors.Is(err, socket.ErrWouldBlock) {
			t.Fatalf("TrySend to an inproc peer that stopped receiving: %v, want ErrWouldBlock", err)
		}
	}
}

// REP: a request taken before StopReceiving is still answered, and the
// next one is not taken in.
func TestStopReceivingRep(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		rep := openSock(t, socket.Rep)
		req := openSock(t, socket.Req, socket.WithLinger(0))
		req.connect(rep.bind(tr.endpoint(t)))
		req.send("q1")
		rep.recv()
		rep.StopReceiving()
		rep.send("a1")
		if got := req.recv(); got[0] != "a1" {
			t.Fatalf("REQ received %q, want a1", got)
		}
		sendAfter(t, req, tr, socket.Req)
		if tr.name != "inproc" {
			waitUntil(t, "the request sent after is counted unreceived", func() bool { return rep.Stats().Unreceived == 1 })
		}
		if m, err := rep.TryRecv(); !errors.Is(err, socket.ErrWouldBlock) {
			t.Fatalf("REP TryRecv after StopReceiving: %q, %v; want ErrWouldBlock", m.Strings(), err)
		}
	})
}

// XPUB: the subscriptions it reads after StopReceiving still steer what
// it sends, but none is queued for Recv.
func TestStopReceivingXPub(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub)
		sub := openSock(t, socket.Sub, socket.WithLinger(0))
		sub.connect(xpub.bind(tr.endpoint(t)))
		must(t, sub.Subscribe([]byte("a")))
		if got := xpub.recv(); got[0] != "\x01a" {
			t.Fatalf("XPUB received %q, want the subscription to a", got)
		}
		xpub.StopReceiving()
		must(t, sub.Subscribe([]byte("b")))
		if tr.name == "inproc" {
			// Applied at once by the subscriber's call; refused for Recv.
			if d := xpub.Stats().Dropped; d != 1 {
				t.Fatalf("XPUB Dropped %d, want 1 (the subscription to b, not queued)", d)
			}
		} else {
			waitUntil(t, "the subscription to b is read", func() bool { return xpub.Stats().Unreceived == 1 })
		}
		xpub.send("b1")
		if got := sub.recv(); got[0] != "b1" {
			t.Fatalf("SUB received %q, want b1", got)
		}
		if m, err := xpub.TryRecv(); !errors.Is(err, socket.ErrWouldBlock) {
			t.Fatalf("XPUB TryRecv after StopReceiving: %q, %v; want ErrWouldBlock", m.Strings(), err)
		}
	})
}

// A peer floods the receiver as it stops receiving: every message the
// peer counts as sent is received (it was queued before the stop) or, over
// tcp and ipc, counted in Unreceived; over inproc nothing is left for the
// receiver's Close to discard. Small high-water marks keep the reader
// waiting for room as the stop comes.
func TestStopReceivingUnderFlood(t *testing.T) {
	for _, tc := range []struct{ recv, send socket.Type }{
		{socket.Pull, socket.Push},
		{socket.Router, socket.Dealer},
		{socket.Pair, socket.Pair},
	} {
		t.Run(fmt.Sprintf("%v<-%v", tc.recv, tc.send), func(t *testing.T) {
			eachTransport(t, func(t *testing.T, tr transport) {
				rounds := 20
				if testing.Short() || tr.name != "inproc" {
					rounds = 5
				}
				for round := range rounds {
					floodStop(t, tr, tc.recv, tc.send, round)
				}
			})
		})
	}
}

func floodStop(t *testing.T, tr transport, recvType, sendType socket.Type, round int) {
	r := openSock(t, recvType, socket.WithRecvHWM(4))
	s := openSock(t, sendType, socket.WithLinger(0), socket.WithSendHWM(4))
	s.connect(r.bind(tr.endpoint(t)))
	stopSending := flood(s)
	received := 0
	for range 1 + round%4 {
		r.recv()
		received++
	}
	r.StopReceiving()
	for r.Stats().Queued > 0 {
		ms, err := r.TryRecvBatch(nil, 16)
		must(t, err)
		received += len(ms)
	}
	if err := stopSending(); err != nil {
		t.Fatal(err)
	}
	if q := r.Stats().Queued; q != 0 {
		t.Fatalf("round %d: %d messages queued after StopReceiving and the queue was taken", round, q)
	}
	if tr.name == "inproc" {
		must(t, r.Close())
		st := s.Stats()
		if st.Discarded != 0 || st.Sent != uint64(received) {
			t.Fatalf("round %d: Sent %d, received %d, discarded at the receiver's close %d", round, st.Sent, received, st.Discarded)
		}
		return
	}
	// The sender's queue drains onto the wire, and the receiver reads
	// it all, without waiting for room: every message sent is counted.
	sent := s.Stats().Sent
	waitUntil(t, fmt.Sprintf("round %d: the %d messages sent are received or unreceived", round, sent), func() bool {
		return uint64(received)+r.Stats().Unreceived == s.Stats().Sent
	})
}
