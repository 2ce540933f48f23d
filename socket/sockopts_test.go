package socket_test

// The libzmq socket options of options_libzmq.go: which types take each,
// and what each does, over every transport where the transport matters.

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

var allTypes = []socket.Type{
	socket.Pair, socket.Pub, socket.Sub, socket.Req, socket.Rep, socket.Dealer,
	socket.Router, socket.Pull, socket.Push, socket.XPub, socket.XSub,
}

// sockoptTypes is each type-specific option and the types it applies to,
// as libzmq's zmq_setsockopt lists them.
var sockoptTypes = []struct {
	name  string
	opt   socket.Option
	types []socket.Type
}{
	{"WithRouterMandatory", socket.WithRouterMandatory(), []socket.Type{socket.Router}},
	{"WithXPubVerbose", socket.WithXPubVerbose(), []socket.Type{socket.XPub}},
	{"WithXPubVerboser", socket.WithXPubVerboser(), []socket.Type{socket.XPub}},
	{"WithInvertMatching", socket.WithInvertMatching(), []socket.Type{socket.Pub, socket.XPub, socket.Sub}},
	{"WithReqRelaxed", socket.WithReqRelaxed(), []socket.Type{socket.Req}},
	{"WithReqCorrelate", socket.WithReqCorrelate(), []socket.Type{socket.Req}},
	{"WithRouterHandover", socket.WithRouterHandover(), []socket.Type{socket.Router}},
	{"WithProbeRouter", socket.WithProbeRouter(), []socket.Type{socket.Router, socket.Dealer, socket.Req}},
	{"WithImmediate", socket.WithImmediate(), allTypes},
	{"WithConflate", socket.WithConflate(), []socket.Type{socket.Pull, socket.Push, socket.Sub, socket.Pub, socket.Dealer}},
	{"WithTCPKeepAlive", socket.WithTCPKeepAlive(net.KeepAliveConfig{Enable: true}), allTypes},
	{"WithXPubManual", socket.WithXPubManual(), []socket.Type{socket.XPub}},
	{"WithXPubWelcome", socket.WithXPubWelcome(socket.NewMsgString("hi")), []socket.Type{socket.XPub}},
}

// An option given to a type it does not apply to fails New with
// ErrBadOption, naming the option and the type; on the types it applies to,
// New accepts it.
func TestSockoptTypes(t *testing.T) {
	for _, o := range sockoptTypes {
		for _, typ := range allTypes {
			s, err := socket.New(typ, o.opt)
			if slices.Contains(o.types, typ) {
				if err != nil {
					t.Errorf("New(%v, %s): %v, want it accepted", typ, o.name, err)
					continue
				}
				s.Close()
				continue
			}
			if err == nil {
				s.Close()
				t.Errorf("New(%v, %s) accepted, want ErrBadOption", typ, o.name)
				continue
			}
			if !errors.Is(err, socket.ErrBadOption) || !strings.Contains(err.Error(), o.name) || !strings.Contains(err.Error(), typ.String()) {
				t.Errorf("New(%v, %s): %v, want ErrBadOption naming the option and the type", typ, o.name, err)
			}
		}
	}
}

// expectXPub receives the next message of an XPUB and checks it is want.
func expectXPub(t *testing.T, xpub *tsock, want string) {
	t.Helper()
	if m := xpub.recv(); !equal(m, want) {
		t.Fatalf("XPUB got %q, want %q", m, want)
	}
}

// A verbose XPUB passes every subscribe, a second subscriber's and a
// repeated one included; cancels only when nobody holds the prefix.
func TestXPubVerbose(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub, socket.WithXPubVerbose())
		ep := xpub.bind(tr.endpoint(t))
		sub1, sub2 := openSock(t, socket.Sub), openSock(t, socket.Sub)
		sub1.connect(ep)
		sub2.connect(ep)

		must(t, sub1.Subscribe([]byte("A")))
		expectXPub(t, xpub, "\x01A")
		must(t, sub2.Subscribe([]byte("A")))
		expectXPub(t, xpub, "\x01A")
		must(t, sub1.Subscribe([]byte("A"))) // the same peer again
		expectXPub(t, xpub, "\x01A")

		// sub1 cancels both of its "A": sub2 still holds it, so no cancel
		// is passed on; the marker on the same connection shows it.
		must(t, sub1.Unsubscribe([]byte("A")))
		must(t, sub1.Unsubscribe([]byte("A")))
		must(t, sub1.Subscribe([]byte("M")))
		expectXPub(t, xpub, "\x01M")
		must(t, sub2.Unsubscribe([]byte("A")))
		expectXPub(t, xpub, "\x00A")
	})
}

