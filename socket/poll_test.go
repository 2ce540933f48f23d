package socket_test

// Poll, Readable, TryRecv and TrySend: readiness on every type that
// receives, over every transport; level-triggering; nothing lost or
// duplicated when a select picks other cases; Close while polling.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/zmqflow/zmqflow/socket"
)

// pollNow polls without waiting and returns the Ready events of each item.
func pollNow(t *testing.T, items ...socket.PollItem) []socket.Events {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := socket.Poll(ctx, items)
	if n == 0 && !errors.Is(err, context.Canceled) || n > 0 && err != nil {
		t.Fatalf("Poll with an ended ctx: %d, %v", n, err)
	}
	return readyOf(items)
}

func readyOf(items []socket.PollItem) []socket.Events {
	r := make([]socket.Events, len(items))
	for i, it := range items {
		r[i] = it.Ready
	}
	return r
}

// awaitPoll polls until some item is ready, within waitLimit.
func awaitPoll(t *testing.T, items ...socket.PollItem) []socket.Events {
	t.Helper()
	n, err := socket.Poll(testCtx(t, waitLimit), items)
	if err != nil || n == 0 {
		t.Fatalf("Poll: %d, %v", n, err)
	}
	return readyOf(items)
}

func in(s *tsock) socket.PollItem  { return socket.PollItem{Socket: s.Socket, Events: socket.PollIn} }
func out(s *tsock) socket.PollItem { return socket.PollItem{Socket: s.Socket, Events: socket.PollOut} }

// isReadable reports whether s.Readable() is closed now.
func isReadable(s *tsock) bool {
	select {
	case <-s.Readable():
		return true
	default:
		return false
	}
}

// tryRecv is TryRecv as strings; ok is false on ErrWouldBlock.
func (s *tsock) tryRecvNow() ([]string, bool) {
	s.t.Helper()
	m, err := s.TryRecv()
	if errors.Is(err, socket.ErrWouldBlock) {
		return nil, false
	}
	if err != nil {
		s.t.Fatalf("%v TryRecv: %v", s.Type(), err)
	}
	return m.Strings(), true
}

// syncQuiet is subSync followed by draining every "sync" left over, so
// that nothing is queued on sub afterwards.
func syncQuiet(t *testing.T, pub, sub *tsock) {
	t.Helper()
	subSync(t, pub, sub)
	pub.send("sync", "end")
	for {
		if m := sub.recv(); len(m) == 2 && m[1] == "end" {
			return
		}
	}
}

