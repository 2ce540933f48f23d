package socket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// budgetMsg is message seq of peer, of frames of the given sizes; the
// first frame carries peer and seq.
func budgetMsg(peer, seq int, sizes ...int) Msg {
	m := make(Msg, len(sizes))
	for i, n := range sizes {
		m[i] = make([]byte, max(n, 8))
	}
	binary.BigEndian.PutUint32(m[0], uint32(peer))
	binary.BigEndian.PutUint32(m[0][4:], uint32(seq))
	return m
}

// watchLevel samples the budget's level until stop is called, which
// returns the highest level seen.
func watchLevel(b *recvBudget) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if l := b.level.Load(); l > peak.Load() {
				peak.Store(l)
			}
			select {
			case <-done:
				return
			default:
				runtime.Gosched() // the readers and Recv have two cores to share
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// awaitLevel waits, within 10 s, for the budget's level to come back to
// zero: what the readers still hold when the last message is taken (a
// message they are abandoning) is released as they end.
func awaitLevel(t *testing.T, b *recvBudget) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.level.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("budget level %d after everything was taken or dropped, want 0", b.level.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// Many peers flooding a PULL with a receive budget: the level never passes
// the budget by more than one message (the overdraft), every message comes,
// in each peer's order, and the level is back at zero once all are taken.
// Frames larger than the read buffer are read frame by frame, so that
// readers wait for room in the middle of messages too.
func TestRecvBudgetFlood(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) { recvBudgetFlood(t, tr) })
	}
}

