package socket_test

// REQ/REP, ROUTER/DEALER and PAIR semantics over every transport.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// REQ adds the empty delimiter, REP takes the envelope off and puts it back
// on the reply; both enforce strict alternation with ErrState.
func TestReqRepAlternation(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		rep := openSock(t, socket.Rep)
		ep := rep.bind(tr.endpoint(t))
		req := openSock(t, socket.Req)
		req.connect(ep)
		ctx := testCtx(t, waitLimit)

		isErr(t, "REQ Recv before Send", recvErr(ctx, req), socket.ErrState)
		isErr(t, "REP Send before Recv", rep.Send(ctx, socket.NewMsgString("x")), socket.ErrState)

		for i := range 3 {
			q := fmt.Sprint("question ", i)
			req.send(q, "part 2")
			isErr(t, "second REQ Send", req.Send(ctx, socket.NewMsgString("again")), socket.ErrState)
			if m := rep.recv(); !equal(m, q, "part 2") {
				t.Fatalf("REP got %q, want [%q \"part 2\"]", m, q)
			}
			isErr(t, "second REP Recv", recvErr(ctx, rep), socket.ErrState)
			rep.send("answer", fmt.Sprint(i))
			isErr(t, "second REP Send", rep.Send(ctx, socket.NewMsgString("again")), socket.ErrState)
			if m := req.recv(); !equal(m, "answer", fmt.Sprint(i)) {
				t.Fatalf("REQ got %q", m)
			}
		}
	})
}

// A REQ Recv that times out leaves the request outstanding: the reply can
// still be received afterwards.
func TestReqRecvTimeoutKeepsState(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		rep := openSock(t, socket.Rep)
		ep := rep.bind(tr.endpoint(t))
		req := openSock(t, socket.Req)
		req.connect(ep)
		req.send("q")
		if _, ok := req.tryRecv(20 * time.Millisecond); ok {
			t.Fatal("reply before REP answered")
		}
		isErr(t, "REQ Send while the request is outstanding", req.Send(testCtx(t, time.Second), socket.NewMsgString("q2")), socket.ErrState)
		rep.recv()
		rep.send("a")
		if m := req.recv(); !equal(m, "a") {
			t.Fatalf("REQ got %q", m)
		}
	})
}

func recvErr(ctx context.Context, s *tsock) error {
	_, err := s.Recv(ctx)
	return err
}

// REQ to a ROUTER shows the envelope: identity, empty delimiter, body. REQ
// takes only a well-formed reply to its request.
func TestReqToRouterEnvelope(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		router := openSock(t, socket.Router)
		ep := router.bind(tr.endpoint(t))
		req := openSock(t, socket.Req, socket.WithIdentity([]byte("client-1")))
		req.connect(ep)
		req.send("hello")
		if m := router.recv(); !equal(m, "client-1", "", "hello") {
			t.Fatalf("ROUTER got %q, want [client-1 \"\" hello]", m)
		}
		router.send("client-1", "no delimiter")   // not a reply: dropped
		router.send("client-1", "", "world", "!") // the reply
		if m := req.recv(); !equal(m, "world", "!") {
			t.Fatalf("REQ got %q, want [world !]", m)
		}
	})
}

// REP keeps a multi-hop envelope and puts it back on the reply.
func TestRepKeepsEnvelope(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		rep := openSock(t, socket.Rep)
		ep := rep.bind(tr.endpoint(t))
		dealer := openSock(t, socket.Dealer)
		dealer.connect(ep)
		dealer.send("hop2", "hop1", "", "question")
		if m := rep.recv(); !equal(m, "question") {
			t.Fatalf("REP got %q, want [question]", m)
		}
		rep.send("answer")
		if m := dealer.recv(); !equal(m, "hop2", "hop1", "", "answer") {
			t.Fatalf("DEALER got %q, want [hop2 hop1 \"\" answer]", m)
		}
		// A message without a delimiter is not a request: REP skips it.
		dealer.send("junk")
		dealer.send("", "second")
		if m := rep.recv(); !equal(m, "second") {
			t.Fatalf("REP got %q, want [second]", m)
		}
		rep.send("ok")
		if m := dealer.recv(); !equal(m, "", "ok") {
			t.Fatalf("DEALER got %q", m)
		}
	})
}

