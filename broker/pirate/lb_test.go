package pirate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// body returns the last frame of a request as a string.
func body(m socket.Msg) string { return string(m[len(m)-1]) }

// The least recently used idle worker gets the next request, and a request
// reaches a worker as three frames, [address, "", body], whatever the
// client put in its address stack (a Client puts a request id there).
func TestLRUDispatch(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc())
	ws := make([]*rawWorker, 3)
	for i := range ws {
		ws[i] = newRawWorker(t, ctx, b.Backend())
		waitLB(t, ctx, b, fmt.Sprintf("%d workers", i+1), func(s pirate.Stats) bool { return s.Idle == i+1 })
	}
	c := oneShot(t, b.Frontend())
	var wg sync.WaitGroup
	replies := make([]string, 6)
	ask := func(i int) {
		defer wg.Done()
		r, err := c.Request(ctx, []byte(fmt.Sprint("r", i)))
		if err != nil {
			t.Error(err)
			return
		}
		replies[i] = string(r[0])
	}
	held := make([]socket.Msg, 3)
	for i := range 3 {
		wg.Add(1)
		go ask(i)
		held[i] = ws[i].request(ctx) // worker i, registered i-th, gets request i
		if got := body(held[i]); got != fmt.Sprint("r", i) {
			t.Fatalf("worker %d got %q, want r%d", i, got, i)
		}
		if n := len(held[i]); n != 3 || len(held[i][1]) != 0 {
			t.Fatalf("request %v: want address, delimiter, body", held[i])
		}
	}
	// Reply in the order 1, 2, 0: that is the new LRU order.
	for _, i := range []int{1, 2, 0} {
		ws[i].send(ctx, append(held[i][:2:2], []byte(fmt.Sprint("w", i))))
		waitLB(t, ctx, b, "idle worker", func(s pirate.Stats) bool { return s.Idle >= 1 && s.InFlight < 3 })
	}
	waitLB(t, ctx, b, "3 idle", func(s pirate.Stats) bool { return s.Idle == 3 })
	for k, i := range []int{1, 2, 0} {
		wg.Add(1)
		go ask(3 + k)
		m := ws[i].request(ctx)
		if got := body(m); got != fmt.Sprint("r", 3+k) {
			t.Fatalf("request r%d went to the wrong worker: worker %d got %q", 3+k, i, got)
		}
		ws[i].send(ctx, append(m[:2:2], []byte(fmt.Sprint("w", i))))
	}
	wg.Wait()
	if want := []string{"w0", "w1", "w2", "w1", "w2", "w0"}; fmt.Sprint(replies) != fmt.Sprint(want) {
		t.Fatalf("replies %v, want %v", replies, want)
	}
}

// A worker that stops heartbeating is dead after liveness intervals, while
// one that heartbeats stays. The silent worker is buried no sooner than
// that: it registered after silentFrom.
func TestHeartbeatExpiry(t *testing.T) {
	t.Parallel() // it waits out steadyExpiry
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc(), steadyBeat)
	live := newWorker(t, b.Backend(), echo("ok"), steadyBeat, fastReconnect)
	silentFrom := time.Now()
	newRawWorker(t, ctx, b.Backend()) // READY, then silence
	waitLB(t, ctx, b, "2 workers", func(s pirate.Stats) bool { return s.Workers == 2 })
	start := time.Now()
	waitLB(t, ctx, b, "the silent worker's death", func(s pirate.Stats) bool { return s.Dead == 1 })
	t.Logf("expiry after %v (liveness %v)", time.Since(silentFrom).Round(time.Millisecond), steadyExpiry)
	if d := time.Since(silentFrom); d < steadyExpiry {
		t.Errorf("the silent worker was buried after %v, before its %v of silence", d, steadyExpiry)
	}
	if s := b.Stats(); s.Workers != 1 || s.Dead != 1 {
		t.Fatalf("stats %+v: the heartbeating worker should be alive", s)
	}
	// The worker hears the broker's heartbeats: it heard them while the
	// other fell silent.
	if heard := live.Stats().LastHeard; heard.Before(start) {
		t.Errorf("worker last heard its broker at %v, before the wait began at %v", heard, start)
	}
	if s := live.Stats(); s.Reconnects != 0 {
		t.Errorf("the heartbeating worker lost its broker: %+v", s)
	}
	// And the live one still serves.
	c := oneShot(t, b.Frontend())
	if r, err := c.Request(ctx, []byte("x")); err != nil || string(r[0]) != "ok" {
		t.Fatalf("Request = %q, %v", r, err)
	}
}

