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

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/socket"
)

// The broker, the worker's session and handler, and the client are actors
// that report to the observer; when the broker goes, its DISCONNECT fails
// the worker's session and the supervisor starts a new one.
func TestObserved(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithObserver(rec))
	newWorker(t, b.Endpoint(), "echo", echo("e"), steadyBeat, fastReconnect, majordomo.WithObserver(rec))
	c := newClient(t, b.Endpoint(), majordomo.WithTimeout(wait), majordomo.WithRetries(0), majordomo.WithObserver(rec))
	if r, err := c.Request(ctx, "echo", []byte("x")); err != nil || len(r) != 2 || string(r[1]) != "x" {
		t.Fatalf("Request = %q, %v", r, err)
	}
	for _, name := range []string{"majordomo broker", "majordomo worker", "majordomo worker handler", "majordomo client"} {
		rec.Await(t, actortest.Started, name, wait)
		rec.Await(t, actortest.Handled, name, wait)
	}
	// The broker's own counts reach the observer as figures.
	rec.AwaitFigure(t, "majordomo broker", "Replies", func(v int64) bool { return v == 1 }, wait)
	rec.AwaitFigure(t, "majordomo broker", "Workers", func(v int64) bool { return v == 1 }, wait)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Await(t, actortest.Stopped, "majordomo broker", wait)
	if ev := rec.Await(t, actortest.Failed, "majordomo worker", wait); !strings.Contains(ev.Err.Error(), "DISCONNECT") {
		t.Fatalf("session failed with %v, want the broker's DISCONNECT", ev.Err)
	}
	rec.Await(t, actortest.Restarted, "majordomo worker", wait)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Await(t, actortest.Stopped, "majordomo client", wait)
	if _, err := c.Request(ctx, "echo", []byte("x")); !errors.Is(err, majordomo.ErrClosed) {
		t.Fatalf("Request after Close: %v, want ErrClosed", err)
	}
}

// A panic in the broker's behaviour (here from its logger, at a malformed
// message) restarts it with fresh state on the same socket: it tells the
// workers it knew to register again, they do, and requests are served; the
// counters go on.
func TestBrokerRestartsAfterPanic(t *testing.T) {
	ctx := testCtx(t)
	var armed atomic.Bool
	armed.Store(true)
	core, _ := observer.New(zapcore.WarnLevel)
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "message dropped" && armed.CompareAndSwap(true, false) {
			panic("injected")
		}
		return nil
	}))
	rec := actortest.NewRecorder()
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithLogger(log), majordomo.WithObserver(rec))
	w := newWorker(t, b.Endpoint(), "echo", echo("e"), steadyBeat, fastReconnect)
	waitStats(t, ctx, b, "worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	c := oneShot(t, b.Endpoint())
	if _, err := c.Request(ctx, "echo", []byte("before")); err != nil {
		t.Fatal(err)
	}

	d := newSocket(t, socket.Dealer)
	d.Connect(b.Endpoint())
	if err := d.Send(ctx, socket.NewMsgString("", "MDPX99", "?")); err != nil {
		t.Fatal(err)
	}
	var pe *actor.PanicError
	if ev := rec.Await(t, actortest.Failed, "majordomo broker", wait); !errors.As(ev.Err, &pe) {
		t.Fatalf("broker failed with %v, want the panic", ev.Err)
	}
	rec.Await(t, actortest.Restarted, "majordomo broker", wait)
	// The old incarnation's Stop sent the worker DISCONNECT (and the new
	// one sends another if a HEARTBEAT of the old session reaches it): the
	// worker registers again with the new one.
	waitStats(t, ctx, b, "worker back", func(s majordomo.Stats) bool { return s.Disconnects >= 1 && s.Workers == 1 })
	r, err := c.Request(ctx, "echo", []byte("after"))
	if err != nil || len(r) != 2 || string(r[1]) != "after" {
		t.Fatalf("after the restart: %q, %v", r, err)
	}
	waitStats(t, ctx, b, "reply counted", func(s majordomo.Stats) bool { return s.Replies == 2 })
	if s := b.Stats(); s.Requests != 2 || s.Dead != 0 {
		t.Fatalf("stats %+v: the counters should go on across the restart", s)
	}
	if s := w.Stats(); s.Disconnects != 1 || s.Reconnects != 1 || s.Handled != 2 {
		t.Fatalf("worker stats %+v", s)
	}
	select {
	case <-b.Done():
		t.Fatalf("broker ended: %v", b.Err())
	default:
	}
}

