package socket_test

// Socket semantics as the design's table states them, for PUSH/PULL,
// PUB/SUB and XPUB/XSUB, over every transport.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// PUSH sends round-robin: three PULLs that connected to it get a third each.
func TestPushRoundRobin(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		push := openSock(t, socket.Push)
		ep := push.bind(tr.endpoint(t))
		pulls := make([]*tsock, 3)
		for i := range pulls {
			pulls[i] = openSock(t, socket.Pull)
			pulls[i].connect(ep)
		}
		push.awaitN(socket.EventHandshakeOK, len(pulls))

		const n = 300
		for i := range n {
			push.send(fmt.Sprint(i))
		}
		counts := make([]int, len(pulls))
		total := 0
		deadline := time.Now().Add(waitLimit)
		for total < n {
			if time.Now().After(deadline) {
				t.Fatalf("received %d of %d: %v", total, n, counts)
			}
			for i, p := range pulls {
				if _, ok := p.tryRecv(10 * time.Millisecond); ok {
					counts[i]++
					total++
				}
			}
		}
		for i, c := range counts {
			if c < n/len(pulls)*8/10 || c > n/len(pulls)*12/10 {
				t.Errorf("PULL %d got %d of %d messages; shares %v, want about %d each", i, c, n, counts, n/len(pulls))
			}
		}
	})
}

// PUSH connected to three PULLs splits evenly from the first message: each
// Connect makes its peer queue at once, as in libzmq.
func TestPushRoundRobinConnected(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		push := openSock(t, socket.Push)
		pulls := make([]*tsock, 3)
		for i := range pulls {
			pulls[i] = openSock(t, socket.Pull)
			push.connect(pulls[i].bind(tr.endpoint(t)))
		}
		for i := range 30 {
			push.send(fmt.Sprint(i))
		}
		for i, p := range pulls {
			for j := range 10 {
				m := p.recv()
				if len(m) != 1 {
					t.Fatalf("PULL %d message %d: %q", i, j, m)
				}
			}
			if m, ok := p.tryRecv(50 * time.Millisecond); ok {
				t.Errorf("PULL %d got an 11th message %q: round-robin is uneven", i, m)
			}
		}
	})
}

// PULL fair-queues (libzmq's fq_t): when several peers have messages
// waiting, Recv takes one from each in turn, whatever order they arrived in.
// PUSH A's messages are all queued at the PULL before PUSH B's, so an
// arrival-order queue would return all of A's first.
func TestPullFairQueue(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		const n = 100
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(2*n))
		ep := pull.bind(tr.endpoint(t))
		pushes := []*tsock{openSock(t, socket.Push), openSock(t, socket.Push)}
		for i, p := range pushes {
			p.connect(ep)
			p.await(socket.EventHandshakeOK)
			for j := range n {
				p.send(fmt.Sprint(i), fmt.Sprint(j))
			}
			if tr.name != "inproc" {
				// Close lingers until every message is written; the PULL's
				// disconnect event comes once its reader has read them all.
				must(t, p.Close())
				pull.await(socket.EventDisconnected)
			}
			// inproc: Send put the message in the PULL's queue already.
		}
		order := make([]int, 0, 2*n)
		var next [2]int
		for range 2 * n {
			m := pull.recv()
			var from, seq int
			fmt.Sscan(m[0], &from)
			fmt.Sscan(m[1], &seq)
			if seq != next[from] {
				t.Fatalf("PUSH %d: message %d arrived where %d was due", from, seq, next[from])
			}
			next[from]++
			order = append(order, from)
		}
		if run := longestRun(order[:2*n-2]); run > 2 {
			t.Errorf("received in runs of up to %d from one PUSH while both had messages waiting: %s; want them in turn",
				run, rle(order))
		}
	})
}

// longestRun is the longest run of one value in order.
func longestRun(order []int) int {
	run, cur := 0, 0
	for i := range order {
		if i > 0 && order[i] == order[i-1] {
			cur++
		} else {
			cur = 1
		}
		run = max(run, cur)
	}
	return run
}

