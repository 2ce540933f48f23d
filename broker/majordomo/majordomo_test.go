package majordomo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/socket"
)

// Requests go to the workers of their service, least recently used first.
func TestServiceRouting(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t, inproc(), steadyBeat)
	e1 := newWorker(t, b.Endpoint(), "echo", echo("e1"), steadyBeat, fastReconnect)
	e2 := newWorker(t, b.Endpoint(), "echo", echo("e2"), steadyBeat, fastReconnect)
	newWorker(t, b.Endpoint(), "upper", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}, steadyBeat, fastReconnect)
	waitStats(t, ctx, b, "3 workers", func(s majordomo.Stats) bool { return s.Workers == 3 && s.Services == 2 })
	c := oneShot(t, b.Endpoint())
	for i := range 4 {
		r, err := c.Request(ctx, "echo", []byte(fmt.Sprint("hi-", i)), []byte("second frame"))
		if err != nil || len(r) != 3 || !strings.HasPrefix(string(r[0]), "e") || string(r[1]) != fmt.Sprint("hi-", i) || string(r[2]) != "second frame" {
			t.Fatalf("echo %d = %q, %v", i, r, err)
		}
		r, err = c.Request(ctx, "upper", []byte("majordomo"))
		if err != nil || len(r) != 1 || string(r[0]) != "MAJORDOMO" {
			t.Fatalf("upper %d = %q, %v", i, r, err)
		}
	}
	if h1, h2 := e1.Stats().Handled, e2.Stats().Handled; h1 != 2 || h2 != 2 {
		t.Fatalf("echo workers handled %d and %d, want 2 each (least recently used first)", h1, h2)
	}
	waitStats(t, ctx, b, "8 replies", func(s majordomo.Stats) bool { return s.Requests == 8 && s.Replies == 8 })
	if s := b.Stats(); s.Malformed != 0 || s.Dead != 0 {
		t.Fatalf("broker stats %+v", s)
	}
}

// A request for a service no worker has registered waits in the broker for
// WithTimeout; the client gets no reply and gives up after its retries
// (ErrNoReply). A worker that registers in time gets the request.
func TestUnknownService(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithTimeout(100*time.Millisecond))
	c := newClient(t, b.Endpoint(), majordomo.WithTimeout(100*time.Millisecond), majordomo.WithRetries(1))
	_, err := c.Request(ctx, "nobody", []byte("x"))
	if !errors.Is(err, majordomo.ErrNoReply) {
		t.Fatalf("Request for an unknown service: %v, want ErrNoReply", err)
	}
	if s := c.Stats(); s.Resends != 1 || s.Failed != 1 {
		t.Fatalf("client stats %+v: want one resend", s)
	}
	waitStats(t, ctx, b, "both attempts expired", func(s majordomo.Stats) bool {
		return s.Expired == 2 && s.Queued == 0 && s.Services == 0
	})

	// Queued, then served by a worker that registers later: "in time" is
	// the broker's WithTimeout, which must outlast the test's steps (here
	// a broker that lets a request wait as long as the test).
	b = newBroker(t, inproc(), steadyBeat, majordomo.WithTimeout(wait))
	slow := oneShot(t, b.Endpoint())
	got := make(chan error, 1)
	go func() {
		r, err := slow.Request(ctx, "late", []byte("x"))
		if err == nil && (len(r) != 2 || string(r[0]) != "late") {
			err = fmt.Errorf("reply %q", r)
		}
		got <- err
	}()
	waitStats(t, ctx, b, "queued request", func(s majordomo.Stats) bool { return s.Queued == 1 })
	newWorker(t, b.Endpoint(), "late", echo("late"), steadyBeat)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// The broker counts the reply after sending it: wait for the count.
	waitStats(t, ctx, b, "the reply counted", func(s majordomo.Stats) bool { return s.Replies == 1 })
	if s := b.Stats(); s.Expired != 0 {
		t.Fatalf("stats %+v: the queued request should have waited for the worker", s)
	}
}