// Every type that receives is readable exactly while a message is queued
// for it, over each transport: not before the message, at once after it,
// and not once TryRecv has taken it.
func TestPollReadableEachType(t *testing.T) {
	type setup func(t *testing.T, ep string) (recv *tsock, send func(), want []string)
	pair := func(rt, st socket.Type, frames ...string) setup {
		return func(t *testing.T, ep string) (*tsock, func(), []string) {
			r := openSock(t, rt)
			ep = r.bind(ep)
			s := openSock(t, st)
			s.connect(ep)
			s.await(socket.EventHandshakeOK)
			return r, func() { s.send(frames...) }, frames
		}
	}
	cases := []struct {
		name string
		make setup
	}{
		{"PULL", pair(socket.Pull, socket.Push, "task")},
		{"PAIR", pair(socket.Pair, socket.Pair, "a", "b")},
		{"DEALER", pair(socket.Dealer, socket.Dealer, "x")},
		{"REP", pair(socket.Rep, socket.Req, "request")},
		{"ROUTER", func(t *testing.T, ep string) (*tsock, func(), []string) {
			r := openSock(t, socket.Router)
			ep = r.bind(ep)
			d := openSock(t, socket.Dealer, socket.WithIdentity([]byte("D")))
			d.connect(ep)
			d.await(socket.EventHandshakeOK)
			return r, func() { d.send("hi") }, []string{"D", "hi"}
		}},
		{"REQ", func(t *testing.T, ep string) (*tsock, func(), []string) {
			rep := openSock(t, socket.Rep)
			ep = rep.bind(ep)
			req := openSock(t, socket.Req)
			req.connect(ep)
			req.send("q")
			if m := rep.recv(); !equal(m, "q") {
				t.Fatalf("REP got %q", m)
			}
			return req, func() { rep.send("answer") }, []string{"answer"}
		}},
		{"SUB", func(t *testing.T, ep string) (*tsock, func(), []string) {
			pub := openSock(t, socket.Pub)
			ep = pub.bind(ep)
			sub := openSock(t, socket.Sub)
			sub.connect(ep)
			must(t, sub.Subscribe(nil))
			syncQuiet(t, pub, sub)
			return sub, func() { pub.send("news", "1") }, []string{"news", "1"}
		}},
		{"XSUB", func(t *testing.T, ep string) (*tsock, func(), []string) {
			pub := openSock(t, socket.Pub)
			ep = pub.bind(ep)
			xsub := openSock(t, socket.XSub)
			xsub.connect(ep)
			xsub.await(socket.EventHandshakeOK)
			xsub.send("\x01")
			syncQuiet(t, pub, xsub)
			return xsub, func() { pub.send("news", "2") }, []string{"news", "2"}
		}},
		{"XPUB", func(t *testing.T, ep string) (*tsock, func(), []string) {
			xpub := openSock(t, socket.XPub)
			ep = xpub.bind(ep)
			sub := openSock(t, socket.Sub)
			sub.connect(ep)
			sub.await(socket.EventHandshakeOK)
			return xpub, func() { must(t, sub.Subscribe([]byte("topic"))) }, []string{"\x01topic"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eachTransport(t, func(t *testing.T, tr transport) {
				r, send, want := c.make(t, tr.endpoint(t))
				if got := pollNow(t, in(r)); got[0] != 0 {
					t.Fatalf("ready %v before anything was sent", got)
				}
				if isReadable(r) {
					t.Fatal("Readable before anything was sent")
				}
				if _, ok := r.tryRecvNow(); ok {
					t.Fatal("TryRecv got a message before anything was sent")
				}
				send()
				if got := awaitPoll(t, in(r)); got[0] != socket.PollIn {
					t.Fatalf("Poll: Ready %v, want PollIn", got[0])
				}
				if !isReadable(r) {
					t.Fatal("Poll said ready, Readable did not")
				}
				m, ok := r.tryRecvNow()
				if !ok || !equal(m, want...) {
					t.Fatalf("TryRecv after Poll: %q, %v; want %q", m, ok, want)
				}
				if got := pollNow(t, in(r)); got[0] != 0 {
					t.Fatalf("still ready (%v) after the one message was taken", got)
				}
				if isReadable(r) {
					t.Fatal("still Readable after the one message was taken")
				}
			})
		})
	}
}

// Readiness is a level: it holds while any message is queued, whichever
// peer it came from, and goes only with the last.
func TestPollLevelTriggered(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull)
		ep := pull.bind(tr.endpoint(t))
		var pushes []*tsock
		for range 2 {
			p := openSock(t, socket.Push)
			p.connect(ep)
			p.await(socket.EventHandshakeOK)
			pushes = append(pushes, p)
		}
		pushes[0].send("a1")
		pushes[0].send("a2")
		pushes[1].send("b1")
		got := map[string]bool{}
		for len(got) < 3 {
			awaitPoll(t, in(pull))
			// Readable too, without a receive in between.
			if !isReadable(pull) {
				t.Fatal("Poll said ready, Readable did not")
			}
			m, ok := pull.tryRecvNow()
			if !ok {
				t.Fatal("ready, yet TryRecv found nothing")
			}
			if got[m[0]] {
				t.Fatalf("%q twice", m)
			}
			got[m[0]] = true
		}
		if r := pollNow(t, in(pull)); r[0] != 0 {
			t.Fatalf("ready (%v) with nothing queued", r)
		}
		if _, ok := pull.tryRecvNow(); ok {
			t.Fatal("TryRecv found a fourth message")
		}
	})
}

// SUB is not made ready by messages it would drop, and the one it keeps is
// there for TryRecv.
func TestPollSubDropsUnsubscribed(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pub := openSock(t, socket.Pub)
		ep := pub.bind(tr.endpoint(t))
		sub := openSock(t, socket.Sub)
		sub.connect(ep)
		must(t, sub.Subscribe([]byte("sync")))
		must(t, sub.Subscribe([]byte("a")))
		syncQuiet(t, pub, sub)
		for i := range 100 {
			pub.send("b", strconv.Itoa(i)) // dropped
			pub.send("a", strconv.Itoa(i))
		}
		for i := range 100 {
			awaitPoll(t, in(sub))
			m, ok := sub.tryRecvNow()
			if !ok {
				t.Fatalf("message %d: ready, yet TryRecv found nothing", i)
			}
			if !equal(m, "a", strconv.Itoa(i)) {
				t.Fatalf("got %q, want a %d", m, i)
			}
		}
	})
}