// SUB receives only what its prefixes match; several subscribers each get
// their own selection.
func TestPubSubFiltering(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pub := openSock(t, socket.Pub)
		ep := pub.bind(tr.endpoint(t))
		subA := openSock(t, socket.Sub)
		subAB := openSock(t, socket.Sub)
		for _, s := range []*tsock{subA, subAB} {
			s.connect(ep)
			must(t, s.Subscribe([]byte("sync")))
			must(t, s.Subscribe([]byte("end")))
		}
		must(t, subA.Subscribe([]byte("a")))
		must(t, subAB.Subscribe([]byte("a")))
		must(t, subAB.Subscribe([]byte("b.")))
		subSync(t, pub, subA)
		subSync(t, pub, subAB)

		for _, topic := range []string{"a1", "b.1", "c", "b", "ab", "", "b.2.x"} {
			pub.send(topic, "body")
		}
		pub.send("end")
		want := map[*tsock]string{
			subA:  "a1 ab end",
			subAB: "a1 b.1 ab b.2.x end",
		}
		for s, w := range want {
			var topics []string
			for {
				m := s.recvSkipSync()
				topics = append(topics, m[0])
				if m[0] == "end" {
					break
				}
			}
			if got := strings.Join(topics, " "); got != w {
				t.Errorf("subscriber got %q, want %q", got, w)
			}
		}
	})
}

// Unsubscribe stops a prefix; a prefix subscribed twice needs two cancels.
func TestPubSubUnsubscribe(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pub := openSock(t, socket.Pub)
		ep := pub.bind(tr.endpoint(t))
		sub := openSock(t, socket.Sub)
		sub.connect(ep)
		for _, p := range []string{"sync", "a", "b", "b", "end"} {
			must(t, sub.Subscribe([]byte(p)))
		}
		subSync(t, pub, sub)
		must(t, sub.Unsubscribe([]byte("a")))
		must(t, sub.Unsubscribe([]byte("b"))) // one of two
		pub.send("a")
		pub.send("b")
		pub.send("end")
		if got := topicsUntilEnd(sub); got != "b end" {
			t.Errorf("after cancelling a and one of two b: got %q, want \"b end\"", got)
		}
		must(t, sub.Unsubscribe([]byte("b")))
		pub.send("b")
		pub.send("end")
		if got := topicsUntilEnd(sub); got != "end" {
			t.Errorf("after cancelling b twice: got %q, want \"end\"", got)
		}
	})
}

// topicsUntilEnd reads messages up to one with topic "end" and returns the
// topics, space-separated.
func topicsUntilEnd(s *tsock) string {
	s.t.Helper()
	var topics []string
	for {
		m := s.recvSkipSync()
		topics = append(topics, m[0])
		if m[0] == "end" {
			return strings.Join(topics, " ")
		}
	}
}

// A SUB's subscriptions go again to a publisher that restarted on the same
// endpoint: messages flow without the SUB subscribing again.
func TestPubSubResubscribeAfterRestart(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pub1 := openSock(t, socket.Pub)
		ep := pub1.bind(tr.endpoint(t))
		sub := openSock(t, socket.Sub, socket.WithReconnectInterval(20*time.Millisecond))
		sub.connect(ep)
		must(t, sub.Subscribe([]byte("sync")))
		subSync(t, pub1, sub)
		must(t, pub1.Close())
		if tr.name != "inproc" {
			sub.await(socket.EventDisconnected)
		}

		pub2 := openSock(t, socket.Pub)
		pub2.bind(ep)
		subSync(t, pub2, sub)
	})
}