// A verboser XPUB passes every cancel too, and one for each subscription of
// a subscriber that left.
func TestXPubVerboser(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub, socket.WithXPubVerboser())
		ep := xpub.bind(tr.endpoint(t))
		sub1, sub2 := openSock(t, socket.Sub), openSock(t, socket.Sub)
		sub1.connect(ep)
		sub2.connect(ep)

		must(t, sub1.Subscribe([]byte("A")))
		expectXPub(t, xpub, "\x01A")
		must(t, sub2.Subscribe([]byte("A")))
		expectXPub(t, xpub, "\x01A")
		must(t, sub1.Unsubscribe([]byte("A")))
		expectXPub(t, xpub, "\x00A")
		must(t, sub2.Close())
		expectXPub(t, xpub, "\x00A")
		if m, ok := xpub.tryRecv(50 * time.Millisecond); ok {
			t.Errorf("XPUB got an extra message %q", m)
		}
	})
}

// A welcome message reaches each subscriber first, over every transport,
// and again when a subscriber connects anew.
func TestXPubWelcome(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ep := tr.endpoint(t)
		if tr.name == "tcp" {
			ep = freeTCPEndpoint(t)
		}
		// Verbose, so that each subscriber's subscription shows.
		xpub := openSock(t, socket.XPub, socket.WithXPubVerbose(), socket.WithXPubWelcome(socket.NewMsgString("hello", "1")))
		ep = xpub.bind(ep)
		subs := []*tsock{openSock(t, socket.Sub, socket.WithReconnectInterval(20*time.Millisecond)), openSock(t, socket.Sub)}
		for _, sub := range subs {
			must(t, sub.Subscribe([]byte("hello")))
			sub.connect(ep)
			if m := sub.recv(); !equal(m, "hello", "1") {
				t.Fatalf("SUB got %q first, want the welcome", m)
			}
		}
		// Both subscriptions arrived: a message published now reaches both,
		// after the welcome.
		expectXPub(t, xpub, "\x01hello")
		expectXPub(t, xpub, "\x01hello")
		xpub.send("hello", "2")
		for _, sub := range subs {
			if m := sub.recv(); !equal(m, "hello", "2") {
				t.Fatalf("SUB got %q, want [hello 2]", m)
			}
		}
		if tr.name == "inproc" {
			return // no reconnect: a new bind links the connector anew, tested below for tcp
		}
		// The publisher restarts: the first subscriber reconnects and is
		// welcomed by the new one.
		must(t, xpub.Close())
		xpub2 := openSock(t, socket.XPub, socket.WithXPubWelcome(socket.NewMsgString("hello", "again")))
		xpub2.bind(ep)
		if m := subs[0].recv(); !equal(m, "hello", "again") {
			t.Fatalf("SUB got %q after the reconnect, want the new welcome", m)
		}
	})
}