// REQ and REP are ready in turn: REQ writable until it sends, then readable
// when the reply is in; REP readable with a request, then writable until it
// replies.
func TestPollReqRep(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		rep := openSock(t, socket.Rep)
		ep := rep.bind(tr.endpoint(t))
		req := openSock(t, socket.Req)
		req.connect(ep)
		both := func(s *tsock) socket.PollItem {
			return socket.PollItem{Socket: s.Socket, Events: socket.PollIn | socket.PollOut}
		}
		for i := range 3 {
			if r := awaitPoll(t, both(req)); r[0] != socket.PollOut {
				t.Fatalf("round %d: idle REQ ready %v, want PollOut", i, r[0])
			}
			if r := pollNow(t, both(rep)); r[0] != 0 {
				t.Fatalf("round %d: REP ready %v before a request", i, r[0])
			}
			must(t, req.TrySend(socket.NewMsgString("q")))
			if r := pollNow(t, both(req)); r[0] != 0 {
				t.Fatalf("round %d: REQ awaiting its reply is ready %v before it came", i, r[0])
			}
			if r := awaitPoll(t, both(rep)); r[0] != socket.PollIn {
				t.Fatalf("round %d: REP with a request ready %v, want PollIn", i, r[0])
			}
			if m, ok := rep.tryRecvNow(); !ok || !equal(m, "q") {
				t.Fatalf("round %d: REP TryRecv %q %v", i, m, ok)
			}
			if r := pollNow(t, both(rep)); r[0] != socket.PollOut {
				t.Fatalf("round %d: REP owing a reply ready %v, want PollOut", i, r[0])
			}
			must(t, rep.TrySend(socket.NewMsgString("r")))
			if r := awaitPoll(t, both(req)); r[0] != socket.PollIn {
				t.Fatalf("round %d: REQ with its reply ready %v, want PollIn", i, r[0])
			}
			if m, ok := req.tryRecvNow(); !ok || !equal(m, "r") {
				t.Fatalf("round %d: REQ TryRecv %q %v", i, m, ok)
			}
		}
	})
}

// PUSH is writable while its peer has room: TrySend fills the pipe up to
// the marks, Poll then waits, and the receiver taking messages makes it
// writable again. Nothing TrySend refused was sent.
func TestPollOutPush(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull, socket.WithRecvHWM(2))
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithSendHWM(2))
		if r := pollNow(t, out(push)); r[0] != 0 {
			t.Fatalf("PUSH without peers ready %v", r[0])
		}
		if err := push.TrySend(socket.NewMsgString("x")); !errors.Is(err, socket.ErrWouldBlock) {
			t.Fatalf("TrySend without peers: %v, want ErrWouldBlock", err)
		}
		push.connect(ep)
		if r := awaitPoll(t, out(push)); r[0] != socket.PollOut {
			t.Fatalf("PUSH with a peer ready %v", r[0])
		}
		// Fill the pipe, the kernel's buffers and all: big messages, so
		// that tcp's buffers take few.
		body := strings.Repeat("x", 64<<10)
		sent := 0
		for ; ; sent++ {
			err := push.TrySend(socket.NewMsgString(strconv.Itoa(sent), body))
			if errors.Is(err, socket.ErrWouldBlock) {
				break
			}
			must(t, err)
			if sent > 100000 {
				t.Fatal("TrySend never found the pipe full")
			}
		}
		// Full: Poll waits until the receiver takes messages.
		var g errgroup.Group
		g.Go(func() error {
			ctx := testCtx(t, waitLimit)
			for i := range sent {
				m, err := pull.Recv(ctx)
				if err != nil {
					return err
				}
				if string(m[0]) != strconv.Itoa(i) {
					return fmt.Errorf("got message %s, want %d", m[0], i)
				}
			}
			return nil
		})
		if r := awaitPoll(t, out(push)); r[0] != socket.PollOut {
			t.Fatalf("PUSH ready %v once the receiver took messages", r[0])
		}
		must(t, g.Wait())
		if m, ok := pull.tryRecvNow(); ok {
			t.Fatalf("PULL got %q: a message TrySend refused", m[0])
		}
	})
}