// PUB never blocks: at a slow subscriber's high-water mark it drops, counts
// the drop and reports it on the monitor.
func TestPubDropsAtHWM(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pub := openSock(t, socket.Pub, socket.WithSendHWM(10))
		ep := pub.bind(tr.endpoint(t))
		slow := openSock(t, socket.Sub, socket.WithRecvHWM(10))
		slow.connect(ep)
		must(t, slow.Subscribe(nil))
		subSync(t, pub, slow)
		// slow reads no more from here.

		big := socket.NewMsg([]byte("data"), make([]byte, 64<<10))
		ctx := testCtx(t, waitLimit)
		start := time.Now()
		sent := 0
		for pub.Stats().Dropped == 0 {
			if time.Since(start) > waitLimit {
				t.Fatalf("%d messages of 64 KiB to a stalled subscriber and no drop", sent)
			}
			// A PUB that blocked would block until ctx ends: Send fails.
			if err := pub.Send(ctx, big); err != nil {
				t.Fatalf("PUB Send: %v", err)
			}
			sent++
		}
		e := pub.await(socket.EventDropped)
		if e.Err == nil {
			t.Errorf("dropped event without a reason: %v", e)
		}
		// Still non-blocking; once the stalled subscriber's queue and
		// buffers are full, every message to it is dropped and counted.
		for consecutive := 0; consecutive < 100; {
			if time.Since(start) > waitLimit {
				t.Fatalf("never 100 drops in a row to a stalled subscriber")
			}
			d0 := pub.Stats().Dropped
			missed, err := pub.Publish(big) // Send that counts the misses
			must(t, err)
			sent++
			if d := pub.Stats().Dropped - d0; d != uint64(missed) {
				t.Fatalf("Publish missed %d, Dropped grew by %d", missed, d)
			}
			if missed > 0 {
				consecutive++
			} else {
				consecutive = 0
			}
		}
		t.Logf("first drop after %d messages", sent)
	})
}

// XPUB passes each subscribe and cancel to its application once, however
// many subscribers share the prefix, and cancels for a subscriber that left.
func TestXPubSubscriptionMessages(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub)
		ep := xpub.bind(tr.endpoint(t))

		sub1 := openSock(t, socket.Sub)
		sub1.connect(ep)
		sub1.await(socket.EventHandshakeOK)
		must(t, sub1.Subscribe([]byte("topic")))
		if m := xpub.recv(); !equal(m, "\x01topic") {
			t.Fatalf("XPUB got %q, want [\"\\x01topic\"]", m)
		}

		sub2 := openSock(t, socket.Sub)
		sub2.connect(ep)
		sub2.await(socket.EventHandshakeOK)
		must(t, sub2.Subscribe([]byte("topic")))
		must(t, sub2.Subscribe([]byte("m2")))
		// The duplicate "topic" from sub2 went before "m2" on the same
		// connection: the next message tells whether it was passed on.
		if m := xpub.recv(); !equal(m, "\x01m2") {
			t.Fatalf("XPUB got %q, want [\"\\x01m2\"] (a second subscription to a prefix must not be passed on)", m)
		}

		// Messages reach both subscribers.
		xpub.send("topic", "x")
		for _, s := range []*tsock{sub1, sub2} {
			if m := s.recv(); !equal(m, "topic", "x") {
				t.Errorf("SUB got %q", m)
			}
		}

		// sub2 unsubscribes m2: the last holder, so it is passed on.
		must(t, sub2.Unsubscribe([]byte("m2")))
		if m := xpub.recv(); !equal(m, "\x00m2") {
			t.Fatalf("XPUB got %q, want [\"\\x00m2\"]", m)
		}
		must(t, sub2.Subscribe([]byte("m2")))
		if m := xpub.recv(); !equal(m, "\x01m2") {
			t.Fatalf("XPUB got %q, want [\"\\x01m2\"]", m)
		}

		// sub1 leaves: "topic" is still held by sub2, nothing to pass on.
		must(t, sub1.Close())
		if tr.name != "inproc" {
			xpub.await(socket.EventDisconnected)
		}
		// sub2 leaves: both of its prefixes are cancelled.
		must(t, sub2.Close())
		got := []string{xpub.recv()[0], xpub.recv()[0]}
		sort.Strings(got)
		if got[0] != "\x00m2" || got[1] != "\x00topic" {
			t.Errorf("after both subscribers left XPUB got %q, want \\x00m2 and \\x00topic once each", got)
		}
		if m, ok := xpub.tryRecv(50 * time.Millisecond); ok {
			t.Errorf("XPUB got an extra message %q", m)
		}
	})
}

