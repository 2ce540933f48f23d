package pirate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// The Worker's handler reads the socket only between requests; the
// session reads it at each tick. So a broker that heartbeats while the
// handler is at a request that lasts several times the silence allowance
// is heard all the same: no reconnect, the reply goes out on the same
// socket, and a request the broker sent meanwhile (as the guide's ppqueue
// may) is handled next, on that socket too.
//
// The allowance is 2 s (40 beats of 50 ms): twenty times a stall of the
// test process, forty times the broker's heartbeat interval; the handler
// runs for 100 of the worker's heartbeats, two and a half allowances.
func TestWorkerHearsBrokerWhileHandling(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	router := newSocket(t, socket.Router)
	ep := must[string](t)(router.Bind(inproc()))
	started, release := make(chan struct{}, 2), make(chan struct{})
	w := newWorker(t, ep, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		started <- struct{}{}
		if string(req[0]) == "long" {
			select {
			case <-release:
			case <-ctx.Done(): // the test failed: Close
				return nil, ctx.Err()
			}
		}
		return [][]byte{append([]byte("done "), req[0]...)}, nil
	}, pirate.WithHeartbeat(beatInterval, 40))
	ready := must[socket.Msg](t)(router.Recv(ctx))
	if len(ready) != 2 || string(ready[1]) != "\x01" {
		t.Fatalf("worker said %q first, want READY", ready)
	}
	id := ready[0]
	send := func(m ...[]byte) {
		t.Helper()
		if err := router.Send(ctx, append(socket.Msg{id}, m...)); err != nil {
			t.Fatal(err)
		}
	}
	send([]byte("t1"), nil, []byte("long"))
	<-started
	send([]byte("t2"), nil, []byte("short"))
	// The broker answers each of the worker's heartbeats with one of its
	// own, for 100 of them.
	for beats := 0; beats < 100; {
		m := must[socket.Msg](t)(router.Recv(ctx))
		if string(m[0]) != string(id) || len(m) != 2 || string(m[1]) != "\x02" {
			t.Fatalf("worker sent %q while its handler ran, want HEARTBEAT from %q", m, id)
		}
		beats++
		send([]byte{2})
	}
	close(release)
	for _, want := range []string{"t1 done long", "t2 done short"} {
		var m socket.Msg
		for {
			m = must[socket.Msg](t)(router.Recv(ctx))
			if len(m) != 2 || string(m[1]) != "\x02" {
				break
			}
		}
		if string(m[0]) != string(id) || len(m) != 4 || len(m[2]) != 0 || fmt.Sprintf("%s %s", m[1], m[3]) != want {
			t.Fatalf("worker sent %q, want the reply %q from %q", m, want, id)
		}
	}
	if s := w.Stats(); s.Handled != 2 || s.Reconnects != 0 || s.Malformed != 0 {
		t.Fatalf("worker stats %+v", s)
	}
}

// fakeFrontend is a broker's frontend by hand: a ROUTER that hands the
// test each request as the Client sent it.
func fakeFrontend(t *testing.T) (*socket.Socket, string) {
	router := newSocket(t, socket.Router)
	return router, must[string](t)(router.Bind(inproc()))
}