// A request held by a worker that goes silent goes to another worker; the
// silent worker's late reply is dropped by the pirate.
func TestRequeueFromSilentWorker(t *testing.T) {
	t.Parallel() // it waits out steadyExpiry
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc(), steadyBeat)
	silent := newRawWorker(t, ctx, b.Backend())
	waitLB(t, ctx, b, "silent worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	// The client waits out the silent worker's burial without resending.
	c := oneShot(t, b.Frontend())
	type res struct {
		r   [][]byte
		err error
	}
	done := make(chan res, 1)
	go func() { r, err := c.Request(ctx, []byte("job")); done <- res{r, err} }()
	m := silent.request(ctx)
	newWorker(t, b.Backend(), echo("good"), steadyBeat, fastReconnect)
	got := <-done
	if got.err != nil || string(got.r[0]) != "good" {
		t.Fatalf("Request = %q, %v; want the good worker's reply", got.r, got.err)
	}
	silent.send(ctx, append(m[:2:2], []byte("late")))
	waitLB(t, ctx, b, "late reply dropped", func(s pirate.Stats) bool { return s.LateReplies == 1 })
	if s := b.Stats(); s.Requeued != 1 || s.Replies != 1 {
		t.Fatalf("stats %+v: want 1 requeued, 1 reply", s)
	}
	if s := c.Stats(); s.Replies != 1 || s.LateReplies != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

// A handler that fails gives the request back, and another worker does it.
func TestHandlerErrorGivesRequestBack(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc(), steadyBeat)
	var failed atomic.Int32
	bad := newWorker(t, b.Backend(), func(context.Context, [][]byte) ([][]byte, error) {
		failed.Add(1)
		panic("boom")
	}, steadyBeat)
	waitLB(t, ctx, b, "bad worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	newWorker(t, b.Backend(), echo("good"), steadyBeat)
	waitLB(t, ctx, b, "good worker", func(s pirate.Stats) bool { return s.Workers == 2 })
	c := oneShot(t, b.Frontend())
	r, err := c.Request(ctx, []byte("x"))
	if err != nil || string(r[0]) != "good" {
		t.Fatalf("Request = %q, %v", r, err)
	}
	if failed.Load() != 1 || bad.Stats().Failed != 1 || b.Stats().Requeued != 1 {
		t.Fatalf("failed %d, worker %+v, broker %+v", failed.Load(), bad.Stats(), b.Stats())
	}
}

// A request that every worker fails is handed out again (WithRequeued) and
// given up after WithMaxDeliveries; the client's retries are capped and it
// gets ErrNoReply. The client's timeout is long enough for both deliveries
// of an attempt to be over before its resend (else the resend is a
// duplicate of an outstanding request, and dropped).
func TestMaxDeliveriesAndRetryCap(t *testing.T) {
	t.Parallel() // it waits out two client timeouts
	ctx := testCtx(t)
	abandoned, requeued := make(chan string, 2), make(chan string, 4)
	b := newLB(t, inproc(), inproc(), steadyBeat, pirate.WithMaxDeliveries(2),
		pirate.WithAbandoned(func(body [][]byte) { abandoned <- string(bytes.Join(body, []byte("|"))) }),
		pirate.WithRequeued(func(body [][]byte) { requeued <- string(bytes.Join(body, []byte("|"))) }))
	var calls atomic.Int32
	newWorker(t, b.Backend(), func(context.Context, [][]byte) ([][]byte, error) {
		calls.Add(1)
		return nil, errors.New("cannot")
	}, steadyBeat)
	waitLB(t, ctx, b, "worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	c := newClient(t, b.Frontend(), pirate.WithTimeout(resendAfter), pirate.WithRetries(1))
	_, err := c.Request(ctx, []byte("poison"))
	if !errors.Is(err, pirate.ErrNoReply) {
		t.Fatalf("Request: %v, want ErrNoReply", err)
	}
	if s := c.Stats(); s.Resends != 1 || s.Failed != 1 {
		t.Fatalf("client stats %+v: want 1 resend", s)
	}
	// Two attempts, each delivered twice.
	waitLB(t, ctx, b, "abandoned twice", func(s pirate.Stats) bool { return s.Abandoned == 2 })
	for range 2 {
		if body := <-abandoned; body != "poison" {
			t.Errorf("WithAbandoned got %q, want the request's body", body)
		}
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("handler called %d times, want 4", n)
	}
	// Each attempt was handed out again once, then given up: the second
	// give-back of each goes to WithAbandoned, not WithRequeued.
	if n := len(requeued); n != 2 {
		t.Fatalf("WithRequeued called %d times, want 2", n)
	}
	for range 2 {
		if body := <-requeued; body != "poison" {
			t.Errorf("WithRequeued got %q, want the request's body", body)
		}
	}
}

// With no worker at all the client gives up after its retries, and the
// broker has not even read the requests.
func TestNoWorkerRetriesCapped(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc())
	c := newClient(t, b.Frontend(), pirate.WithTimeout(50*time.Millisecond), pirate.WithRetries(2))
	start := time.Now()
	_, err := c.Request(ctx, []byte("x"))
	if !errors.Is(err, pirate.ErrNoReply) {
		t.Fatalf("Request: %v, want ErrNoReply", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("gave up after %v, before 3 attempts of 50 ms", d)
	}
	if s := b.Stats(); s.Requests != 0 {
		t.Fatalf("broker read %d requests with no worker idle", s.Requests)
	}
}

// A resend of a request still outstanding is dropped by the broker; the
// client returns one reply.
func TestResendWhileOutstandingDropped(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc())
	w := newRawWorker(t, ctx, b.Backend())
	newRawWorker(t, ctx, b.Backend()) // idle, so the frontend is read
	waitLB(t, ctx, b, "2 workers", func(s pirate.Stats) bool { return s.Workers == 2 })
	// Resends every 100 ms, as many as the test's wait allows: the worker
	// replies once the broker has dropped one.
	c := newClient(t, b.Frontend(), pirate.WithTimeout(100*time.Millisecond), pirate.WithRetries(int(wait/(100*time.Millisecond))))
	done := make(chan error, 1)
	go func() { _, err := c.Request(ctx, []byte("x")); done <- err }()
	m := w.request(ctx)
	waitLB(t, ctx, b, "a duplicate", func(s pirate.Stats) bool { return s.Duplicates >= 1 })
	w.send(ctx, append(m[:2:2], []byte("done")))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The broker counts the reply after sending it: wait for the count.
	waitLB(t, ctx, b, "the reply counted", func(s pirate.Stats) bool { return s.Replies >= 1 })
	if s := b.Stats(); s.Requests != 1 || s.Replies != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A request without a body, from a REQ-like client or a Client-like one,
// is malformed: it never reaches a worker and is never answered.
func TestRequestWithoutBodyMalformed(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, inproc(), inproc(), steadyBeat)
	w := newRawWorker(t, ctx, b.Backend())
	waitLB(t, ctx, b, "worker", func(s pirate.Stats) bool { return s.Idle == 1 })
	cl := newSocket(t, socket.Dealer)
	if err := cl.Connect(b.Frontend()); err != nil {
		t.Fatal(err)
	}
	for _, m := range []socket.Msg{{nil}, {[]byte("id-0"), nil}} {
		if err := cl.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	waitLB(t, ctx, b, "2 malformed", func(s pirate.Stats) bool { return s.Malformed == 2 })
	if err := cl.Send(ctx, socket.Msg{[]byte("id-1"), nil, []byte("job")}); err != nil {
		t.Fatal(err)
	}
	m := w.request(ctx) // the worker's first request
	if len(m) != 3 || body(m) != "job" {
		t.Fatalf("worker got %v, want the request with a body", m)
	}
	w.send(ctx, append(m[:2:2], []byte("done")))
	r, err := cl.Recv(ctx) // the client's first reply
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 3 || string(r[0]) != "id-1" || len(r[1]) != 0 || string(r[2]) != "done" {
		t.Fatalf("client got %q, want [id-1  done]", r)
	}
	// The broker counts a reply after sending it: wait for the count.
	waitLB(t, ctx, b, "the reply counted", func(s pirate.Stats) bool { return s.Replies == 1 })
	if s := b.Stats(); s.Requests != 1 || s.Malformed != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRequestWithEndedCtxNotSent: a Request whose ctx has ended before
// the call returns ctx's error and sends nothing, so no worker does work
// that nobody waits for. The request after it goes the same way to the
// one worker: had the first been sent, the worker would have had it
// first.
func TestRequestWithEndedCtxNotSent(t *testing.T) {
	ctx := testCtx(t)
	lb := newLB(t, inproc(), inproc(), steadyBeat)
	var got atomic.Int64
	newWorker(t, lb.Backend(), func(_ context.Context, req [][]byte) ([][]byte, error) {
		got.Add(1)
		return req, nil
	}, steadyBeat)
	c := oneShot(t, lb.Frontend())
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Request(ended, []byte("nobody waits")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Request with an ended ctx: %v, want context.Canceled", err)
	}
	r, err := c.Request(ctx, []byte("waited for"))
	if err != nil || string(r[0]) != "waited for" {
		t.Fatalf("Request: %q, %v", r, err)
	}
	if n := got.Load(); n != 1 {
		t.Errorf("the worker handled %d requests, want 1: the one whose ctx had ended was sent", n)
	}
}