// XSUB subscribes by sending 0x01+prefix; XPUB sees it, and publications
// flow back.
func TestXSubSendsSubscriptions(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		xpub := openSock(t, socket.XPub)
		ep := xpub.bind(tr.endpoint(t))
		xsub := openSock(t, socket.XSub)
		xsub.connect(ep)
		xsub.await(socket.EventHandshakeOK)
		xsub.send("\x01news")
		if m := xpub.recv(); !equal(m, "\x01news") {
			t.Fatalf("XPUB got %q, want \\x01news", m)
		}
		xpub.send("news", "hello")
		xpub.send("sport", "nope")
		xpub.send("news", "again")
		for _, want := range []string{"hello", "again"} {
			if m := xsub.recv(); !equal(m, "news", want) {
				t.Fatalf("XSUB got %q, want news %s", m, want)
			}
		}
		xsub.send("\x00news")
		if m := xpub.recv(); !equal(m, "\x00news") {
			t.Fatalf("XPUB got %q, want \\x00news", m)
		}
	})
}

// XSUB subscriptions reach a PUB too, and go again to a PUB that appears
// later (the XSUB connected first).
func TestXSubToPub(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ep := tr.endpoint(t)
		if tr.name == "tcp" {
			ep = freeTCPEndpoint(t)
		}
		xsub := openSock(t, socket.XSub, socket.WithReconnectInterval(20*time.Millisecond))
		xsub.connect(ep)
		xsub.send("\x01sync")
		pub := openSock(t, socket.Pub)
		pub.bind(ep)
		subSync(t, pub, xsub)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// equal reports whether message m has exactly the frames want.
func equal(m []string, want ...string) bool {
	if len(m) != len(want) {
		return false
	}
	for i := range m {
		if m[i] != want[i] {
			return false
		}
	}
	return true
}

func rle(order []int) string {
	var b strings.Builder
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && order[j] == order[i] {
			j++
		}
		fmt.Fprintf(&b, "%d×%d ", order[i], j-i)
		i = j
	}
	return b.String()
}

// Stats().Subscribers tells a publisher when a subscription has arrived, so
// the slow joiner can be awaited instead of guessed.
func TestPubStatsSubscribers(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pub := openSock(t, socket.Pub)
		ep := pub.bind(tr.endpoint(t))
		sub := openSock(t, socket.Sub)
		sub.connect(ep)
		if got := pub.Stats().Subscribers; got != 0 {
			t.Fatalf("Subscribers before any Subscribe = %d, want 0", got)
		}
		must(t, sub.Subscribe([]byte("a")))
		ctx := testCtx(t, waitLimit)
		for pub.Stats().Subscribers != 1 {
			select {
			case <-ctx.Done():
				t.Fatalf("Subscribers stayed %d, want 1", pub.Stats().Subscribers)
			case <-time.After(time.Millisecond):
			}
		}
		// Now the first message is not lost to the slow joiner.
		must(t, pub.Send(ctx, socket.NewMsgString("a", "first")))
		if m := sub.recv(); m[1] != "first" {
			t.Fatalf("got %v, want the first message", m)
		}
	})
}

// Stats().Queued counts what peers sent and Recv has not taken yet.
func TestStatsQueued(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull)
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push)
		push.connect(ep)
		ctx := testCtx(t, waitLimit)
		const n = 10
		for i := range n {
			must(t, push.Send(ctx, socket.NewMsgString(fmt.Sprint(i))))
		}
		for pull.Stats().Queued != n {
			select {
			case <-ctx.Done():
				t.Fatalf("Queued stayed %d, want %d", pull.Stats().Queued, n)
			case <-time.After(time.Millisecond):
			}
		}
		for range 3 {
			pull.recv()
		}
		if got := pull.Stats().Queued; got != n-3 {
			t.Fatalf("Queued after 3 receives = %d, want %d", got, n-3)
		}
	})
}

