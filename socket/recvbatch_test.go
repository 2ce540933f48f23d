package socket_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// recvBatches takes n messages from s with TryRecvBatch, at most max at a
// time (and no more than are still to come), waiting on Readable when nothing is queued; each batch is appended
// after what dst held, which must be kept.
func recvBatches(t *testing.T, s *tsock, n, max int) []socket.Msg {
	t.Helper()
	ctx := testCtx(t, 6*waitLimit)
	var got []socket.Msg
	dst := []socket.Msg{socket.NewMsgString("kept")}
	for len(got) < n {
		ms, err := s.TryRecvBatch(dst[:1], min(max, n-len(got)))
		if err != nil {
			t.Fatalf("TryRecvBatch after %d messages: %v", len(got), err)
		}
		if string(ms[0][0]) != "kept" || len(ms)-1 > max {
			t.Fatalf("TryRecvBatch returned %d messages for max %d, first %q", len(ms)-1, max, ms[0])
		}
		got = append(got, ms[1:]...)
		dst = ms
		if len(ms) == 1 {
			select {
			case <-s.Readable():
			case <-ctx.Done():
				t.Fatalf("after %d of %d messages: %v", len(got), n, ctx.Err())
			}
		}
	}
	return got
}

// sendNumbered sends n messages from s, each its sender's name and its
// number, in a goroutine of g.
func sendNumbered(t *testing.T, g *errgroup.Group, s *tsock, name string, n int) {
	g.Go(func() error {
		ctx := testCtx(t, 6*waitLimit)
		for i := range n {
			if err := s.Send(ctx, socket.NewMsgString(name, strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkNumbered fails unless got holds each sender's messages once, in
// order, n of each.
func checkNumbered(t *testing.T, got []socket.Msg, names []string, n int) {
	t.Helper()
	next := map[string]int{}
	for _, m := range got {
		from, seq := string(m[0]), string(m[1])
		if seq != strconv.Itoa(next[from]) {
			t.Fatalf("from %q got %s, want %d", from, seq, next[from])
		}
		next[from]++
	}
	for _, name := range names {
		if next[name] != n {
			t.Fatalf("from %q got %d messages, want %d", name, next[name], n)
		}
	}
}

// A PULL with one peer, then two (fair-queued, each peer's in order),
// receiving in batches: every message once, in order, never more than max
// at a time; nothing is left after.
func TestTryRecvBatchOrder(t *testing.T) {
	const n = 5000
	for _, peers := range []int{1, 2} {
		t.Run(fmt.Sprintf("peers=%d", peers), func(t *testing.T) {
			eachTransport(t, func(t *testing.T, tr transport) {
				pull := openSock(t, socket.Pull)
				ep := pull.bind(tr.endpoint(t))
				var g errgroup.Group
				var names []string
				for i := range peers {
					push := openSock(t, socket.Push)
					push.connect(ep)
					names = append(names, fmt.Sprint("p", i))
					sendNumbered(t, &g, push, names[i], n)
				}
				got := recvBatches(t, pull, peers*n, 64)
				must(t, g.Wait())
				checkNumbered(t, got, names, n)
				if ms, err := pull.TryRecvBatch(nil, 64); len(ms) != 0 || err != nil {
					t.Fatalf("after every message: %d more, %v", len(ms), err)
				}
				if isReadable(pull) {
					t.Fatal("readable after every message was taken")
				}
			})
		})
	}
}

// A SUB receiving in batches gets what it subscribed to only, in order.
func TestTryRecvBatchSub(t *testing.T) {
	const n = 1000
	eachTransport(t, func(t *testing.T, tr transport) {
		pub := openSock(t, socket.Pub, socket.WithSendHWM(4*n))
		ep := pub.bind(tr.endpoint(t))
		sub := openSock(t, socket.Sub, socket.WithRecvHWM(4*n))
		must(t, sub.Subscribe([]byte("a")))
		must(t, sub.Subscribe([]byte("sync")))
		sub.connect(ep)
		subSync(t, pub, sub)
		for i := range n {
			pub.send("a", strconv.Itoa(i))
			pub.send("b", strconv.Itoa(i))
		}
		pub.send("a", "end")
		got := recvBatches(t, sub, n+1, 16)
		for len(got) > 0 && string(got[0][0]) == "sync" { // a late sync of subSync's
			got = append(got[1:], recvBatches(t, sub, 1, 1)...)
		}
		if last := got[n].Strings(); last[0] != "a" || last[1] != "end" {
			t.Fatalf("last message %q", last)
		}
		checkNumbered(t, got[:n], []string{"a"}, n)
	})
}

// The types whose Recv does more than take a message: ROUTER puts the
// sender's identity in front, as Recv does; REQ before a request is in the
// wrong state; PUSH cannot receive.
func TestTryRecvBatchOtherTypes(t *testing.T) {
	router := openSock(t, socket.Router)
	ep := router.bind(inprocName(t))
	dealer := openSock(t, socket.Dealer, socket.WithIdentity([]byte("d")))
	dealer.connect(ep)
	for i := range 3 {
		dealer.send(strconv.Itoa(i))
	}
	got := recvBatches(t, router, 3, 8)
	for i, m := range got {
		if s := m.Strings(); len(s) != 2 || s[0] != "d" || s[1] != strconv.Itoa(i) {
			t.Fatalf("ROUTER message %d: %q", i, s)
		}
	}
	req := openSock(t, socket.Req)
	if _, err := req.TryRecvBatch(nil, 8); !errors.Is(err, socket.ErrState) {
		t.Fatalf("REQ TryRecvBatch before a request: %v", err)
	}
	push := openSock(t, socket.Push)
	if _, err := push.TryRecvBatch(nil, 8); !errors.Is(err, socket.ErrNotSupported) {
		t.Fatalf("PUSH TryRecvBatch: %v", err)
	}
}

// Closing a PULL while a receiver takes batches from it: the receiver gets
// ErrClosed, and what it took before is each message once, in order.
func TestTryRecvBatchClose(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		pull := openSock(t, socket.Pull)
		ep := pull.bind(tr.endpoint(t))
		push := openSock(t, socket.Push, socket.WithLinger(0))
		push.connect(ep)
		ctx, cancel := context.WithCancel(testCtx(t, 6*waitLimit))
		defer cancel()
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for i := 0; ctx.Err() == nil; i++ {
				push.Send(ctx, socket.NewMsgString("p", strconv.Itoa(i)))
			}
		}()
		type result struct {
			got []socket.Msg
			err error
		}
		started := make(chan struct{})
		done := make(chan result, 1)
		go func() {
			var got []socket.Msg
			first := started
			for {
				ms, err := pull.TryRecvBatch(nil, 32)
				got = append(got, ms...)
				if len(got) > 0 && first != nil {
					close(first)
					first = nil
				}
				if err != nil {
					done <- result{got, err}
					return
				}
				if len(ms) == 0 {
					select {
					case <-pull.Readable():
					case <-ctx.Done():
						done <- result{got, ctx.Err()}
						return
					}
				}
			}
		}()
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("no message came")
		}
		must(t, pull.Close())
		r := <-done
		cancel()
		<-sent
		if !errors.Is(r.err, socket.ErrClosed) {
			t.Fatalf("TryRecvBatch after Close: %v", r.err)
		}
		checkNumbered(t, r.got, nil, 0)
	})
}

// Messages taken in batches are counted by profiling as Recv's are, from a
// live pipe and from one whose connection has gone.
func TestProfileCountsTryRecvBatch(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		collector := profileTo(t)
		push, pull := openSock(t, socket.Push), openSock(t, socket.Pull)
		ep := profiledEndpoint(t, tr)
		push.bind(ep)
		pull.connect(ep)
		const n = 400
		for i := range n {
			push.send(fmt.Sprintf("%09d", i)) // 9 bytes
		}
		recvBatches(t, pull, n/2, 50)
		push.Close() // lingers until the rest is delivered
		if tr.name != "inproc" {
			// The PULL's pipe leaves it when the connection ends, before
			// it redials: the rest is in a pipe that is gone.
			pull.await(socket.EventDisconnected)
			pull.await(socket.EventConnectRetried)
		}
		recvBatches(t, pull, n-n/2, 50)
		pull.Close()
		checkFigures(t, collected(t, collector), map[string]float64{
			socketKey(telemetry.MetricSocketMessages, socket.Push.String(), ep, "out"): n,
			socketKey(telemetry.MetricSocketMessages, socket.Pull.String(), ep, "in"):  n,
			socketKey(telemetry.MetricSocketBytes, socket.Pull.String(), ep, "in"):     9 * n,
		})
	})
}