// Requests from many goroutines on one client go one at a time, each
// getting its own reply; a Request whose ctx ends while it waits its turn
// returns ctx's error.
func TestClientConcurrentRequests(t *testing.T) {
	ctx := testCtx(t)
	b, release := holdAndEcho(t, ctx)
	c := oneShot(t, b.Endpoint())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				want := fmt.Sprint(g, "-", i)
				r, err := c.Request(ctx, "echo", []byte(want))
				if err != nil || string(r[len(r)-1]) != want {
					t.Errorf("Request %s = %q, %v", want, r, err)
				}
			}
		}()
	}
	wg.Wait()
	if s := c.Stats(); s.Requests != 40 || s.Replies != 40 || s.Resends != 0 {
		t.Fatalf("client stats %+v", s)
	}

	// One request holds the client; one behind it gives up waiting.
	held := make(chan error, 1)
	go func() { _, err := c.Request(ctx, "hold", []byte("x")); held <- err }()
	waitStats(t, ctx, b, "held request", func(s majordomo.Stats) bool { return s.InFlight == 1 })
	short, cancel := context.WithCancel(ctx)
	queued := make(chan error, 1)
	go func() { _, err := c.Request(short, "echo", []byte("never")); queued <- err }()
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued Request: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Requests != 41 || s.Replies != 41 {
		t.Fatalf("client stats %+v: the request given up in its turn was never sent", s)
	}
}