// A manual XPUB applies no subscription itself: the application grants
// each, here another prefix than the one asked for, and withdraws them.
func TestXPubManual(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub, socket.WithXPubManual())
		ep := xpub.bind(tr.endpoint(t))
		isErr(t, "Subscribe before any Recv", xpub.Subscribe([]byte("X")), socket.ErrState)
		xsub := openSock(t, socket.XSub)
		xsub.connect(ep)
		xsub.await(socket.EventHandshakeOK) // else both go at once, in any order
		xsub.send("\x01A")
		xsub.send("\x01B")

		expectXPub(t, xpub, "\x01A")
		must(t, xpub.Subscribe([]byte("XA")))
		expectXPub(t, xpub, "\x01B")
		must(t, xpub.Subscribe([]byte("XB")))
		// Not applied: "A" and "B" are not sent to the peer, "XA" and "XB" are.
		for _, topic := range []string{"A", "B", "XA", "XB"} {
			xpub.send(topic)
		}
		for _, want := range []string{"XA", "XB"} {
			if m := xsub.recv(); !equal(m, want) {
				t.Fatalf("XSUB got %q, want [%s]", m, want)
			}
		}

		// A repeat is passed on too; a cancel, and the application
		// withdraws what it granted for it.
		xsub.send("\x01A")
		expectXPub(t, xpub, "\x01A")
		xsub.send("\x00A") // XSUB passes on the cancel of its last "A" only
		xsub.send("\x00A")
		expectXPub(t, xpub, "\x00A")
		must(t, xpub.Unsubscribe([]byte("XA")))
		xpub.send("XA")
		xpub.send("XB")
		if m := xsub.recv(); !equal(m, "XB") {
			t.Fatalf("XSUB got %q after the cancel, want [XB]", m)
		}

		// A message from the peer is not a subscription: nothing to apply to.
		xsub.send("data")
		if m := xpub.recv(); !equal(m, "data") {
			t.Fatalf("XPUB got %q, want [data]", m)
		}
		isErr(t, "Subscribe after a data message", xpub.Subscribe([]byte("X")), socket.ErrState)

		// The peer leaves: a cancel for what it still asked for ("B").
		must(t, xsub.Close())
		expectXPub(t, xpub, "\x00B")
		must(t, xpub.Unsubscribe([]byte("XB"))) // the peer is gone: nothing to do
	})
}

// Subscribe on an XPUB without WithXPubManual is not supported.
func TestXPubSubscribeNeedsManual(t *testing.T) {
	xpub := openSock(t, socket.XPub)
	isErr(t, "Subscribe on a plain XPUB", xpub.Subscribe([]byte("A")), socket.ErrNotSupported)
}

// An inverting XPUB sends each message to the subscribers that did not
// subscribe to it: not to the one that subscribed to "A", and everything
// to one that subscribed to nothing.
func TestInvertMatchingPublisher(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub, socket.WithInvertMatching())
		ep := xpub.bind(tr.endpoint(t))
		xsubA, xsubNone := openSock(t, socket.XSub), openSock(t, socket.XSub)
		xsubA.connect(ep)
		xsubNone.connect(ep)
		xpub.awaitN(socket.EventHandshakeOK, 2) // both attached: both are sent to
		xsubA.send("\x01A")
		expectXPub(t, xpub, "\x01A")
		topics := []string{"A", "B", "AB", "C"}
		for _, topic := range topics {
			xpub.send(topic)
		}
		for _, want := range []string{"B", "C"} {
			if m := xsubA.recv(); !equal(m, want) {
				t.Fatalf("XSUB of A got %q, want [%s]", m, want)
			}
		}
		for _, want := range topics {
			if m := xsubNone.recv(); !equal(m, want) {
				t.Fatalf("XSUB of nothing got %q, want [%s]", m, want)
			}
		}
	})
}

// An inverting SUB receives only what matches none of its subscriptions,
// here from a manual XPUB that grants it everything.
func TestInvertMatchingSub(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub, socket.WithXPubManual())
		ep := xpub.bind(tr.endpoint(t))
		sub := openSock(t, socket.Sub, socket.WithInvertMatching())
		must(t, sub.Subscribe([]byte("A")))
		sub.connect(ep)
		expectXPub(t, xpub, "\x01A")
		must(t, xpub.Subscribe(nil)) // everything
		for _, topic := range []string{"A", "B", "AB", "C"} {
			xpub.send(topic)
		}
		for _, want := range []string{"B", "C"} {
			if m := sub.recv(); !equal(m, want) {
				t.Fatalf("SUB got %q, want [%s]", m, want)
			}
		}
	})
}