// REQ -> ROUTER | DEALER -> REP, the guide's request-reply broker, with two
// clients and two workers; every client gets the answer to its own question.
func TestReqRouterDealerRepChain(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		frontend := openSock(t, socket.Router)
		fep := frontend.bind(tr.endpoint(t))
		backend := openSock(t, socket.Dealer)
		bep := backend.bind(tr.endpoint(t))

		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		// The workers answer "<worker>:<question>".
		workerDone := make(chan error, 2)
		for w := range 2 {
			rep := openSock(t, socket.Rep)
			rep.connect(bep)
			go func() {
				for {
					m, err := rep.Recv(ctx)
					if err != nil {
						workerDone <- err
						return
					}
					if err := rep.Send(ctx, socket.NewMsgString(fmt.Sprintf("w%d:%s", w, m[0]))); err != nil {
						workerDone <- err
						return
					}
				}
			}()
		}
		backend.awaitN(socket.EventHandshakeOK, 2)
		// The broker: one message each way per turn, as the test drives it.
		brokerDone := make(chan error, 1)
		go func() {
			for {
				m, err := frontend.Recv(ctx)
				if err != nil {
					brokerDone <- err
					return
				}
				if err := backend.Send(ctx, m); err != nil {
					brokerDone <- err
					return
				}
				r, err := backend.Recv(ctx)
				if err != nil {
					brokerDone <- err
					return
				}
				if err := frontend.Send(ctx, r); err != nil {
					brokerDone <- err
					return
				}
			}
		}()

		clients := []*tsock{openSock(t, socket.Req), openSock(t, socket.Req)}
		for _, c := range clients {
			c.connect(fep)
		}
		workers := map[string]bool{}
		for i := range 6 {
			c := clients[i%2]
			q := fmt.Sprintf("q%d", i)
			c.send(q)
			m := c.recv()
			if len(m) != 1 || len(m[0]) < 3 || m[0][3:] != q {
				t.Fatalf("client %d asked %s, got %q", i%2, q, m)
			}
			workers[m[0][:2]] = true
		}
		if len(workers) != 2 {
			t.Errorf("answers came from %v; want both workers (DEALER round-robin)", workers)
		}
		cancel()
		for range 2 {
			if err := <-workerDone; !errors.Is(err, context.Canceled) {
				t.Errorf("worker: %v", err)
			}
		}
		if err := <-brokerDone; !errors.Is(err, context.Canceled) {
			t.Errorf("broker: %v", err)
		}
	})
}

// ROUTER prepends the peer's identity, the announced one or a generated
// one, and routes replies by it.
func TestRouterIdentities(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		router := openSock(t, socket.Router)
		ep := router.bind(tr.endpoint(t))
		alice := openSock(t, socket.Dealer, socket.WithIdentity([]byte("alice")))
		alice.connect(ep)
		anon := openSock(t, socket.Dealer)
		anon.connect(ep)

		alice.send("from alice")
		m := router.recv()
		if !equal(m, "alice", "from alice") {
			t.Fatalf("ROUTER got %q, want [alice \"from alice\"]", m)
		}
		anon.send("from anon")
		m = router.recv()
		if len(m) != 2 || m[1] != "from anon" {
			t.Fatalf("ROUTER got %q", m)
		}
		anonID := m[0]
		if len(anonID) != 5 || anonID[0] != 0 {
			t.Errorf("generated identity %q: want 5 bytes starting with 0x00, as libzmq", anonID)
		}

		router.send(anonID, "to anon")
		router.send("alice", "to alice", "2")
		if m := anon.recv(); !equal(m, "to anon") {
			t.Errorf("anonymous DEALER got %q", m)
		}
		if m := alice.recv(); !equal(m, "to alice", "2") {
			t.Errorf("alice got %q", m)
		}
	})
}