// Options a constructor does not take, values out of range and nil
// arguments are refused with ErrBadOption, naming the option and the
// constructor, before anything starts.
func TestBadOptions(t *testing.T) {
	h := echo("x")
	broker := func(o majordomo.Option) error { _, err := majordomo.NewBroker(inproc(), o); return err }
	worker := func(o majordomo.Option) error { _, err := majordomo.NewWorker(inproc(), "svc", h, o); return err }
	client := func(o majordomo.Option) error { _, err := majordomo.NewClient(inproc(), o); return err }
	type ctor struct {
		name string
		make func(majordomo.Option) error
	}
	B, W, C := ctor{"NewBroker", broker}, ctor{"NewWorker", worker}, ctor{"NewClient", client}
	for _, tc := range []struct {
		option string
		o      majordomo.Option
		not    []ctor
	}{
		{"WithHeartbeat", majordomo.WithHeartbeat(time.Second, 3), []ctor{C}},
		{"WithReconnect", majordomo.WithReconnect(time.Second, 2*time.Second), []ctor{B, C}},
		{"WithTimeout", majordomo.WithTimeout(time.Second), []ctor{W}},
		{"WithRetries", majordomo.WithRetries(1), []ctor{B, W}},
		{"WithMaxDeliveries", majordomo.WithMaxDeliveries(2), []ctor{W, C}},
		{"WithServiceQueue", majordomo.WithServiceQueue(10), []ctor{W, C}},
	} {
		for _, c := range tc.not {
			err := c.make(tc.o)
			if !errors.Is(err, majordomo.ErrBadOption) || !strings.Contains(err.Error(), tc.option) || !strings.Contains(err.Error(), c.name) {
				t.Errorf("%s(%s): %v, want ErrBadOption naming both", c.name, tc.option, err)
			}
		}
	}
	for name, o := range map[string]majordomo.Option{
		"zero":         {},
		"nil observer": majordomo.WithObserver(nil),
		"nil logger":   majordomo.WithLogger(nil),
		"nil socket":   majordomo.WithSocketOptions(nil),
	} {
		for _, c := range []ctor{B, W, C} {
			if err := c.make(o); !errors.Is(err, majordomo.ErrBadOption) {
				t.Errorf("%s(%s): %v, want ErrBadOption", c.name, name, err)
			}
		}
	}
	for name, err := range map[string]error{
		"heartbeat 0":    broker(majordomo.WithHeartbeat(0, 3)),
		"liveness 0":     worker(majordomo.WithHeartbeat(time.Second, 0)),
		"reconnect max<": worker(majordomo.WithReconnect(2*time.Second, time.Second)),
		"timeout 0":      client(majordomo.WithTimeout(0)),
		"retries -1":     client(majordomo.WithRetries(-1)),
		"deliveries 0":   broker(majordomo.WithMaxDeliveries(0)),
		"nil handler":    func() error { _, err := majordomo.NewWorker(inproc(), "svc", nil); return err }(),
	} {
		if !errors.Is(err, majordomo.ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
	// Bad endpoints fail the constructor, which leaves nothing running.
	if err := func() error { _, err := majordomo.NewBroker("bogus://x"); return err }(); err == nil {
		t.Error("NewBroker accepted a bad endpoint")
	}
	if err := func() error { _, err := majordomo.NewWorker("bogus://x", "svc", h); return err }(); err == nil {
		t.Error("NewWorker accepted a bad endpoint")
	}
	if err := func() error { _, err := majordomo.NewClient("bogus://x"); return err }(); err == nil {
		t.Error("NewClient accepted a bad endpoint")
	}
}

// A reply whose conversation ended while the handler ran (the broker sent
// DISCONNECT) is dropped, never sent on the next conversation's socket:
// that broker has given the request to another worker or forgotten it.
// The next conversation starts with READY from a new routing id, and its
// requests are answered.
func TestWorkerDropsReplyOfEndedConversation(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	broker := newSocket(t, socket.Router)
	ep := must[string](t)(broker.Bind(inproc()))
	started, release := make(chan struct{}, 1), make(chan struct{})
	newWorker(t, ep, "svc", func(_ context.Context, req [][]byte) ([][]byte, error) {
		started <- struct{}{}
		if string(req[0]) == "first" {
			<-release // deaf to ctx: its reply comes after its conversation
		}
		return req, nil
	}, steadyBeat, fastReconnect, majordomo.WithObserver(rec))
	// next returns the worker's next command other than HEARTBEAT: the
	// sender's routing id, the command, the frames after it.
	next := func() (string, byte, [][]byte) {
		t.Helper()
		for {
			m := must[socket.Msg](t)(broker.Recv(ctx))
			if len(m) < 4 || len(m[1]) != 0 || string(m[2]) != majordomo.WorkerHeader || len(m[3]) != 1 {
				t.Fatalf("worker sent %q", m)
			}
			if m[3][0] != 0x04 {
				return string(m[0]), m[3][0], m[4:]
			}
		}
	}
	request := func(id, body string) {
		t.Helper()
		if err := broker.Send(ctx, socket.Msg{[]byte(id), nil, []byte(majordomo.WorkerHeader), {0x02}, []byte("client"), nil, []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	first, cmd, _ := next()
	if cmd != 0x01 {
		t.Fatalf("worker's first command %#x, want READY", cmd)
	}
	request(first, "first")
	<-started
	if err := broker.Send(ctx, socket.Msg{[]byte(first), nil, []byte(majordomo.WorkerHeader), {0x05}}); err != nil {
		t.Fatal(err)
	}
	second, cmd, _ := next()
	if cmd != 0x01 || second == first {
		t.Fatalf("after DISCONNECT: command %#x from %q, want READY from a new routing id", cmd, second)
	}
	close(release)
	rec.AwaitFigure(t, "majordomo worker", "Dropped", func(v int64) bool { return v == 1 }, wait)
	request(second, "second")
	id, cmd, rest := next()
	if id != second || cmd != 0x03 || len(rest) != 3 || string(rest[0]) != "client" || string(rest[2]) != "second" {
		t.Fatalf("worker sent command %#x %q from %q, want the REPLY to the second request", cmd, rest, id)
	}
	rec.AwaitFigure(t, "majordomo worker", "Handled", func(v int64) bool { return v == 1 }, wait)
}

// A Request whose ctx ends while it waits for its reply returns ctx's
// error, cancelled or past its deadline, and the Client's next Requests
// get their replies.
func TestClientCtxEndsUnderWay(t *testing.T) {
	ctx := testCtx(t)
	b, release := holdAndEcho(t, ctx)
	defer close(release)
	c := oneShot(t, b.Endpoint())
	echoed := func(body string) {
		t.Helper()
		if r, err := c.Request(ctx, "echo", []byte(body)); err != nil || string(r[len(r)-1]) != body {
			t.Fatalf("Request %s = %q, %v", body, r, err)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	held := make(chan error, 1)
	go func() { _, err := c.Request(cctx, "hold", []byte("x")); held <- err }()
	waitStats(t, ctx, b, "held request", func(s majordomo.Stats) bool { return s.InFlight == 1 })
	cancel()
	if err := <-held; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Request: %v, want context.Canceled", err)
	}
	echoed("a")

	dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer dcancel()
	if _, err := c.Request(dctx, "hold", []byte("y")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request past its deadline: %v, want context.DeadlineExceeded", err)
	}
	echoed("b")
	if s := c.Stats(); s.Requests != 4 || s.Replies != 2 || s.Failed != 0 || s.Resends != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

// holdAndEcho starts a broker with two workers: service "hold", whose
// replies wait until release is closed, and "echo".
func holdAndEcho(t *testing.T, ctx context.Context) (*majordomo.Broker, chan struct{}) {
	b := newBroker(t, inproc(), steadyBeat)
	release := make(chan struct{})
	newWorker(t, b.Endpoint(), "hold", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return req, nil
	}, steadyBeat)
	newWorker(t, b.Endpoint(), "echo", echo("e"), steadyBeat)
	waitStats(t, ctx, b, "2 workers", func(s majordomo.Stats) bool { return s.Workers == 2 })
	return b, release
}