// A relaxed REQ sends again without the reply; the new request goes to the
// next peer, and the abandoned request's reply, from the other peer, is
// discarded.
func TestReqRelaxedNextPeer(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		routers := []*tsock{openSock(t, socket.Router), openSock(t, socket.Router)}
		req := openSock(t, socket.Req, socket.WithReqRelaxed())
		for _, r := range routers {
			req.connect(r.bind(tr.endpoint(t)))
		}
		req.send("q1")
		req.send("q2") // strict, this would be ErrState
		var got [2][]string
		for i, r := range routers {
			got[i] = r.recv()
		}
		// One request each, in either order.
		if got[0][2] == got[1][2] || len(got[0]) != 3 || len(got[1]) != 3 {
			t.Fatalf("ROUTERs got %q and %q, want q1 at one and q2 at the other", got[0], got[1])
		}
		for i, r := range routers {
			r.send(got[i][0], "", "reply to "+got[i][2])
		}
		if m := req.recv(); !equal(m, "reply to q2") {
			t.Fatalf("REQ got %q, want the reply to q2", m)
		}
		isErr(t, "Recv after the reply", recvErr(testCtx(t, waitLimit), req), socket.ErrState)
	})
}

// A relaxed REQ discards the replies already received when it sends anew.
// inproc delivers in Send, so the stale reply is queued before the new
// request.
func TestReqRelaxedDiscardsQueued(t *testing.T) {
	router := openSock(t, socket.Router)
	ep := router.bind(inprocName(t))
	req := openSock(t, socket.Req, socket.WithReqRelaxed())
	req.connect(ep)
	req.send("q1")
	m := router.recv()
	router.send(m[0], "", "stale")
	req.send("q2")
	m = router.recv()
	router.send(m[0], "", "fresh")
	if got := req.recv(); !equal(got, "fresh") {
		t.Fatalf("REQ got %q, want [fresh]", got)
	}
}

// A correlating REQ numbers its requests; a ROUTER sees the id frame and
// must return it. With relaxed, the late reply to an abandoned request,
// from the same peer, is told apart and dropped; a plain REQ takes it.
func TestReqCorrelate(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		router := openSock(t, socket.Router)
		ep := router.bind(tr.endpoint(t))
		req := openSock(t, socket.Req, socket.WithReqRelaxed(), socket.WithReqCorrelate())
		req.connect(ep)
		req.send("q1")
		m1 := router.recv()
		req.send("q2")
		m2 := router.recv()
		if len(m1) != 4 || len(m1[1]) != 4 || m1[2] != "" || m1[3] != "q1" || len(m2) != 4 || m2[3] != "q2" || m1[1] == m2[1] {
			t.Fatalf("ROUTER got %q and %q, want [identity, id, \"\", body], ids apart", m1, m2)
		}
		router.send(m1[0], m1[1], "", "late reply to q1")
		router.send(m2[0], m2[1], "", "reply to q2")
		if m := req.recv(); !equal(m, "reply to q2") {
			t.Fatalf("REQ got %q, want the reply to q2", m)
		}

		// Without the id, the late reply passes for the new one: what
		// correlate is for.
		plain := openSock(t, socket.Req, socket.WithReqRelaxed())
		plain.connect(ep)
		plain.send("q1")
		p1 := router.recv()
		plain.send("q2")
		router.recv()
		router.send(p1[0], "", "late reply to q1")
		if m := plain.recv(); !equal(m, "late reply to q1") {
			t.Fatalf("uncorrelated REQ got %q, want the late reply (no way to tell)", m)
		}
	})
}

// A correlating REQ talks to a REP as any REQ: the REP returns the id with
// the envelope.
func TestReqCorrelateRep(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		rep := openSock(t, socket.Rep)
		ep := rep.bind(tr.endpoint(t))
		req := openSock(t, socket.Req, socket.WithReqCorrelate())
		req.connect(ep)
		for _, q := range []string{"one", "two"} {
			req.send(q)
			if m := rep.recv(); !equal(m, q) {
				t.Fatalf("REP got %q, want [%s]", m, q)
			}
			rep.send("re " + q)
			if m := req.recv(); !equal(m, "re "+q) {
				t.Fatalf("REQ got %q, want [re %s]", m, q)
			}
		}
	})
}