// ROUTER drops a message for an unknown identity silently and counts it;
// with WithRouterMandatory it fails with ErrHostUnreachable.
func TestRouterUnknownIdentity(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		router := openSock(t, socket.Router)
		router.bind(tr.endpoint(t))
		ctx := testCtx(t, waitLimit)
		if err := router.Send(ctx, socket.NewMsgString("nobody", "hello")); err != nil {
			t.Fatalf("ROUTER Send to an unknown identity: %v, want nil (silent drop)", err)
		}
		if d := router.Stats().Dropped; d != 1 {
			t.Errorf("Dropped = %d, want 1", d)
		}
		router.await(socket.EventDropped)

		strict := openSock(t, socket.Router, socket.WithRouterMandatory())
		ep := strict.bind(tr.endpoint(t))
		isErr(t, "mandatory ROUTER to an unknown identity",
			strict.Send(ctx, socket.NewMsgString("nobody", "hello")), socket.ErrHostUnreachable)
		// A known peer still works, and a peer that left is unknown again.
		d := openSock(t, socket.Dealer, socket.WithIdentity([]byte("d")))
		d.connect(ep)
		d.send("hi")
		strict.recv()
		strict.send("d", "back")
		if m := d.recv(); !equal(m, "back") {
			t.Fatalf("DEALER got %q", m)
		}
		must(t, d.Close())
		if tr.name != "inproc" {
			strict.await(socket.EventDisconnected)
		}
		isErr(t, "mandatory ROUTER to a peer that left",
			strict.Send(ctx, socket.NewMsgString("d", "hello")), socket.ErrHostUnreachable)
	})
}

// DEALER sends round-robin over its peers and receives from all.
func TestDealerRoundRobin(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		dealer := openSock(t, socket.Dealer, socket.WithIdentity([]byte("D")))
		routers := make([]*tsock, 3)
		for i := range routers {
			routers[i] = openSock(t, socket.Router)
			dealer.connect(routers[i].bind(tr.endpoint(t)))
		}
		for i := range 30 {
			dealer.send(fmt.Sprint(i))
		}
		for i, r := range routers {
			for range 10 {
				if m := r.recv(); len(m) != 2 || m[0] != "D" {
					t.Fatalf("ROUTER %d got %q", i, m)
				}
			}
			if m, ok := r.tryRecv(30 * time.Millisecond); ok {
				t.Errorf("ROUTER %d got an 11th message %q: round-robin is uneven", i, m)
			}
			r.send("D", fmt.Sprint("reply ", i))
		}
		got := map[string]bool{}
		for range routers {
			got[dealer.recv()[0]] = true
		}
		if len(got) != 3 {
			t.Errorf("DEALER received %v, want one reply from each ROUTER", got)
		}
	})
}

// PAIR talks to one peer; a second one is refused and the first keeps
// working.
func TestPairExclusive(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := openSock(t, socket.Pair)
		ep := a.bind(tr.endpoint(t))
		b := openSock(t, socket.Pair)
		b.connect(ep)
		b.send("b1")
		if m := a.recv(); !equal(m, "b1") {
			t.Fatalf("got %q", m)
		}

		intruder := openSock(t, socket.Pair, socket.WithReconnectInterval(time.Hour), socket.WithLinger(0))
		intruder.connect(ep)
		if tr.name != "inproc" {
			e := a.await(socket.EventHandshakeFailed)
			if !errors.Is(e.Err, socket.ErrHandshake) {
				t.Errorf("refusal event %v, want ErrHandshake", e)
			}
		}
		// The intruder's message is queued on its side or refused; it never
		// reaches a.
		ctx := testCtx(t, 200*time.Millisecond)
		_ = intruder.Send(ctx, socket.NewMsgString("intruder"))
		for i := range 3 {
			b.send(fmt.Sprint("b", i+2))
			if m := a.recv(); !equal(m, fmt.Sprint("b", i+2)) {
				t.Fatalf("PAIR got %q from a second peer", m)
			}
		}
		a.send("to b")
		if m := b.recv(); !equal(m, "to b") {
			t.Fatalf("b got %q", m)
		}
		if s := a.Stats(); s.Peers != 1 {
			t.Errorf("bound PAIR has %d peers, want 1", s.Peers)
		}
	})
}
