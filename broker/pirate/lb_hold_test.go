package pirate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// holdLimit is the WithHoldLimit of the tests that wait it out. What they
// check does not depend on it: a worker that is slower than it, the
// test stalled, only makes the request wait (pending) for that worker's
// reply, which is then passed on.
const holdLimit = 200 * time.Millisecond

// beatingWorker is a rawWorker that sends HEARTBEAT every beatInterval
// from its own goroutine until the test ends: a worker that is alive but
// replies only when told to.
func beatingWorker(t *testing.T, ctx context.Context, ep string) *rawWorker {
	t.Helper()
	w := newRawWorker(t, ctx, ep)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(beatInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				w.sock.Send(ctx, socket.Msg{{2}})
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done }) // before the socket's close
	return w
}

type result struct {
	r   [][]byte
	err error
}

func request(ctx context.Context, c *pirate.Client, body string) <-chan result {
	done := make(chan result, 1)
	go func() { r, err := c.Request(ctx, []byte(body)); done <- result{r, err} }()
	return done
}

// A request held past the hold limit by a worker that heartbeats but does
// not reply goes to another worker; the client gets one reply. The late
// worker gets no new request while it is late, and its reply, when it
// comes, is dropped and it is idle again.
func TestHoldLimitPPPWorker(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc(), steadyBeat, pirate.WithHoldLimit(holdLimit))
	stuck := beatingWorker(t, ctx, b.Backend())
	waitLB(t, ctx, b, "the stuck worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	c := oneShot(t, b.Frontend())
	done := request(ctx, c, "job")
	m := stuck.request(ctx)
	if len(m) != 3 || body(m) != "job" {
		t.Fatalf("stuck worker got %v", m)
	}
	waitLB(t, ctx, b, "the request taken back", func(s pirate.Stats) bool { return s.Overdue == 1 && s.Pending == 1 })
	newWorker(t, b.Backend(), echo("good"), steadyBeat, fastReconnect)
	if got := <-done; got.err != nil || len(got.r) != 2 || string(got.r[0]) != "good" || string(got.r[1]) != "job" {
		t.Fatalf("Request = %q, %v; want the good worker's reply", got.r, got.err)
	}
	// The stuck worker registered first: were it idle, it would be the
	// least recently used and get this one (and never answer).
	if got := <-request(ctx, c, "next"); got.err != nil || string(got.r[0]) != "good" {
		t.Fatalf("Request = %q, %v; want the good worker's reply", got.r, got.err)
	}
	stuck.send(ctx, append(m[:2:2], []byte("late")))
	waitLB(t, ctx, b, "the late reply dropped and its worker idle", func(s pirate.Stats) bool {
		return s.LateReplies == 1 && s.Idle == 2
	})
	if s := b.Stats(); s.Replies != 2 || s.Dead != 0 || s.Workers != 2 || s.Requeued < 1 || s.Abandoned != 0 {
		t.Fatalf("stats %+v: want 2 replies, the stuck worker alive", s)
	}
	if s := c.Stats(); s.Replies != 2 || s.LateReplies != 0 {
		t.Fatalf("client stats %+v: want exactly one reply a request", s)
	}
}