// Requests of one Client in flight at once each get their own reply,
// whatever the order the replies come in: whichever Request reads the
// socket hands the others theirs.
func TestClientConcurrentRepliesOutOfOrder(t *testing.T) {
	ctx := testCtx(t)
	router, ep := fakeFrontend(t)
	c := oneShot(t, ep)
	const n = 16
	done := make([]<-chan result, n)
	for i := range n {
		done[i] = request(ctx, c, fmt.Sprint("req ", i))
	}
	reqs := make([]socket.Msg, n)
	for i := range n {
		reqs[i] = must[socket.Msg](t)(router.Recv(ctx))
	}
	for i := n - 1; i >= 0; i-- {
		m := reqs[i]
		if len(m) != 4 || len(m[2]) != 0 {
			t.Fatalf("request %q, want [client, id, \"\", body]", m)
		}
		if err := router.Send(ctx, socket.Msg{m[0], m[1], nil, append([]byte("re "), m[3]...)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		r := <-done[i]
		if want := fmt.Sprint("re req ", i); r.err != nil || len(r.r) != 1 || string(r.r[0]) != want {
			t.Fatalf("request %d: %q, %v; want %q", i, r.r, r.err, want)
		}
	}
	if s := c.Stats(); s.Requests != n || s.Replies != n || s.LateReplies != 0 || s.Resends != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

// A second reply to a request, and a reply to a request that gave up,
// come when no Request waits: the Client reads them all the same (its
// actor does, once no Request has waited for a while) and counts them
// late; the next Request is not confused by them.
func TestClientLateRepliesCountedWhileIdle(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	router, ep := fakeFrontend(t)
	c := newClient(t, ep, pirate.WithTimeout(100*time.Millisecond), pirate.WithRetries(0), pirate.WithObserver(rec))
	reply := func(m socket.Msg, body string) {
		t.Helper()
		if err := router.Send(ctx, socket.Msg{m[0], m[1], nil, []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	// One that gives up: its reply comes after.
	if _, err := c.Request(ctx, []byte("a")); err == nil {
		t.Fatal("request without a reply succeeded")
	}
	a := must[socket.Msg](t)(router.Recv(ctx))
	reply(a, "late a")
	rec.AwaitFigure(t, "pirate client", "LateReplies", func(v int64) bool { return v == 1 }, wait)

	// One answered twice.
	rec2 := actortest.NewRecorder()
	c2 := newClient(t, ep, pirate.WithTimeout(wait), pirate.WithRetries(0), pirate.WithObserver(rec2))
	done := request(ctx, c2, "b")
	b := must[socket.Msg](t)(router.Recv(ctx))
	reply(b, "b once")
	if r := <-done; r.err != nil || string(r.r[0]) != "b once" {
		t.Fatalf("request b: %q, %v", r.r, r.err)
	}
	reply(b, "b twice")
	rec2.AwaitFigure(t, "pirate client", "LateReplies", func(v int64) bool { return v == 1 }, wait)
	if s := c2.Stats(); s.Replies != 1 || s.LateReplies != 1 {
		t.Fatalf("client stats %+v", s)
	}
	done = request(ctx, c2, "c")
	cm := must[socket.Msg](t)(router.Recv(ctx))
	reply(cm, "c once")
	if r := <-done; r.err != nil || string(r.r[0]) != "c once" {
		t.Fatalf("request c: %q, %v", r.r, r.err)
	}
	if s := c.Stats(); s.Failed != 1 || s.LateReplies != 1 {
		t.Fatalf("first client stats %+v", s)
	}
}

// A Request whose ctx ends while it waits reading the socket returns the
// ctx's error, whether cancelled or past its deadline; the replies that
// come for them after are late, and the next Request gets its own.
func TestClientCtxEndsWhileReading(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	router, ep := fakeFrontend(t)
	c := newClient(t, ep, pirate.WithTimeout(wait), pirate.WithRetries(0), pirate.WithObserver(rec))

	cctx, cancel := context.WithCancel(ctx)
	done := request(cctx, c, "a")
	a := must[socket.Msg](t)(router.Recv(ctx)) // sent: it waits for the reply
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled request: %q, %v; want Canceled", r.r, r.err)
	}

	dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer dcancel()
	if r, err := c.Request(dctx, []byte("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request past its deadline: %q, %v; want DeadlineExceeded", r, err)
	}
	b := must[socket.Msg](t)(router.Recv(ctx))

	done = request(ctx, c, "c")
	cm := must[socket.Msg](t)(router.Recv(ctx))
	for _, m := range []socket.Msg{a, b, cm} {
		if err := router.Send(ctx, socket.Msg{m[0], m[1], nil, append([]byte("re "), m[3]...)}); err != nil {
			t.Fatal(err)
		}
	}
	if r := <-done; r.err != nil || len(r.r) != 1 || string(r.r[0]) != "re c" {
		t.Fatalf("request c: %q, %v; want \"re c\"", r.r, r.err)
	}
	rec.AwaitFigure(t, "pirate client", "LateReplies", func(v int64) bool { return v == 2 }, wait)
	if s := c.Stats(); s.Requests != 3 || s.Replies != 1 || s.Resends != 0 || s.Failed != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

// A Request with no reply in time resends with the same id, and takes the
// reply to either; the Requests after it, on the same Client, each get
// their own reply at once however many attempts ran out before.
func TestClientResendThenNextRequests(t *testing.T) {
	ctx := testCtx(t)
	router, ep := fakeFrontend(t)
	c := newClient(t, ep, pirate.WithTimeout(100*time.Millisecond), pirate.WithRetries(1000))
	done := request(ctx, c, "a")
	first := must[socket.Msg](t)(router.Recv(ctx))
	again := must[socket.Msg](t)(router.Recv(ctx)) // the resend: not answered before
	if string(again[1]) != string(first[1]) {
		t.Fatalf("resend's id %x, first's %x", again[1], first[1])
	}
	reply := func(m socket.Msg) error {
		return router.Send(ctx, socket.Msg{m[0], m[1], nil, append([]byte("re "), m[3]...)})
	}
	if err := reply(again); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || string(r.r[0]) != "re a" {
		t.Fatalf("request a: %q, %v", r.r, r.err)
	}
	// A reply to each request the router gets, resends included: each
	// Request returns its own body.
	served := make(chan error, 1)
	go func() {
		for {
			m, err := router.Recv(ctx)
			if err == nil {
				err = reply(m)
			}
			if err != nil {
				served <- err
				return
			}
		}
	}()
	for i := range 50 {
		body := fmt.Sprint("n ", i)
		r, err := c.Request(ctx, []byte(body))
		if err != nil || len(r) != 1 || string(r[0]) != "re "+body {
			t.Fatalf("request %d: %q, %v", i, r, err)
		}
	}
	router.Close()
	if err := <-served; !errors.Is(err, socket.ErrClosed) {
		t.Fatalf("router: %v", err)
	}
	if s := c.Stats(); s.Requests != 51 || s.Replies != 51 || s.Resends < 1 || s.Failed != 0 {
		t.Fatalf("client stats %+v", s)
	}
}