// Three PULL sockets, two PUSH peers each, 10,000 messages per socket: a
// Poll loop with TryRecv gets every message once, each peer's in order.
func TestPollStress(t *testing.T) {
	const perSocket, peers = 10000, 2
	eachTransport(t, func(t *testing.T, tr transport) {
		var pulls []*tsock
		var items []socket.PollItem
		var g errgroup.Group
		for i := range 3 {
			pull := openSock(t, socket.Pull)
			ep := pull.bind(tr.endpoint(t))
			pulls = append(pulls, pull)
			items = append(items, in(pull))
			for j := range peers {
				push := openSock(t, socket.Push)
				push.connect(ep)
				g.Go(func() error {
					ctx := testCtx(t, waitLimit)
					for k := range perSocket / peers {
						if err := push.Send(ctx, socket.NewMsgString(fmt.Sprintf("%d/%d", i, j), strconv.Itoa(k))); err != nil {
							return err
						}
					}
					return nil
				})
			}
		}
		next := map[string]int{} // per sender, the next sequence number
		ctx := testCtx(t, 6*waitLimit)
		for total := 0; total < 3*perSocket; {
			n, err := socket.Poll(ctx, items)
			if err != nil {
				t.Fatalf("Poll after %d messages: %v", total, err)
			}
			for i, it := range items {
				if it.Ready&socket.PollIn == 0 {
					continue
				}
				n--
				m, ok := pulls[i].tryRecvNow()
				if !ok {
					t.Fatalf("socket %d ready, yet TryRecv found nothing", i)
				}
				from, seq := string(m[0]), m[1]
				if !strings.HasPrefix(from, strconv.Itoa(i)+"/") {
					t.Fatalf("socket %d got %q", i, m)
				}
				if seq != strconv.Itoa(next[from]) {
					t.Fatalf("from %s got %s, want %d", from, seq, next[from])
				}
				next[from]++
				total++
			}
			if n != 0 {
				t.Fatalf("Poll's count is off by %d", n)
			}
		}
		must(t, g.Wait())
		if r := pollNow(t, items...); r[0]|r[1]|r[2] != 0 {
			t.Fatalf("ready %v after every message was taken", r)
		}
	})
}

// A select over three Readable channels and a case that is always ready
// picks that case about half the time: no message is lost or duplicated
// for it, and every Readable pick has a message for TryRecv.
func TestReadableSelectLosesNothing(t *testing.T) {
	const perSocket = 3000
	eachTransport(t, func(t *testing.T, tr transport) {
		var pulls [3]*tsock
		var g errgroup.Group
		for i := range pulls {
			pulls[i] = openSock(t, socket.Pull)
			ep := pulls[i].bind(tr.endpoint(t))
			push := openSock(t, socket.Push)
			push.connect(ep)
			g.Go(func() error {
				ctx := testCtx(t, waitLimit)
				for k := range perSocket {
					if err := push.Send(ctx, socket.NewMsgString(strconv.Itoa(k))); err != nil {
						return err
					}
				}
				return nil
			})
		}
		always := make(chan struct{})
		close(always)
		var next [3]int
		others := 0
		timeout := testCtx(t, 6*waitLimit)
		take := func(i int) {
			m, ok := pulls[i].tryRecvNow()
			if !ok {
				t.Fatalf("socket %d readable, yet TryRecv found nothing", i)
			}
			if string(m[0]) != strconv.Itoa(next[i]) {
				t.Fatalf("socket %d got %s, want %d", i, m[0], next[i])
			}
			next[i]++
		}
		for next[0]+next[1]+next[2] < 3*perSocket {
			select {
			case <-pulls[0].Readable():
				take(0)
			case <-pulls[1].Readable():
				take(1)
			case <-pulls[2].Readable():
				take(2)
			case <-always:
				others++
			case <-timeout.Done():
				t.Fatalf("after %v messages: %v", next, timeout.Err())
			}
		}
		must(t, g.Wait())
		for i, p := range pulls {
			if m, ok := p.tryRecvNow(); ok {
				t.Fatalf("socket %d got %q more than was sent", i, m)
			}
		}
		if others == 0 {
			t.Fatal("the select never picked the other case: the test tested nothing")
		}
	})
}