// spec 8/MMI: mmi.service says 200 or 404; other mmi services 501.
func TestMMIService(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t, inproc(), steadyBeat)
	newWorker(t, b.Endpoint(), "echo", echo("e"), steadyBeat)
	waitStats(t, ctx, b, "worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	c := oneShot(t, b.Endpoint())
	for svc, want := range map[string]bool{"echo": true, "nope": false} {
		if ok, err := c.ServiceExists(ctx, svc); err != nil || ok != want {
			t.Fatalf("ServiceExists(%q) = %v, %v; want %v", svc, ok, err, want)
		}
	}
	r, err := c.Request(ctx, majordomo.MMIService, []byte("echo"))
	if err != nil || len(r) != 1 || string(r[0]) != "200" {
		t.Fatalf("mmi.service echo = %q, %v", r, err)
	}
	r, err = c.Request(ctx, "mmi.nothing", []byte("echo"))
	if err != nil || len(r) != 1 || string(r[0]) != "501" {
		t.Fatalf("mmi.nothing = %q, %v; want 501", r, err)
	}
	waitStats(t, ctx, b, "4 mmi requests", func(s majordomo.Stats) bool { return s.MMI == 4 && s.Services == 1 })
	// A worker may not register an mmi service.
	if _, err := majordomo.NewWorker(b.Endpoint(), "mmi.service", echo("x")); !errors.Is(err, majordomo.ErrServiceName) {
		t.Fatalf("NewWorker(mmi.service): %v, want ErrServiceName", err)
	}
}

// A worker that stops heartbeating is dead after liveness intervals: it is
// sent DISCONNECT and the request it held goes to another worker.
func TestHeartbeatExpiry(t *testing.T) {
	t.Parallel() // it waits out steadyExpiry
	ctx := testCtx(t)
	b := newBroker(t, inproc(), steadyBeat)
	raw := newRawWorker(t, b.Endpoint())
	raw.command(ctx, 0x01, "svc")
	waitStats(t, ctx, b, "raw worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	c := newClient(t, b.Endpoint(), majordomo.WithTimeout(wait), majordomo.WithRetries(0))
	got := make(chan error, 1)
	go func() {
		r, err := c.Request(ctx, "svc", []byte("job"))
		if err == nil && (len(r) != 2 || string(r[0]) != "good" || string(r[1]) != "job") {
			err = fmt.Errorf("reply %q", r)
		}
		got <- err
	}()
	cmd, m := raw.next(ctx)
	if cmd != 0x02 || len(m) != 3 || len(m[1]) != 0 || string(m[2]) != "job" {
		t.Fatalf("raw worker got command %#x %q, want REQUEST", cmd, m)
	}
	newWorker(t, b.Endpoint(), "svc", echo("good"), steadyBeat)
	// The raw worker says nothing more.
	if cmd, _ := raw.next(ctx); cmd != 0x05 {
		t.Fatalf("dead worker got %#x, want DISCONNECT", cmd)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, b, "reply", func(s majordomo.Stats) bool { return s.Replies == 1 })
	if s := b.Stats(); s.Dead != 1 || s.Requeued != 1 || s.Workers != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// The broker answers protocol errors with DISCONNECT (spec 7).
func TestProtocolErrors(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t, inproc())
	cases := []struct {
		name string
		send func(*rawWorker)
	}{
		{"HEARTBEAT before READY", func(w *rawWorker) { w.command(ctx, 0x04) }},
		{"REPLY before READY", func(w *rawWorker) { w.command(ctx, 0x03, "client", "", "x") }},
		{"READY for mmi", func(w *rawWorker) { w.command(ctx, 0x01, "mmi.service") }},
		{"READY twice", func(w *rawWorker) { w.command(ctx, 0x01, "a"); w.command(ctx, 0x01, "a") }},
		{"REPLY while idle", func(w *rawWorker) { w.command(ctx, 0x01, "a"); w.command(ctx, 0x03, "client", "", "x") }},
		{"unknown command", func(w *rawWorker) { w.command(ctx, 0x01, "a"); w.command(ctx, 0x09) }},
	}
	for i, tc := range cases {
		w := newRawWorker(t, b.Endpoint())
		tc.send(w)
		if cmd, m := w.next(ctx); cmd != 0x05 || len(m) != 0 {
			t.Fatalf("%s: got %#x %q, want DISCONNECT", tc.name, cmd, m)
		}
		waitStats(t, ctx, b, tc.name, func(s majordomo.Stats) bool { return s.Disconnects == uint64(i+1) && s.Workers == 0 })
	}
	// Garbage is dropped and counted.
	d := newSocket(t, socket.Dealer)
	d.Connect(b.Endpoint())
	d.Send(ctx, socket.NewMsgString("", "MDPX99", "?"))
	waitStats(t, ctx, b, "malformed", func(s majordomo.Stats) bool { return s.Malformed == uint64(len(cases)+1) })
}

// A worker's DISCONNECT (on Close, or when its handler fails) takes it off
// the broker at once; a failed request goes to another worker.
func TestWorkerDisconnect(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t, inproc(), steadyBeat)
	var once sync.Once
	flaky := newWorker(t, b.Endpoint(), "svc", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		var err error
		once.Do(func() { err = errors.New("first request fails") })
		return [][]byte{[]byte("flaky")}, err
	}, steadyBeat, fastReconnect)
	waitStats(t, ctx, b, "flaky worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	good := newWorker(t, b.Endpoint(), "svc", echo("good"), steadyBeat, fastReconnect)
	waitStats(t, ctx, b, "good worker", func(s majordomo.Stats) bool { return s.Workers == 2 })
	c := oneShot(t, b.Endpoint())
	r, err := c.Request(ctx, "svc", []byte("job"))
	if err != nil || len(r) < 1 {
		t.Fatalf("Request = %q, %v", r, err)
	}
	// The flaky worker got it first (least recently used), gave it back,
	// and re-registered.
	waitStats(t, ctx, b, "flaky re-registered", func(s majordomo.Stats) bool { return s.Workers == 2 })
	if s := b.Stats(); s.WorkerQuits != 1 || s.Requeued != 1 {
		t.Fatalf("broker stats %+v", s)
	}
	if fs := flaky.Stats(); fs.Failed != 1 || fs.Reconnects != 1 {
		t.Fatalf("flaky stats %+v", fs)
	}
	good.Close()
	waitStats(t, ctx, b, "closed worker gone", func(s majordomo.Stats) bool { return s.Workers == 1 && s.WorkerQuits == 2 })
}