// Over inproc a send is queued when Send returns, so what TryRecvBatch
// finds is known: no more than max at a time, in order, all that the
// high-water marks let in; taking them makes the same room again.
func TestTryRecvBatchTakesWhatIsQueued(t *testing.T) {
	pull := openSock(t, socket.Pull, socket.WithRecvHWM(8))
	ep := pull.bind(inprocName(t))
	push := openSock(t, socket.Push, socket.WithSendHWM(8))
	push.connect(ep)
	fill := func(from int) int {
		n := 0
		for ; push.TrySend(socket.NewMsgString("p", strconv.Itoa(from+n))) == nil; n++ {
			if n > 1000 {
				t.Fatal("no high-water mark")
			}
		}
		return n
	}
	room := fill(0)
	if room == 0 {
		t.Fatal("no room at all")
	}
	var got []socket.Msg
	for round := 0; len(got) < room; round++ {
		ms, err := pull.TryRecvBatch(nil, 3)
		must(t, err)
		if want := min(3, room-len(got)); len(ms) != want {
			t.Fatalf("round %d: took %d, want %d", round, len(ms), want)
		}
		got = append(got, ms...)
	}
	if again := fill(room); again != room {
		t.Fatalf("room for %d after the batches took them, was %d", again, room)
	}
	ms, err := pull.TryRecvBatch(got, 2*room)
	must(t, err)
	checkNumbered(t, ms, []string{"p"}, 2*room)
}