// Stats().Sent counts the messages handed to peers, once each, whichever
// way they went (queued for a connection's writer, written through by a
// conversation, straight into an inproc peer), and keeps counting those of
// a peer that left.
func TestStatsSent(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ctx := testCtx(t, waitLimit)
		waitStats := func(s *tsock, what string, ok func(socket.Stats) bool) {
			t.Helper()
			for !ok(s.Stats()) {
				select {
				case <-ctx.Done():
					t.Fatalf("%s: never (Stats %+v)", what, s.Stats())
				case <-time.After(time.Millisecond):
				}
			}
		}

		push := openSock(t, socket.Push)
		ep := push.bind(tr.endpoint(t))
		stay, leave := openSock(t, socket.Pull), openSock(t, socket.Pull)
		stay.connect(ep)
		leave.connect(ep)
		waitStats(push, "two peers", func(st socket.Stats) bool { return st.Peers == 2 })
		for i := range 10 {
			must(t, push.Send(ctx, socket.NewMsgString(fmt.Sprint(i))))
		}
		if got := push.Stats().Sent; got != 10 {
			t.Fatalf("PUSH Sent = %d after 10 sends, want 10", got)
		}
		must(t, leave.Close())
		waitStats(push, "the peer's leaving", func(st socket.Stats) bool { return st.Peers == 1 })
		if got := push.Stats().Sent; got != 10 {
			t.Fatalf("PUSH Sent = %d after a peer left, want 10 still", got)
		}
		for i := range 5 {
			must(t, push.Send(ctx, socket.NewMsgString(fmt.Sprint(i))))
		}
		if got := push.Stats().Sent; got != 15 {
			t.Fatalf("PUSH Sent = %d after 5 more, want 15", got)
		}

		must(t, push.Close())
		if got := push.Stats().Sent; got != 15 {
			t.Fatalf("PUSH Sent = %d after Close, want 15 still", got)
		}

		// A conversation writes through where it can: each counted once.
		req, rep := conversation(t, tr, 3)
		if r, q := rep.Stats().Sent, req.Stats().Sent; r != 3 || q != 3 {
			t.Fatalf("after 3 round trips: REQ Sent = %d, REP Sent = %d, want 3 each", q, r)
		}

		// A PUB's message counts once for each subscriber it went to; a
		// SUB's subscription is a message to its peer.
		pub := openSock(t, socket.Pub)
		ep = pub.bind(tr.endpoint(t))
		subs := []*tsock{openSock(t, socket.Sub), openSock(t, socket.Sub)}
		for _, sub := range subs {
			sub.connect(ep)
			must(t, sub.Subscribe(nil))
		}
		waitStats(pub, "two subscribers", func(st socket.Stats) bool { return st.Subscribers == 2 })
		pub.send("news")
		if got := pub.Stats().Sent; got != 2 {
			t.Fatalf("PUB Sent = %d after one message to two subscribers, want 2", got)
		}
		if got := subs[0].Stats().Sent; got != 1 {
			t.Fatalf("SUB Sent = %d after one subscription, want 1", got)
		}
	})
}