// Several goroutines polling and receiving from the same socket share its
// messages: each once, none lost (TryRecv may find another was first).
func TestPollConcurrentReceivers(t *testing.T) {
	const total, receivers = 5000, 3
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull)
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push)
		push.connect(ep)
		var g errgroup.Group
		g.Go(func() error {
			ctx := testCtx(t, waitLimit)
			for k := range total {
				if err := push.Send(ctx, socket.NewMsgString(strconv.Itoa(k))); err != nil {
					return err
				}
			}
			return push.Send(ctx, socket.NewMsgString("end"))
		})
		var mu sync.Mutex
		seen := make(map[string]int)
		ctx, cancel := context.WithCancel(testCtx(t, 6*waitLimit))
		defer cancel()
		for range receivers {
			g.Go(func() error {
				items := []socket.PollItem{{Socket: pull.Socket, Events: socket.PollIn}}
				for {
					if _, err := socket.Poll(ctx, items); err != nil {
						if errors.Is(err, context.Canceled) {
							return nil
						}
						return err
					}
					m, err := pull.TryRecv()
					if errors.Is(err, socket.ErrWouldBlock) {
						continue
					}
					if err != nil {
						return err
					}
					mu.Lock()
					seen[string(m[0])]++
					done := len(seen) == total+1
					mu.Unlock()
					if done {
						cancel()
					}
				}
			})
		}
		must(t, g.Wait())
		if len(seen) != total+1 {
			t.Fatalf("got %d distinct messages, want %d", len(seen), total+1)
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("message %s received %d times", k, n)
			}
		}
	})
}

// Close wakes a Poll under way and a Readable channel: the socket is ready,
// and TryRecv and TrySend return ErrClosed.
func TestPollClose(t *testing.T) {
	pull := openSock(t, socket.Pull)
	pull.bind(inprocName(t))
	push := openSock(t, socket.Push) // no peer: never writable
	readable := pull.Readable()
	if r := pollNow(t, in(pull), out(push)); r[0]|r[1] != 0 {
		t.Fatalf("ready %v before anything happened", r)
	}
	polled := make(chan []socket.Events, 2)
	for _, it := range []socket.PollItem{in(pull), out(push)} {
		go func() {
			items := []socket.PollItem{it}
			socket.Poll(testCtx(t, waitLimit), items)
			polled <- readyOf(items)
		}()
	}
	must(t, pull.Close())
	must(t, push.Close())
	for range 2 {
		select {
		case r := <-polled:
			if r[0] == 0 {
				t.Fatal("Poll returned with nothing ready")
			}
		case <-testCtx(t, waitLimit).Done():
			t.Fatal("Close did not wake Poll")
		}
	}
	select {
	case <-readable:
	case <-testCtx(t, waitLimit).Done():
		t.Fatal("Close did not close a Readable channel taken before it")
	}
	if r := pollNow(t, in(pull), out(push)); r[0] != socket.PollIn || r[1] != socket.PollOut {
		t.Fatalf("closed sockets ready %v, want [PollIn PollOut]", r)
	}
	if _, err := pull.TryRecv(); !errors.Is(err, socket.ErrClosed) {
		t.Fatalf("TryRecv after Close: %v", err)
	}
	if err := push.TrySend(socket.NewMsgString("x")); !errors.Is(err, socket.ErrClosed) {
		t.Fatalf("TrySend after Close: %v", err)
	}
}

// Poll gives up when its ctx ends, and types that cannot receive or send
// are never ready for it.
func TestPollCtxAndDirections(t *testing.T) {
	pub := openSock(t, socket.Pub)
	sub := openSock(t, socket.Sub)
	ep := pub.bind(inprocName(t))
	sub.connect(ep)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit/100)
	defer cancel()
	items := []socket.PollItem{in(pub), out(sub), {Socket: nil, Events: socket.PollIn}, {Socket: sub.Socket}}
	if n, err := socket.Poll(ctx, items); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll: %d, %v; want 0 and DeadlineExceeded", n, err)
	}
	if r := pollNow(t, out(pub)); r[0] != socket.PollOut {
		t.Fatalf("PUB ready %v, want PollOut", r[0])
	}
	if _, err := pub.TryRecv(); !errors.Is(err, socket.ErrNotSupported) {
		t.Fatalf("PUB TryRecv: %v", err)
	}
}

func TestEventsString(t *testing.T) {
	for e, want := range map[socket.Events]string{
		0: "0", socket.PollIn: "PollIn", socket.PollOut: "PollOut",
		socket.PollIn | socket.PollOut: "PollIn|PollOut", 0x80: "Events(0x80)",
	} {
		if got := e.String(); got != want {
			t.Errorf("Events(%d).String() = %q, want %q", uint8(e), got, want)
		}
	}
}