// Workers re-register with a restarted broker: Close sends them DISCONNECT
// and they reconnect; the client's retries carry it over the gap.
func TestBrokerRestart(t *testing.T) {
	ctx := testCtx(t)
	// Close lingers a heartbeat interval (50 ms) for its DISCONNECTs to
	// leave: a stall of the test would lose them, and the worker would
	// wait out steadyExpiry instead. This broker lingers as long as the
	// test waits.
	b1 := newBroker(t, "tcp://127.0.0.1:*", steadyBeat, majordomo.WithSocketOptions(socket.WithLinger(wait)))
	ep := b1.Endpoint()
	w := newWorker(t, ep, "echo", echo("w"), steadyBeat, fastReconnect)
	waitStats(t, ctx, b1, "worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	c := newClient(t, ep, majordomo.WithTimeout(200*time.Millisecond), majordomo.WithRetries(int(wait/(200*time.Millisecond))))
	if _, err := c.Request(ctx, "echo", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := newBroker(t, ep, steadyBeat)
	waitStats(t, ctx, b2, "worker back", func(s majordomo.Stats) bool { return s.Workers == 1 })
	r, err := c.Request(ctx, "echo", []byte("after"))
	if err != nil || len(r) != 2 || string(r[1]) != "after" {
		t.Fatalf("after restart: %q, %v", r, err)
	}
	if s := w.Stats(); s.Disconnects != 1 || s.Reconnects < 1 {
		t.Fatalf("worker stats %+v: want the broker's DISCONNECT and a reconnect", s)
	}
}

// A client resends on a new socket when the reply is late; the late reply,
// addressed to the old socket, never reaches it. The client waits
// resendAfter for each reply: the first attempt is held until it resends,
// the second is answered at once.
func TestClientRetries(t *testing.T) {
	t.Parallel() // it waits out a client timeout
	ctx := testCtx(t)
	// steadyBeat: the raw worker, which never heartbeats, stays alive
	// through the client's timeout; and requests for a service with no
	// worker wait as long as the test.
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithTimeout(wait))
	raw := newRawWorker(t, b.Endpoint())
	raw.command(ctx, 0x01, "slow")
	waitStats(t, ctx, b, "raw worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	c := newClient(t, b.Endpoint(), majordomo.WithTimeout(resendAfter), majordomo.WithRetries(5))
	got := make(chan error, 1)
	go func() {
		r, err := c.Request(ctx, "slow", []byte("job"))
		if err == nil && (len(r) != 1 || string(r[0]) != "second") {
			err = fmt.Errorf("reply %q, want the reply to the resend", r)
		}
		got <- err
	}()
	_, m1 := raw.next(ctx)
	waitStats(t, ctx, b, "resend", func(s majordomo.Stats) bool { return s.Requests == 2 })
	raw.command(ctx, 0x03, string(m1[0]), "", "first") // late: its client socket is gone
	cmd, m2 := raw.next(ctx)
	if cmd != 0x02 || string(m2[0]) == string(m1[0]) {
		t.Fatalf("second request %#x %q from the same client address %q", cmd, m2, m1[0])
	}
	raw.command(ctx, 0x03, string(m2[0]), "", "second")
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Resends != 1 || s.Reconnects != 1 || s.Replies != 1 {
		t.Fatalf("client stats %+v", s)
	}

	// No broker at all: ErrNoReply after 1+retries attempts.
	lone := newClient(t, inproc(), majordomo.WithTimeout(30*time.Millisecond), majordomo.WithRetries(2))
	if _, err := lone.Request(ctx, "x", []byte("x")); !errors.Is(err, majordomo.ErrNoReply) {
		t.Fatalf("no broker: %v, want ErrNoReply", err)
	}
	if s := lone.Stats(); s.Resends != 2 || s.Failed != 1 {
		t.Fatalf("lone client stats %+v", s)
	}
	// Close ends a Request under way.
	go func() {
		waitStats(t, ctx, b, "queued", func(s majordomo.Stats) bool { return s.Queued == 1 })
		c.Close()
	}()
	if _, err := c.Request(ctx, "nobody", []byte("x")); !errors.Is(err, majordomo.ErrClosed) {
		t.Fatalf("Request during Close: %v, want ErrClosed", err)
	}
}

// The guide's Majordomo (ch. 4): workers register for services by name, a
// client asks for a service by name, and the broker's mmi.service tells
// whether a service has workers.
func ExampleBroker() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	b, err := majordomo.NewBroker("inproc://mdp-example")
	if err != nil {
		panic(err)
	}
	defer b.Close()

	upper := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}
	w, err := majordomo.NewWorker(b.Endpoint(), "upper", upper)
	if err != nil {
		panic(err)
	}
	defer w.Close()

	c, err := majordomo.NewClient(b.Endpoint(), majordomo.WithTimeout(time.Second), majordomo.WithRetries(3))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	reply, err := c.Request(ctx, "upper", []byte("majordomo"))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(reply[0]))
	for _, svc := range []string{"upper", "lower"} {
		ok, err := c.ServiceExists(ctx, svc)
		if err != nil {
			panic(err)
		}
		fmt.Println(svc, ok)
	}
	// Output:
	// MAJORDOMO
	// upper true
	// lower false
}