// Sent is Stats().Sent alone: it counts each message a Send handed to a
// peer once, queued before the peer came (a Connect's, or an inproc name's
// before its Bind) or straight to a peer, while peers come and go; it never
// goes backwards, and keeps what went to peers that left.
func TestSocketSent(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		ctx := testCtx(t, waitLimit)
		wait := func(what string, ok func() bool) {
			t.Helper()
			for !ok() {
				select {
				case <-ctx.Done():
					t.Fatalf("%s: never", what)
				case <-time.After(time.Millisecond):
				}
			}
		}
		wantSent := func(s *tsock, want uint64, when string) {
			t.Helper()
			if got, all := s.Sent(), s.Stats().Sent; got != want || all != want {
				t.Fatalf("%v %s: Sent() = %d, Stats().Sent = %d, want %d", s.Type(), when, got, all, want)
			}
		}

		// Queued before the peer is there, then delivered.
		ep := tr.endpoint(t)
		if tr.name == "tcp" {
			ep = freeTCPEndpoint(t)
		}
		early := openSock(t, socket.Push, socket.WithLinger(0)) // its last 2 wait for a peer that never comes
		early.connect(ep)
		for i := range 5 {
			must(t, early.Send(ctx, socket.NewMsgString(fmt.Sprint(i))))
		}
		wantSent(early, 5, "after 5 sends before the peer came")
		late := openSock(t, socket.Pull)
		late.bind(ep)
		for range 5 {
			late.recv()
		}
		// Its Close ends an inproc link before it returns; a tcp or ipc
		// Connect's pipe stays, for the peer's return.
		must(t, late.Close())
		wantSent(early, 5, "after its peer left")
		for i := range 2 { // queued for the next peer
			must(t, early.Send(ctx, socket.NewMsgString(fmt.Sprint(i))))
		}
		wantSent(early, 7, "after 2 more")

		// Sends go on while peers join and leave: a watcher sees Sent
		// between the Sends returned and the Sends begun, never falling.
		push := openSock(t, socket.Push)
		ep = push.bind(tr.endpoint(t))
		stay := openSock(t, socket.Pull)
		stay.connect(ep)
		wait("the first peer", func() bool { return push.Stats().Peers == 1 })
		var begun, done atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sendErr, watchErr error
		wg.Go(func() { // the sender
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				begun.Add(1)
				if sendErr = push.Send(ctx, socket.NewMsgString(fmt.Sprint(i))); sendErr != nil {
					return
				}
				done.Add(1)
			}
		})
		wg.Go(func() { // the watcher
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				lo := done.Load()
				n := push.Sent()
				hi := begun.Load()
				if n < last || n < lo || n > hi {
					watchErr = fmt.Errorf("Sent() = %d after %d, with %d Sends returned and %d begun", n, last, lo, hi)
					return
				}
				last = n
			}
		})
		drained := make(chan struct{})
		go func() { // stay takes all it gets until it is closed
			defer close(drained)
			for {
				if _, err := stay.Recv(ctx); err != nil {
					return
				}
			}
		}()
		for range 3 {
			leave := openSock(t, socket.Pull)
			leave.connect(ep)
			leave.recv() // round-robin reaches it: it takes part
			must(t, leave.Close())
			wait("the peer's leaving", func() bool { return push.Stats().Peers == 1 })
		}
		close(stop)
		wg.Wait()
		if sendErr != nil {
			t.Fatalf("Send: %v", sendErr)
		}
		if watchErr != nil {
			t.Fatal(watchErr)
		}
		wantSent(push, done.Load(), "after the sender stopped")
		must(t, stay.Close())
		<-drained
		wait("the last peer's leaving", func() bool { return push.Stats().Peers == 0 })
		wantSent(push, done.Load(), "after every peer left")
		must(t, push.Close())
		wantSent(push, done.Load(), "after Close")

		// A conversation writes through: each message counted once.
		req, rep := conversation(t, tr, 3)
		wantSent(req, 3, "after 3 requests")
		wantSent(rep, 3, "after 3 replies")
	})
}