// A late worker's reply that comes first is passed on; the reply of the
// worker the request went to next is then the late one.
func TestHoldLimitFirstReplyWins(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc(), steadyBeat, pirate.WithHoldLimit(holdLimit))
	first := beatingWorker(t, ctx, b.Backend())
	waitLB(t, ctx, b, "the first worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	c := oneShot(t, b.Frontend())
	done := request(ctx, c, "job")
	m1 := first.request(ctx)
	waitLB(t, ctx, b, "the request taken back", func(s pirate.Stats) bool { return s.Overdue == 1 && s.Pending == 1 })
	second := beatingWorker(t, ctx, b.Backend())
	m2 := second.request(ctx)
	if string(m2[0]) != string(m1[0]) || body(m2) != "job" {
		t.Fatalf("second worker got %v, first %v: want the same request, the same ticket", m2, m1)
	}
	first.send(ctx, append(m1[:2:2], []byte("first")))
	if got := <-done; got.err != nil || len(got.r) != 1 || string(got.r[0]) != "first" {
		t.Fatalf("Request = %q, %v; want the first worker's reply", got.r, got.err)
	}
	second.send(ctx, append(m2[:2:2], []byte("second")))
	waitLB(t, ctx, b, "the second reply dropped, both workers idle", func(s pirate.Stats) bool {
		return s.LateReplies == 1 && s.Idle == 2
	})
	if s := b.Stats(); s.Replies != 1 || s.Dead != 0 {
		t.Fatalf("stats %+v", s)
	}
	if s := c.Stats(); s.Replies != 1 || s.LateReplies != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

// A REQ worker (the guide's lbbroker worker) that holds a request past the
// hold limit is forgotten, as a dead one, and the request goes to another
// worker. Its late reply is dropped, and registers it again.
func TestHoldLimitREQWorker(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc(), steadyBeat, pirate.WithHoldLimit(holdLimit))
	req := newSocket(t, socket.Req)
	if err := req.Connect(b.Backend()); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(ctx, socket.Msg{[]byte("READY")}); err != nil {
		t.Fatal(err)
	}
	waitLB(t, ctx, b, "the REQ worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	c := oneShot(t, b.Frontend())
	done := request(ctx, c, "job")
	m, err := req.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || len(m[1]) != 0 || body(m) != "job" {
		t.Fatalf("REQ worker got %v: want address, delimiter, body", m)
	}
	waitLB(t, ctx, b, "the REQ worker forgotten", func(s pirate.Stats) bool {
		return s.Overdue == 1 && s.Dead == 1 && s.Workers == 0 && s.Pending == 1
	})
	newWorker(t, b.Backend(), echo("good"), steadyBeat, fastReconnect)
	if got := <-done; got.err != nil || string(got.r[0]) != "good" {
		t.Fatalf("Request = %q, %v; want the good worker's reply", got.r, got.err)
	}
	if err := req.Send(ctx, socket.Msg{m[0], nil, []byte("late")}); err != nil {
		t.Fatal(err)
	}
	waitLB(t, ctx, b, "the late reply dropped, the REQ worker back", func(s pirate.Stats) bool {
		return s.LateReplies == 1 && s.Workers == 2 && s.Idle == 2
	})
	// And it serves again: of two requests at once, each worker gets one.
	var wg sync.WaitGroup
	for _, body := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := c.Request(ctx, []byte(body)); err != nil || string(r[len(r)-1]) != body {
				t.Errorf("Request(%s) = %q, %v", body, r, err)
			}
		}()
	}
	m, err = req.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Send(ctx, socket.Msg{m[0], nil, m[2]}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if s := c.Stats(); s.Replies != 3 || s.LateReplies != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

// A REQ worker cannot heartbeat, and is not buried for it: a silent PPP
// worker that registered after it is buried, and it still serves.
func TestREQWorkerNeedsNoHeartbeats(t *testing.T) {
	ctx := testCtx(t)
	// quickBeat: only the silent worker is to be buried, and is.
	b := newLB(t, inproc(), inproc(), quickBeat)
	req := newSocket(t, socket.Req)
	if err := req.Connect(b.Backend()); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(ctx, socket.Msg{[]byte("READY")}); err != nil {
		t.Fatal(err)
	}
	waitLB(t, ctx, b, "the REQ worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	newRawWorker(t, ctx, b.Backend())
	waitLB(t, ctx, b, "the silent PPP worker buried", func(s pirate.Stats) bool { return s.Dead == 1 })
	if s := b.Stats(); s.Workers != 1 || s.Idle != 1 || s.Malformed != 0 {
		t.Fatalf("stats %+v: the REQ worker should be registered and idle", s)
	}
	c := oneShot(t, b.Frontend())
	done := request(ctx, c, "job")
	// A REQ socket gets what is addressed to it only: the first message
	// is the request, no HEARTBEAT (which it could not take) before it.
	m, err := req.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || body(m) != "job" {
		t.Fatalf("REQ worker got %v", m)
	}
	if err := req.Send(ctx, socket.Msg{m[0], nil, []byte("OK")}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.err != nil || len(got.r) != 1 || string(got.r[0]) != "OK" {
		t.Fatalf("Request = %q, %v", got.r, got.err)
	}
}

func TestWithHoldLimitBad(t *testing.T) {
	_, err := pirate.NewLoadBalancer(inproc(), inproc(), pirate.WithHoldLimit(-time.Second))
	if !errors.Is(err, pirate.ErrBadOption) {
		t.Fatalf("NewLoadBalancer with a negative hold limit: %v, want ErrBadOption", err)
	}
}
