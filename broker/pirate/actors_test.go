package pirate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// An option is refused by a constructor it does not apply to, naming both,
// and a value out of range by any; nothing is bound meanwhile.
func TestBadOptions(t *testing.T) {
	h := echo("x")
	ctors := map[string]func(pirate.Option) error{
		"NewLoadBalancer": func(o pirate.Option) error {
			b, err := pirate.NewLoadBalancer(inproc(), inproc(), o)
			if err == nil {
				b.Close()
			}
			return err
		},
		"NewWorker": func(o pirate.Option) error {
			w, err := pirate.NewWorker(inproc(), h, o)
			if err == nil {
				w.Close()
			}
			return err
		},
		"NewClient": func(o pirate.Option) error {
			c, err := pirate.NewClient(inproc(), o)
			if err == nil {
				c.Close()
			}
			return err
		},
		"NewStage": func(o pirate.Option) error {
			s, err := pirate.NewStage(inproc(), h, inproc(), o)
			if err == nil {
				s.Close()
			}
			return err
		},
	}
	for _, tc := range []struct {
		name string
		o    pirate.Option
		not  []string // the constructors that refuse it as not theirs
	}{
		{"WithTimeout", pirate.WithTimeout(time.Second), []string{"NewLoadBalancer", "NewWorker"}},
		{"WithRetries", pirate.WithRetries(1), []string{"NewLoadBalancer", "NewWorker"}},
		{"WithHeartbeat", pirate.WithHeartbeat(time.Second, 3), []string{"NewClient"}},
		{"WithReconnect", pirate.WithReconnect(time.Second, time.Second), []string{"NewLoadBalancer", "NewClient"}},
		{"WithHoldLimit", pirate.WithHoldLimit(time.Second), []string{"NewWorker", "NewClient", "NewStage"}},
		{"WithMaxDeliveries", pirate.WithMaxDeliveries(2), []string{"NewWorker", "NewClient", "NewStage"}},
		{"WithAbandoned", pirate.WithAbandoned(func([][]byte) {}), []string{"NewWorker", "NewClient", "NewStage"}},
		{"WithRequeued", pirate.WithRequeued(func([][]byte) {}), []string{"NewWorker", "NewClient", "NewStage"}},
	} {
		for _, ctor := range tc.not {
			err := ctors[ctor](tc.o)
			if !errors.Is(err, pirate.ErrBadOption) || !strings.Contains(err.Error(), tc.name+" does not apply to pirate."+ctor) {
				t.Errorf("%s given %s: %v, want ErrBadOption naming both", ctor, tc.name, err)
			}
		}
	}
	for name, o := range map[string]pirate.Option{
		"zero":              {},
		"nil observer":      pirate.WithObserver(nil),
		"nil logger":        pirate.WithLogger(nil),
		"nil socket option": pirate.WithSocketOptions(nil),
	} {
		for ctor, f := range ctors {
			if err := f(o); !errors.Is(err, pirate.ErrBadOption) {
				t.Errorf("%s given %s: %v, want ErrBadOption", ctor, name, err)
			}
		}
	}
	for name, f := range map[string]func() error{
		"heartbeat 0":          func() error { return ctors["NewWorker"](pirate.WithHeartbeat(0, 3)) },
		"reconnect max < init": func() error { return ctors["NewStage"](pirate.WithReconnect(time.Second, time.Millisecond)) },
		"timeout 0":            func() error { return ctors["NewClient"](pirate.WithTimeout(0)) },
		"max deliveries 0":     func() error { return ctors["NewLoadBalancer"](pirate.WithMaxDeliveries(0)) },
		"nil handler": func() error {
			_, err := pirate.NewWorker(inproc(), nil)
			return err
		},
	} {
		if err := f(); !errors.Is(err, pirate.ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
}

// A load balancer, a worker and a client report their actors to the
// observer, and the load balancer its stats as figures.
func TestObserved(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	b := newLB(t, inproc(), inproc(), steadyBeat, pirate.WithObserver(rec))
	w := newWorker(t, b.Backend(), echo("ok"), steadyBeat, pirate.WithObserver(rec))
	c := newClient(t, b.Frontend(), pirate.WithTimeout(wait), pirate.WithRetries(0), pirate.WithObserver(rec))
	for range 3 {
		if _, err := c.Request(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"pirate load balancer", "pirate worker", "pirate worker handler"} {
		rec.Await(t, actortest.Started, name, wait)
		rec.Await(t, actortest.Handled, name, wait)
	}
	rec.Await(t, actortest.Started, "pirate client", wait)
	rec.AwaitFigure(t, "pirate client", "Replies", func(v int64) bool { return v == 3 }, wait)
	rec.AwaitFigure(t, "pirate load balancer", "Requests", func(v int64) bool { return v == 3 }, wait)
	rec.AwaitFigure(t, "pirate load balancer", "Replies", func(v int64) bool { return v == 3 }, wait)
	rec.AwaitFigure(t, "pirate load balancer", "Workers", func(v int64) bool { return v == 1 }, wait)
	rec.AwaitFigure(t, "pirate worker", "Handled", func(v int64) bool { return v == 3 }, wait)
	for _, closer := range []interface{ Close() error }{c, w, b} {
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-b.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if b.Err() != nil {
		t.Fatalf("Err after Close = %v", b.Err())
	}
	for _, name := range []string{"pirate load balancer", "pirate worker", "pirate worker handler", "pirate client"} {
		rec.Await(t, actortest.Stopped, name, wait)
	}
	if err := b.Wait(ctx, func(pirate.Stats) bool { return false }); !errors.Is(err, pirate.ErrClosed) {
		t.Fatalf("Wait after Close = %v, want ErrClosed", err)
	}
}

// A failure of the load balancer's actor restarts it with fresh state on
// the same sockets: the workers find it silent and send READY again, the
// client's resend of the request the restart lost is served, and the
// counters go on.
//
// quickBeat: the workers must find the restarted actor silent; burying a
// live peer by mistake only adds a reconnect or a requeue, which this test
// allows.
func TestLoadBalancerActorRestart(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	b := newLB(t, inproc(), inproc(), quickBeat, pirate.WithObserver(rec))
	release := make(chan struct{})
	slow := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if string(req[0]) == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return req, nil
	}
	var ws []*pirate.Worker
	for range 2 {
		ws = append(ws, newWorker(t, b.Backend(), slow, quickBeat, fastReconnect))
	}
	waitLB(t, ctx, b, "2 workers", func(s pirate.Stats) bool { return s.Workers == 2 })
	c := newClient(t, b.Frontend(), pirate.WithTimeout(250*time.Millisecond), pirate.WithRetries(int(wait/(250*time.Millisecond))))
	if _, err := c.Request(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := c.Request(ctx, []byte("slow"))
		if err == nil && string(r[0]) != "slow" {
			err = errors.New("wrong reply")
		}
		done <- err
	}()
	waitLB(t, ctx, b, "the slow request on a worker", func(s pirate.Stats) bool { return s.InFlight == 1 })
	if err := pirate.FailActor(ctx, b); err != nil {
		t.Fatal(err)
	}
	rec.Await(t, actortest.Restarted, "pirate load balancer", wait)
	close(release)
	waitLB(t, ctx, b, "the workers back", func(s pirate.Stats) bool { return s.Workers == 2 })
	if err := <-done; err != nil {
		t.Fatalf("the request the restart lost: %v", err)
	}
	if _, err := c.Request(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	// The counters went on: three requests taken in all, at least (the
	// lost one may have been taken again after a resend).
	waitLB(t, ctx, b, "the replies counted", func(s pirate.Stats) bool { return s.Replies >= 3 })
	if s := b.Stats(); s.Requests < 3 {
		t.Fatalf("stats %+v: the counters started again", s)
	}
	for i, w := range ws {
		if s := w.Stats(); s.Reconnects == 0 {
			t.Errorf("worker %d stats %+v: no reconnect", i, s)
		}
	}
	if b.Err() != nil {
		t.Fatalf("Err = %v after a restart", b.Err())
	}
}

// A Worker heartbeats while its handler runs: a broker that sends a
// request and stays silent hears HEARTBEATs until the reply.
func TestWorkerHeartbeatsWhileHandling(t *testing.T) {
	ctx := testCtx(t)
	router := newSocket(t, socket.Router)
	ep := must[string](t)(router.Bind(inproc()))
	started, release := make(chan struct{}), make(chan struct{})
	w := newWorker(t, ep, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		close(started)
		<-release
		return [][]byte{[]byte("done")}, nil
	}, steadyBeat)
	ready := must[socket.Msg](t)(router.Recv(ctx))
	if len(ready) != 2 || string(ready[1]) != "\x01" {
		t.Fatalf("worker said %q first, want READY", ready)
	}
	id := ready[0]
	if err := router.Send(ctx, socket.Msg{id, []byte("ticket"), nil, []byte("job")}); err != nil {
		t.Fatal(err)
	}
	<-started
	for beats := 0; beats < 3; {
		m := must[socket.Msg](t)(router.Recv(ctx))
		if len(m) != 2 || string(m[1]) != "\x02" {
			t.Fatalf("worker sent %q while its handler ran, want HEARTBEAT", m)
		}
		beats++
	}
	close(release)
	for {
		m := must[socket.Msg](t)(router.Recv(ctx))
		if len(m) == 2 && string(m[1]) == "\x02" {
			continue
		}
		if len(m) != 4 || string(m[1]) != "ticket" || len(m[2]) != 0 || string(m[3]) != "done" {
			t.Fatalf("worker replied %q", m)
		}
		break
	}
	if s := w.Stats(); s.Handled != 1 || s.Reconnects != 0 {
		t.Fatalf("worker stats %+v", s)
	}
}

// A Worker whose broker goes silent reconnects: its session fails and the
// supervisor's restart opens a new socket (a new routing id). A reply its
// handler finishes meanwhile goes out on the new socket, then READY.
//
// quickBeat: the broker here never heartbeats, so the worker must give it
// up; fastReconnect is the back-off.
func TestWorkerReconnectKeepsReply(t *testing.T) {
	workerReconnectKeepsReply(t, actortest.Restarted, fastReconnect)
}

// A reply the handler finishes while the worker has no socket, between a
// session's end and the next one's start (the reconnect back-off, a
// second here), waits for the next socket and goes out on it, then READY.
func TestWorkerReplyWaitsForNextSocket(t *testing.T) {
	workerReconnectKeepsReply(t, actortest.Failed, pirate.WithReconnect(time.Second, time.Second))
}

// workerReconnectKeepsReply has a worker's handler finish its request
// once the observer has seen the session's event release (restarted, or
// failed: then the worker has no socket), and checks that the reply goes
// out on the next socket, then READY.
func workerReconnectKeepsReply(t *testing.T, release actortest.Kind, reconnect pirate.Option) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	router := newSocket(t, socket.Router)
	ep := must[string](t)(router.Bind(inproc()))
	started, finish := make(chan struct{}), make(chan struct{})
	w := newWorker(t, ep, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		close(started)
		<-finish
		return [][]byte{[]byte("done")}, nil
	}, quickBeat, reconnect, pirate.WithObserver(rec))
	recvFrom := func() socket.Msg {
		t.Helper()
		for {
			m := must[socket.Msg](t)(router.Recv(ctx))
			if len(m) == 2 && string(m[1]) == "\x02" {
				continue // heartbeats
			}
			return m
		}
	}
	ready := recvFrom()
	if len(ready) != 2 || string(ready[1]) != "\x01" {
		t.Fatalf("worker said %q first, want READY", ready)
	}
	first := string(ready[0])
	if err := router.Send(ctx, socket.Msg{ready[0], []byte("ticket"), nil, []byte("job")}); err != nil {
		t.Fatal(err)
	}
	<-started
	// Silent from here: the session fails and is restarted, the handler
	// runs on.
	rec.Await(t, release, "pirate worker", wait)
	close(finish)
	m := recvFrom()
	if string(m[0]) == first || len(m) != 4 || string(m[1]) != "ticket" || string(m[3]) != "done" {
		t.Fatalf("worker sent %q after the reconnect, want the reply from a new routing id", m)
	}
	if r := recvFrom(); len(r) != 2 || string(r[0]) != string(m[0]) || string(r[1]) != "\x01" {
		t.Fatalf("worker sent %q after its reply, want READY", r)
	}
	if s := w.Stats(); s.Handled != 1 || s.Reconnects == 0 {
		t.Fatalf("worker stats %+v", s)
	}
}

// Requests waiting when a Client closes fail with ErrClosed, and Request
// after Close does at once.
func TestClientClose(t *testing.T) {
	ctx := testCtx(t)
	c := must[*pirate.Client](t)(pirate.NewClient(inproc(), pirate.WithTimeout(wait)))
	done := make(chan error, 1)
	go func() { _, err := c.Request(ctx, []byte("x")); done <- err }()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, pirate.ErrClosed) {
		t.Fatalf("waiting Request = %v, want ErrClosed", err)
	}
	if _, err := c.Request(ctx, []byte("y")); !errors.Is(err, pirate.ErrClosed) {
		t.Fatalf("Request after Close = %v, want ErrClosed", err)
	}
}