// Readers of Sent at once (an exporter and a Stats caller, say) each see
// every message whose Send returned before they began: here messages to an
// inproc XPUB, which the socket counts itself rather than in a queue.
func TestSentConcurrentReaders(t *testing.T) {
	ctx := testCtx(t, waitLimit)
	xpub := openSock(t, socket.XPub, socket.WithRecvHWM(1))
	xsub := openSock(t, socket.XSub)
	xsub.connect(xpub.bind("inproc://sent-readers"))
	m := socket.NewMsgString("x") // not a subscription: the XPUB takes it up, or drops it at its mark
	const rounds = 200_000
	// Each round, one goroutine sends and reads while the other, spinning
	// on the round, reads with it: their reads meet as often as can be.
	var round atomic.Int64
	var other sync.WaitGroup
	var otherErr atomic.Value
	other.Go(func() {
		for r := int64(1); r <= rounds; r++ {
			for round.Load() < r {
				if ctx.Err() != nil {
					return
				}
			}
			if n := xsub.Sent(); n < uint64(r) {
				otherErr.CompareAndSwap(nil, fmt.Sprintf("round %d: Sent() = %d, %d Sends returned before the read", r, n, r))
			}
		}
	})
	var firstErr string
	for r := int64(1); r <= rounds; r++ {
		if err := xsub.Send(ctx, m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		round.Store(r)
		if n := xsub.Sent(); n < uint64(r) && firstErr == "" {
			firstErr = fmt.Sprintf("round %d: Sent() = %d, %d Sends returned before the read", r, n, r)
		}
	}
	other.Wait()
	if firstErr != "" {
		t.Error(firstErr)
	}
	if e := otherErr.Load(); e != nil {
		t.Error(e)
	}
}

// WithDiscarded hands over each message the socket discards unsent: here
// queued for a peer that left (a bound PUSH's), and for a Connect whose peer
// never came, at Close.
func TestWithDiscarded(t *testing.T) {
	var mu sync.Mutex
	var got []string
	discarded := socket.WithDiscarded(func(m socket.Msg) {
		mu.Lock()
		got = append(got, string(m[0]))
		mu.Unlock()
	})
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		g := got
		got = nil
		return g
	}
	ctx := testCtx(t, waitLimit)

	// A Connect whose peer never came: what is queued goes at Close.
	push := openSock(t, socket.Push, discarded, socket.WithLinger(0))
	l := openSock(t, socket.Pull)
	ep := l.bind("tcp://127.0.0.1:*")
	l.Close() // nobody listens there now
	push.connect(ep)
	for i := range 3 {
		must(t, push.Send(ctx, socket.NewMsgString(fmt.Sprint(i))))
	}
	must(t, push.Close())
	if g := take(); !slices.Equal(g, []string{"0", "1", "2"}) {
		t.Fatalf("discarded at Close: %q, want 0 1 2", g)
	}
	if d := push.Stats().Discarded; d != 3 {
		t.Fatalf("Stats().Discarded = %d, want 3", d)
	}

	// A bound PUSH whose peer leaves with messages queued for it.
	push = openSock(t, socket.Push, discarded, socket.WithSendHWM(100))
	ep = push.bind("tcp://127.0.0.1:*")
	pull := openSock(t, socket.Pull, socket.WithRecvHWM(1))
	pull.connect(ep)
	for push.Stats().Peers != 1 {
		select {
		case <-ctx.Done():
			t.Fatal("the PULL did not connect")
		case <-time.After(time.Millisecond):
		}
	}
	// Until the PUSH's queue is full: the PULL reads nothing, and large
	// messages fill the connection's buffers first.
	big := make([]byte, 64<<10)
	sent := 0
	for ; sent < 100000 && push.TrySend(socket.Msg{[]byte(fmt.Sprint(sent)), big}) == nil; sent++ {
	}
	pull.Close()
	for push.Stats().Peers != 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the PUSH did not see its peer leave")
		case <-time.After(time.Millisecond):
		}
	}
	// The PUSH discards what it queued for the PULL as it sees it leave
	// (how much the connection's buffers took first varies).
	var g []string
	for {
		g = append(g, take()...)
		if uint64(len(g)) == push.Stats().Discarded {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d messages handed over, Stats().Discarded = %d", len(g), push.Stats().Discarded)
		case <-time.After(time.Millisecond):
		}
	}
	if len(g) == 0 {
		return
	}
	for i := 1; i < len(g); i++ { // in order: the last ones sent
		if a, b := g[i-1], g[i]; len(a) > len(b) || len(a) == len(b) && a >= b {
			t.Fatalf("discarded out of order: %q before %q", a, b)
		}
	}
	if last := g[len(g)-1]; last != fmt.Sprint(sent-1) {
		t.Fatalf("last discarded %q, want the last sent, %d", last, sent-1)
	}
}