// A handing-over ROUTER gives an identity in use to the new peer that
// announces it, and drops the old one.
func TestRouterHandover(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		router := openSock(t, socket.Router, socket.WithRouterHandover())
		ep := router.bind(tr.endpoint(t))
		// The old peer must not redial and take the identity back.
		old := openSock(t, socket.Dealer, socket.WithIdentity([]byte("X")), socket.WithReconnectInterval(time.Hour))
		old.connect(ep)
		old.send("from old")
		if m := router.recv(); !equal(m, "X", "from old") {
			t.Fatalf("ROUTER got %q", m)
		}
		newer := openSock(t, socket.Dealer, socket.WithIdentity([]byte("X")))
		newer.connect(ep)
		newer.send("from new")
		if m := router.recv(); !equal(m, "X", "from new") {
			t.Fatalf("ROUTER got %q", m)
		}
		if tr.name != "inproc" {
			if e := router.await(socket.EventDisconnected); !errors.Is(e.Err, socket.ErrHandedOver) {
				t.Errorf("old peer's disconnect: %v, want ErrHandedOver", e)
			}
			old.await(socket.EventDisconnected)
		}
		router.send("X", "to X")
		if m := newer.recv(); !equal(m, "to X") {
			t.Fatalf("new peer got %q", m)
		}
		if st := router.Stats(); st.Peers != 1 {
			t.Errorf("ROUTER has %d peers, want 1", st.Peers)
		}
	})
}

// Without handover the new peer with an identity in use is refused, and
// the old one keeps it.
func TestRouterNoHandover(t *testing.T) {
	router := openSock(t, socket.Router)
	ep := router.bind("tcp://127.0.0.1:*")
	old := openSock(t, socket.Dealer, socket.WithIdentity([]byte("X")))
	old.connect(ep)
	old.send("from old")
	router.recv()
	newer := openSock(t, socket.Dealer, socket.WithIdentity([]byte("X")))
	newer.connect(ep)
	router.await(socket.EventHandshakeFailed)
	router.send("X", "to X")
	if m := old.recv(); !equal(m, "to X") {
		t.Fatalf("old peer got %q", m)
	}
}

// A probing DEALER, REQ or ROUTER sends one empty frame to the ROUTER it
// connects to, before anything it queued: the ROUTER learns its identity
// at once and can answer.
func TestProbeRouter(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, typ := range []socket.Type{socket.Dealer, socket.Req, socket.Router} {
			t.Run(typ.String(), func(t *testing.T) {
				ep := tr.endpoint(t)
				if tr.name == "tcp" {
					ep = freeTCPEndpoint(t)
				}
				client := openSock(t, typ, socket.WithProbeRouter(), socket.WithIdentity([]byte("C")), socket.WithReconnectInterval(20*time.Millisecond))
				client.connect(ep) // before the bind: queued messages wait behind the probe
				if typ != socket.Router {
					client.send("queued")
				}
				router := openSock(t, socket.Router)
				router.bind(ep)
				if m := router.recv(); !equal(m, "C", "") {
					t.Fatalf("ROUTER got %q first, want the probe [C, \"\"]", m)
				}
				sent := uint64(1) // the probe is a message sent
				if typ != socket.Router {
					m := router.recv()
					if m[len(m)-1] != "queued" {
						t.Fatalf("ROUTER got %q, want the queued message", m)
					}
					sent++
				}
				if got := client.Sent(); got != sent {
					t.Fatalf("client's Sent = %d, want %d (the probe among them)", got, sent)
				}
				if tr.name == "inproc" {
					return
				}
				// A new ROUTER on the endpoint is probed when the client reconnects.
				must(t, router.Close())
				router2 := openSock(t, socket.Router)
				router2.bind(ep)
				if m := router2.recv(); !equal(m, "C", "") {
					t.Fatalf("new ROUTER got %q first, want the probe", m)
				}
				if got := client.Sent(); got != sent+1 {
					t.Fatalf("client's Sent = %d after a reconnect's probe, want %d", got, sent+1)
				}
			})
		}
	})
}