func recvBudgetFlood(t *testing.T, tr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const (
		limit = 256 << 10
		peers = 12
		each  = 60
	)
	// Sizes cycle: small whole messages, multi-frame ones, and frames past
	// the read buffer (bigBufSize) read as they come.
	shapes := [][]int{{100}, {3000, 10, 0}, {70 << 10, 70 << 10}, {20 << 10}, {1, 1, 1, 1, 1, 1}, {100 << 10}}
	maxCharge := int64(0) // one message's, with its chunks as they are read
	for _, sh := range shapes {
		var n int64
		for _, f := range budgetMsg(0, 0, sh...) {
			n += int64(len(f)) + frameCost + chunkCost(uint64(len(f)))
		}
		maxCharge = max(maxCharge, n)
	}
	pull := mustNew(t, Pull, WithRecvBudget(limit), WithRecvHWM(1000))
	ep := "tcp://127.0.0.1:*"
	if tr == "ipc" {
		ep = "ipc://" + t.TempDir() + "/budget"
	}
	ep, err := pull.Bind(ep)
	if err != nil {
		t.Fatal(err)
	}
	peak := watchLevel(pull.budget)
	var senders sync.WaitGroup
	for p := range peers {
		push := mustNew(t, Push, WithLinger(0))
		if err := push.Connect(ep); err != nil {
			t.Fatal(err)
		}
		senders.Go(func() {
			for i := range each {
				if err := push.Send(ctx, budgetMsg(p, i, shapes[(p+i)%len(shapes)]...)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int, peers)
	for n := 0; n < peers*each; n++ {
		if n%50 == 0 {
			// Let the readers fill the budget now and then.
			deadline := time.Now().Add(10 * time.Second)
			for pull.budget.waiting.Load() == 0 && pull.budget.level.Load() < limit/2 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		p, seq := int(binary.BigEndian.Uint32(m[0])), int(binary.BigEndian.Uint32(m[0][4:]))
		if p >= peers || seq != next[p] {
			t.Fatalf("peer %d: message %d, want %d", p, seq, next[p])
		}
		want := shapes[(p+seq)%len(shapes)]
		if len(m) != len(want) || len(m[len(m)-1]) != max(want[len(want)-1], 8) && len(m) > 1 {
			t.Fatalf("peer %d message %d: %d frames, want %d", p, seq, len(m), len(want))
		}
		next[p]++
	}
	senders.Wait()
	awaitLevel(t, pull.budget)
	got := peak()
	if got > limit+maxCharge {
		t.Fatalf("budget level reached %d, limit %d plus one message of %d", got, limit, maxCharge)
	}
	if got < limit/2 {
		t.Fatalf("budget level reached %d only: the test did not press on the limit %d", got, limit)
	}
}

// Readers that each hold part of a message and wait for room to read the
// rest must not hold the budget between them for good: a budget smaller
// than the peers' first frames together still lets every message through.
func TestRecvBudgetPartialMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const peers, each, frame = 6, 10, 200 << 10
	pull := mustNew(t, Pull, WithRecvBudget(3*frame))
	ep, err := pull.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	for p := range peers {
		push := mustNew(t, Push, WithLinger(0))
		if err := push.Connect(ep); err != nil {
			t.Fatal(err)
		}
		go func() {
			for i := range each {
				if push.Send(ctx, budgetMsg(p, i, frame, frame, frame)) != nil {
					return
				}
			}
		}()
	}
	// Wait for every reader to have begun a message before taking any.
	deadline := time.Now().Add(10 * time.Second)
	for pull.budget.waiting.Load() < peers-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	next := make([]int, peers)
	for range peers * each {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("stuck: %v (level %d, %d waiting)", err, pull.budget.level.Load(), pull.budget.waiting.Load())
		}
		p, seq := int(binary.BigEndian.Uint32(m[0])), int(binary.BigEndian.Uint32(m[0][4:]))
		if seq != next[p] || len(m) != 3 {
			t.Fatalf("peer %d: message %d of %d frames, want %d of 3", p, seq, len(m), next[p])
		}
		next[p]++
	}
	awaitLevel(t, pull.budget)
}

// A message larger than the whole budget is read once nothing else is held.
func TestRecvBudgetLargeMessage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pull := mustNew(t, Pull, WithRecvBudget(1000))
	ep, err := pull.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	push := mustNew(t, Push, WithLinger(0))
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		size := []int{10, 5000, 300 << 10, 900, 2000}[i%5]
		if err := push.Send(ctx, budgetMsg(0, i, size, size)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seq := int(binary.BigEndian.Uint32(m[0][4:])); seq != i {
			t.Fatalf("message %d, want %d", seq, i)
		}
	}
	awaitLevel(t, pull.budget)
}

// Every way a received message leaves the socket other than Recv gives its
// charge back: SUB's unmatched messages (at Recv and at Poll), conflate
// replacing one, PUB taking subscriptions, ROUTER and REQ dropping,
// peers that leave in the middle of a message, and a peer whose
// connection we end while its reader waits for room.
func TestRecvBudgetReleased(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bind := func(s *Socket) string {
		t.Helper()
		ep, err := s.Bind("tcp://127.0.0.1:*")
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	connect := func(typ Type, ep string, opts ...Option) *Socket { // lingers not: a failed test must not hang in its cleanup
		t.Helper()
		s := mustNew(t, typ, append(opts, WithLinger(0))...)
		if err := s.Connect(ep); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("sub", func(t *testing.T) {
		// A PUB filters what it sends; a raw peer that says it is one
		// sends what no subscription matches too, which SUB drops.
		sub := mustNew(t, Sub, WithRecvBudget(64<<10))
		ep := bind(sub)
		if err := sub.Subscribe([]byte("keep")); err != nil {
			t.Fatal(err)
		}
		nc, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
		if err != nil {
			t.Fatal(err)
		}
		rawHandshake(t, nc, "PUB")
		wrote := make(chan struct{})
		defer func() { nc.Close(); <-wrote }()
		go func() {
			defer close(wrote)
			var out []byte
			for i := range 3001 {
				topic := "drop"
				switch {
				case i == 3000:
					topic = "keep end"
				case i%10 == 0:
					topic = "keep"
				}
				out = append(out, flagMore, byte(len(topic)))
				out = append(out, topic...)
				out = append(out, 0, 200)
				out = append(out, make([]byte, 200)...)
			}
			nc.Write(out)
		}()
		for i := 0; ; i++ {
			if i%3 == 0 {
				sub.pollIn() // drops unmatched messages at the head, as Poll does
			}
			m, err := sub.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(m[0]), "keep") {
				t.Fatalf("SUB received %q", m[0])
			}
			if string(m[0]) == "keep end" {
				break
			}
		}
		awaitLevel(t, sub.budget)
	})

	t.Run("conflate", func(t *testing.T) {
		pull := mustNew(t, Pull, WithRecvBudget(64<<10), WithConflate())
		ep := bind(pull)
		push := connect(Push, ep)
		for i := range 2000 {
			if err := push.Send(ctx, budgetMsg(0, i, 300)); err != nil {
				t.Fatal(err)
			}
		}
		for {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if binary.BigEndian.Uint32(m[0][4:]) == 1999 {
				break
			}
		}
		awaitLevel(t, pull.budget)
	})

	t.Run("batch", func(t *testing.T) {
		pull := mustNew(t, Pull, WithRecvBudget(16<<10))
		ep := bind(pull)
		push := connect(Push, ep)
		go func() {
			for i := range 1000 {
				if push.Send(ctx, budgetMsg(0, i, 500, 20)) != nil {
					return
				}
			}
		}()
		var batch []Msg
		for n := 0; n < 1000; {
			select {
			case <-pull.Readable():
			case <-ctx.Done():
				t.Fatalf("after %d messages: %v", n, ctx.Err())
			}
			var err error
			if batch, err = pull.TryRecvBatch(batch[:0], 64); err != nil {
				t.Fatal(err)
			}
			for _, m := range batch {
				if seq := int(binary.BigEndian.Uint32(m[0][4:])); seq != n {
					t.Fatalf("message %d, want %d", seq, n)
				}
				n++
			}
		}
		awaitLevel(t, pull.budget)
	})

	t.Run("curve", func(t *testing.T) {
		server, err := NewCurveKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		client, err := NewCurveKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		// Heartbeats both ways: PINGs and PONGs are CURVE commands the
		// reader charges as frames, then gives back.
		hb := WithHeartbeat(time.Millisecond, 10*time.Second, time.Second)
		pull := mustNew(t, Pull, WithRecvBudget(64<<10), WithCurveServer(server.Secret), hb)
		ep := bind(pull)
		push := connect(Push, ep, WithCurveClient(server.Public, client), hb)
		go func() {
			for i := range 300 {
				if push.Send(ctx, budgetMsg(0, i, []int{100, 40 << 10, 200 << 10}[i%3], 10)) != nil {
					return
				}
			}
		}()
		for i := range 300 {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if seq := int(binary.BigEndian.Uint32(m[0][4:])); seq != i || len(m) != 2 {
				t.Fatalf("message %d of %d frames, want %d of 2", seq, len(m), i)
			}
		}
		awaitLevel(t, pull.budget)
	})

	t.Run("pub", func(t *testing.T) {
		pub := mustNew(t, Pub, WithRecvBudget(4<<10))
		ep := bind(pub)
		sub := connect(Sub, ep)
		for i := range 500 {
			if err := sub.Subscribe([]byte(fmt.Sprint("topic", i))); err != nil {
				t.Fatal(err)
			}
		}
		// The last subscription has arrived once a message on it does.
		for {
			pub.Send(ctx, NewMsgString("topic499"))
			if _, err := sub.TryRecv(); err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("no subscription")
			}
			time.Sleep(time.Millisecond)
		}
		awaitLevel(t, pub.budget)
	})

	t.Run("req", func(t *testing.T) {
		// A REQ drops replies from a peer it did not ask: the ROUTER's
		// replies to a request the REQ abandoned (relaxed) come after.
		req := mustNew(t, Req, WithRecvBudget(64<<10), WithReqRelaxed(), WithReqCorrelate())
		ep := bind(req)
		router := connect(Router, ep)
		for i := range 50 {
			if err := req.Send(ctx, NewMsgString(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
			r, err := router.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Two replies: the second is a late one the REQ drops.
			for range 2 {
				if err := router.Send(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := req.Recv(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// The last late reply is dropped by the next request's Recv.
		if err := req.Send(ctx, NewMsgString("last")); err != nil {
			t.Fatal(err)
		}
		r, err := router.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := router.Send(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := req.Recv(ctx); err != nil {
			t.Fatal(err)
		}
		awaitLevel(t, req.budget)
	})

	t.Run("router", func(t *testing.T) {
		router := mustNew(t, Router, WithRecvBudget(16<<10))
		ep := bind(router)
		var dealers []*Socket
		for range 8 {
			dealers = append(dealers, connect(Dealer, ep))
		}
		for i := range 400 {
			if err := dealers[i%8].Send(ctx, budgetMsg(i%8, i, 1000, 10)); err != nil {
				t.Fatal(err)
			}
		}
		for range 400 {
			if _, err := router.Recv(ctx); err != nil {
				t.Fatal(err)
			}
		}
		awaitLevel(t, router.budget)
	})

	t.Run("partial", func(t *testing.T) {
		// Peers that send part of a message, or a message bigger than the
		// limit, and leave: what their readers charged is given back.
		pull := mustNew(t, Pull, WithRecvBudget(64<<10), WithMaxMsgSize(1<<20))
		ep := bind(pull)
		addr := strings.TrimPrefix(ep, "tcp://")
		for i := range 10 {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			rawHandshake(t, nc, "PUSH")
			var frame []byte
			switch i % 3 {
			case 0: // a whole frame, more to come, then half a frame
				frame = append(frame, flagMore, 100)
				frame = append(frame, make([]byte, 100)...)
				frame = append(frame, flagLong, 0, 0, 0, 0, 0, 2, 0, 0)
				frame = append(frame, make([]byte, 1000)...)
			case 1: // a frame past the read buffer, cut off
				frame = append(frame, flagLong, 0, 0, 0, 0, 0, 2, 0, 0)
				frame = append(frame, make([]byte, 100<<10)...)
			case 2: // too large: refused as admitted
				frame = append(frame, flagLong, 0, 0, 0, 0, 1, 0, 0, 0)
			}
			if _, err := nc.Write(frame); err != nil {
				t.Fatal(err)
			}
			nc.Close()
		}
		push := connect(Push, ep)
		if err := push.Send(ctx, NewMsgString("after")); err != nil {
			t.Fatal(err)
		}
		if m, err := pull.Recv(ctx); err != nil || string(m[0]) != "after" {
			t.Fatalf("Recv = %q, %v", m, err)
		}
		awaitLevel(t, pull.budget)
	})

	t.Run("ended while waiting", func(t *testing.T) {
		// A PULL that connects to PUSH peers, with a budget one message
		// fills: the readers wait, and ending their connections
		// (Disconnect) ends the waits and gives back what they held.
		pull := mustNew(t, Pull, WithRecvBudget(2000))
		var eps []string
		for range 4 {
			push := mustNew(t, Push, WithLinger(0))
			ep := bind(push)
			eps = append(eps, ep)
			go func() {
				for i := 0; push.Send(ctx, budgetMsg(0, i, 1500)) == nil; i++ {
				}
			}()
			if err := pull.Connect(ep); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for pull.budget.waiting.Load() < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("%d readers wait for room, want 3", pull.budget.waiting.Load())
			}
			time.Sleep(time.Millisecond)
		}
		for _, ep := range eps {
			if err := pull.Disconnect(ep); err != nil {
				t.Fatal(err)
			}
		}
		for pull.budget.waiting.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d readers still wait after Disconnect", pull.budget.waiting.Load())
			}
			time.Sleep(time.Millisecond)
		}
		for {
			if _, err := pull.TryRecv(); err != nil {
				break
			}
		}
		awaitLevel(t, pull.budget)
	})
}

// Readers waiting for room end when the socket closes (goleak, in
// TestMain, sees any that do not).
func TestRecvBudgetWaitersEndAtClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pull := mustNew(t, Pull, WithRecvBudget(2000), WithLinger(0))
	ep, err := pull.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		push := mustNew(t, Push, WithLinger(0))
		if err := push.Connect(ep); err != nil {
			t.Fatal(err)
		}
		go func() {
			for i := 0; push.Send(ctx, budgetMsg(0, i, 1500)) == nil; i++ {
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for pull.budget.waiting.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers wait for room, want 3", pull.budget.waiting.Load())
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { pull.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close did not return with readers waiting for room")
	}
}

// rawHandshake does the NULL handshake on nc as a peer of type typ, and
// reads the socket's greeting and READY.
func rawHandshake(t *testing.T, nc net.Conn, typ string) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	g := make([]byte, 64)
	g[0], g[9], g[10] = 0xFF, 0x7F, 3
	copy(g[12:], "NULL")
	ready := []byte("\x05READY\x0bSocket-Type")
	ready = binary.BigEndian.AppendUint32(ready, uint32(len(typ)))
	ready = append(ready, typ...)
	if _, err := nc.Write(append(append(g, flagCommand, byte(len(ready))), ready...)); err != nil {
		t.Fatal(err)
	}
	var in [64 + 2]byte
	if _, err := io.ReadFull(nc, in[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(nc, make([]byte, in[65])); err != nil { // the socket's READY
		t.Fatal(err)
	}
}

// A budget must hold something; none is the default.
func TestRecvBudgetOption(t *testing.T) {
	for _, n := range []int64{0, -1} {
		if _, err := New(Pull, WithRecvBudget(n)); !errors.Is(err, ErrBadOption) {
			t.Errorf("WithRecvBudget(%d): %v, want ErrBadOption", n, err)
		}
	}
	if s := mustNew(t, Pull); s.budget != nil {
		t.Error("a socket has a receive budget by default")
	}
}