// A subscriber that leaves takes its subscriptions' memory with it: a PUB
// holding many subscriptions from one SUB gives the memory back when that
// SUB disconnects, without waiting for another peer.
func TestPubForgetsDepartedSubscriber(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		const n = 50000
		pub := openSock(t, socket.Pub)
		ep := pub.bind(tr.endpoint(t))
		before := heapInUse()
		// The subscriber lives in a function of its own, so that nothing
		// of it is left on this stack when the heap is measured again.
		held := func() int64 {
			sub, err := socket.New(socket.Sub, socket.WithSendHWM(2*n)) // subscriptions queue like messages
			if err != nil {
				t.Fatal(err)
			}
			sub.Connect(ep)
			for i := range n {
				must(t, sub.Subscribe([]byte(fmt.Sprintf("topic-%06d", i))))
			}
			must(t, sub.Subscribe([]byte("sync")))
			subSync(t, pub, &tsock{Socket: sub, t: t, mon: sub.Monitor()}) // every subscription before "sync" has arrived
			held := int64(heapInUse()) - int64(before)
			must(t, sub.Close())
			return held
		}()
		if tr.name != "inproc" { // inproc's link ends within Close
			pub.await(socket.EventDisconnected) // emitted once the pipe is gone
		}
		left := int64(heapInUse()) - int64(before)
		t.Logf("%d subscriptions held %d KiB; %d KiB left after the subscriber went", n, held>>10, left>>10)
		if left > held/4 {
			t.Errorf("%d KiB of %d KiB still held after the subscriber went", left>>10, held>>10)
		}
	})
}

// An inproc Connect before the Bind queues up to the high-water mark, as
// libzmq does; the messages arrive, in order, once the name is bound.
func TestInprocConnectBeforeBindQueues(t *testing.T) {
	ep := inprocName(t)
	push := openSock(t, socket.Push, socket.WithSendHWM(5))
	push.connect(ep)
	for i := range 5 {
		push.send(fmt.Sprint(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	isErr(t, "Send past the mark", push.Send(ctx, socket.NewMsgString("x")), context.DeadlineExceeded)

	pull := openSock(t, socket.Pull)
	pull.bind(ep)
	for i := range 5 {
		if m := pull.recv(); !equal(m, fmt.Sprint(i)) {
			t.Fatalf("message %d: got %q", i, m)
		}
	}
	push.send("after the bind")
	if m := pull.recv(); !equal(m, "after the bind") {
		t.Fatalf("got %q", m)
	}
}

// A PAIR that already has its peer refuses an inproc Connect; the refused
// connector keeps what it queued, and gets it to the next socket that binds
// the name.
func TestInprocRefusedLinkWaits(t *testing.T) {
	ep := inprocName(t)
	first := openSock(t, socket.Pair)
	first.bind(ep)
	peer := openSock(t, socket.Pair)
	peer.connect(ep)
	first.await(socket.EventHandshakeOK)

	late := openSock(t, socket.Pair, socket.WithLinger(0))
	late.connect(ep)
	if e := late.await(socket.EventHandshakeFailed); !errors.Is(e.Err, socket.ErrHandshake) {
		t.Fatalf("event %v, want ErrHandshake", e)
	}
	late.send("queued while refused")
	must(t, first.Close())

	second := openSock(t, socket.Pair)
	second.bind(ep)
	if m := second.recv(); !equal(m, "queued while refused") {
		t.Fatalf("got %q", m)
	}
}

// conversation makes a REQ and a REP over tr and has them do n round
// trips, which write through where they can.
func conversation(t *testing.T, tr transport, n int) (req, rep *tsock) {
	t.Helper()
	rep = openSock(t, socket.Rep)
	req = openSock(t, socket.Req)
	req.connect(rep.bind(tr.endpoint(t)))
	for range n {
		req.send("ping")
		rep.recv()
		rep.send("pong")
		req.recv()
	}
	return req, rep
}