// A probing ROUTER that binds probes each peer that connects.
func TestProbeRouterBound(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		server := openSock(t, socket.Router, socket.WithProbeRouter(), socket.WithIdentity([]byte("S")))
		ep := server.bind(tr.endpoint(t))
		client := openSock(t, socket.Router)
		client.connect(ep)
		if m := client.recv(); !equal(m, "S", "") {
			t.Fatalf("ROUTER got %q, want the probe [S, \"\"]", m)
		}
	})
}

// unreachable is an endpoint of transport tr that nothing binds.
func unreachable(t *testing.T, tr transport) string {
	if tr.name == "tcp" {
		return freeTCPEndpoint(t)
	}
	return tr.endpoint(t)
}

// An immediate PUSH sends only to the peer that is connected, none to the
// one that never comes; with no peer connected, Send waits for one.
func TestImmediate(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull)
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithImmediate())
		push.connect(unreachable(t, tr))
		push.connect(ep)
		if tr.name != "inproc" {
			push.await(socket.EventHandshakeOK)
		}
		const n = 10
		for i := range n {
			push.send(string(rune('a' + i)))
		}
		for i := range n {
			if m := pull.recv(); !equal(m, string(rune('a'+i))) {
				t.Fatalf("PULL got %q, want message %d of %d in order", m, i, n)
			}
		}
		if st := push.Stats(); st.Peers != 1 || st.Discarded != 0 {
			t.Errorf("PUSH stats %+v, want 1 peer and nothing discarded", st)
		}
	})
}

// An immediate socket with no connected peer blocks Send (a done ctx makes
// it a try) until a peer connects.
func TestImmediateNoPeer(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ep := unreachable(t, tr)
		dealer := openSock(t, socket.Dealer, socket.WithImmediate(), socket.WithReconnectInterval(20*time.Millisecond))
		dealer.connect(ep)
		done, cancel := context.WithCancel(context.Background())
		cancel()
		isErr(t, "Send with a done ctx and no peer", dealer.Send(done, socket.NewMsgString("x")), context.Canceled)
		short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel2()
		isErr(t, "Send with no peer", dealer.Send(short, socket.NewMsgString("x")), context.DeadlineExceeded)
		if st := dealer.Stats(); st.Peers != 0 {
			t.Errorf("DEALER has %d peers before any connection, want 0", st.Peers)
		}
		// The peer comes: the blocked Send goes to it.
		sent := make(chan error, 1)
		go func() { sent <- dealer.Send(testCtx(t, waitLimit), socket.NewMsgString("hello")) }()
		router := openSock(t, socket.Router)
		router.bind(ep)
		must(t, <-sent)
		if m := router.recv(); len(m) != 2 || m[1] != "hello" {
			t.Fatalf("ROUTER got %q, want [id hello]", m)
		}
	})
}

// A conflating sender keeps only the last message for a peer that is not
// there yet: the peer, when it comes, receives that one, then what follows.
func TestConflateSend(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ep := unreachable(t, tr)
		push := openSock(t, socket.Push, socket.WithConflate(), socket.WithReconnectInterval(20*time.Millisecond))
		push.connect(ep)
		for _, v := range []string{"1", "2", "3"} {
			push.send(v)
		}
		isErr(t, "multipart Send", push.Send(testCtx(t, waitLimit), socket.NewMsgString("a", "b")), socket.ErrNotSupported)
		pull := openSock(t, socket.Pull)
		pull.bind(ep)
		if m := pull.recv(); !equal(m, "3") {
			t.Fatalf("PULL got %q, want only the last, [3]", m)
		}
		push.send("4")
		if m := pull.recv(); !equal(m, "4") {
			t.Fatalf("PULL got %q, want [4]", m)
		}
		if st := push.Stats(); st.Discarded != 0 || st.Dropped != 0 {
			t.Errorf("PUSH stats %+v: replaced messages are neither discarded nor dropped", st)
		}
	})
}