// A worker whose handler runs for longer than the liveness period keeps
// heartbeating, so the broker keeps it and its request; a request queued
// behind the busy worker does not expire (only those for a service with no
// worker do).
func TestBusyWorkerHeartbeats(t *testing.T) {
	t.Parallel() // its first job outlasts steadyExpiry
	ctx := testCtx(t)
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithTimeout(100*time.Millisecond))
	// The first job takes longer than the broker lets a silent worker
	// live; the second, queued behind it meanwhile, is quick.
	var jobs atomic.Int32
	newWorker(t, b.Endpoint(), "slow", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if jobs.Add(1) == 1 {
			select {
			case <-time.After(steadyExpiry + 2*time.Second):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return [][]byte{[]byte("done")}, nil
	}, steadyBeat, fastReconnect)
	waitStats(t, ctx, b, "worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	errs := make(chan error, 2)
	for range 2 {
		c := newClient(t, b.Endpoint(), majordomo.WithTimeout(wait), majordomo.WithRetries(0))
		go func() {
			r, err := c.Request(ctx, "slow", []byte("job"))
			if err == nil && (len(r) != 1 || string(r[0]) != "done") {
				err = fmt.Errorf("reply %q", r)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s := b.Stats(); s.Dead != 0 || s.Requeued != 0 || s.Expired != 0 || s.Workers != 1 || jobs.Load() != 2 {
		t.Fatalf("stats %+v: the busy worker should have stayed alive, the queued request waited", s)
	}
}