// A conflating DEALER's probe obeys the conflate rule as every message
// queued does, as libzmq's: it is queued as the pipe is made (at the
// Connect, or for an inproc name, waiting for its Bind), so a message
// sent before the peer came replaces it; with nothing sent it goes alone.
// Either way it is a message sent.
func TestConflateProbeBeforePeer(t *testing.T) {
	for _, tr := range []string{"inproc", "tcp", "ipc"} {
		for _, queued := range [][]string{nil, {"1", "2"}} {
			t.Run(tr+"/"+strconv.Itoa(len(queued))+" queued", func(t *testing.T) {
				// Nobody is there: the ROUTER binds once the DEALER
				// has queued.
				var ep string
				switch tr {
				case "inproc":
					ep = inprocName(t)
				case "tcp":
					ep = freeTCPEndpoint(t)
				case "ipc":
					ep = "ipc://" + t.TempDir() + "/probe.sock"
				}
				dealer := openSock(t, socket.Dealer, socket.WithConflate(), socket.WithProbeRouter(),
					socket.WithIdentity([]byte("C")), socket.WithReconnectInterval(10*time.Millisecond))
				dealer.connect(ep)
				for _, v := range queued {
					dealer.send(v)
				}
				router := openSock(t, socket.Router)
				router.bind(ep)
				want := []string{"C", ""}
				if len(queued) > 0 {
					want = []string{"C", queued[len(queued)-1]}
				}
				if m := router.recv(); !equal(m, want...) {
					t.Fatalf("ROUTER got %q first, want %q", m, want)
				}
				// inproc delivers at the Bind: anything else would be
				// queued now.
				if st := router.Stats(); tr == "inproc" && st.Queued != 0 {
					t.Errorf("ROUTER has %d more messages queued, want none: a conflating queue holds one", st.Queued)
				}
				dealer.send("3")
				if m := router.recv(); !equal(m, "C", "3") {
					t.Fatalf("ROUTER got %q next, want [C 3]", m)
				}
				if got, want := dealer.Sent(), uint64(len(queued)+2); got != want {
					t.Errorf("DEALER Sent %d, want %d: the probe and what it sent", got, want)
				}
			})
		}
	}
}

// A conflating receiver that binds an inproc name after a peer queued
// for it takes the last of what was queued, as if the queue had
// conflated from the start, and the latest after that.
func TestConflateRecvBoundLate(t *testing.T) {
	ep := inprocName(t)
	push := openSock(t, socket.Push)
	push.connect(ep)
	for _, v := range []string{"1", "2", "3"} {
		push.send(v)
	}
	pull := openSock(t, socket.Pull, socket.WithConflate())
	pull.bind(ep)
	if m := pull.recv(); !equal(m, "3") {
		t.Fatalf("PULL got %q, want only the last, [3]", m)
	}
	if st := pull.Stats(); st.Queued != 0 {
		t.Errorf("PULL has %d more messages queued, want none", st.Queued)
	}
	push.send("4")
	push.send("5")
	if m := pull.recv(); !equal(m, "5") {
		t.Fatalf("PULL got %q, want [5]", m)
	}
}

// A conflating receiver keeps only the last message from each peer: a
// receiver that did not keep up gets the latest. inproc delivers in Send,
// so all three are there before the Recv; over tcp and ipc what arrived by
// the Recv is there, so the values received only rise, to the last.
func TestConflateRecv(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull, socket.WithConflate())
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push)
		push.connect(ep)
		const n = 200
		for i := 1; i <= n; i++ {
			push.send(strconv.Itoa(i))
		}
		last := 0
		for last < n {
			m := pull.recv()
			v, err := strconv.Atoi(m[0])
			if err != nil || v <= last {
				t.Fatalf("PULL got %q after %d: want a later value", m, last)
			}
			if tr.name == "inproc" && v != n {
				t.Fatalf("PULL got %q, want only the last, %d", m, n)
			}
			last = v
		}
	})
}
