package majordomo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/socket"
)

// The guide's Majordomo peers (mdbroker, mdwrkapi): HEARTBEAT every 2.5 s,
// the other side dead after 3 silent intervals.
const (
	guideMDPInterval = 2500 * time.Millisecond
	guideMDPLiveness = 3
	// The guide's Paranoid Pirate peers (ppqueue, ppworker).
	guidePPPInterval = time.Second
	guidePPPLiveness = 3
)

// The Majordomo defaults leave room for the guide's peers both ways: our
// broker keeps a guide worker through more than its own broker's 7.5 s (a
// guide worker beats only when its poll returns, so its beats may come
// 2.5 s plus our interval apart), and a guide peer hears from us many
// times before it gives us up.
func TestDefaultsLeaveRoomForGuidePeers(t *testing.T) {
	ours := majordomo.DefaultHeartbeatInterval * majordomo.DefaultLiveness
	guideExpiry := guideMDPInterval * guideMDPLiveness
	if ours < 4*guideMDPInterval || ours < guideExpiry+guideMDPInterval {
		t.Errorf("broker keeps a silent worker %v: want 4 of the guide worker's %v heartbeats at least", ours, guideMDPInterval)
	}
	if worstGap := guideMDPInterval + majordomo.DefaultHeartbeatInterval; ours < 5*worstGap/2 {
		t.Errorf("broker keeps a silent worker %v: under 2.5 of the guide worker's longest gaps, %v", ours, worstGap)
	}
	if guideExpiry < 5*majordomo.DefaultHeartbeatInterval {
		t.Errorf("a guide peer hears from us every %v: fewer than 5 times in its %v", majordomo.DefaultHeartbeatInterval, guideExpiry)
	}
	// They are separate from the Paranoid Pirate defaults (the guide's
	// ppqueue: 1 s x 3), which are too tight for the guide's Majordomo
	// peers.
	if ppp := guidePPPInterval * guidePPPLiveness; ppp >= ours {
		t.Errorf("PPP expiry %v, Majordomo %v", ppp, ours)
	}
}

// A client REQUEST without a body is malformed (spec 7): counted, dropped,
// never given to a worker. Client refuses to send one.
func TestRequestWithoutBody(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t, inproc(), steadyBeat)
	w := newRawWorker(t, b.Endpoint())
	w.command(ctx, 0x01, "svc")
	waitStats(t, ctx, b, "raw worker", func(s majordomo.Stats) bool { return s.Workers == 1 })

	cl := newSocket(t, socket.Dealer)
	if err := cl.Connect(b.Endpoint()); err != nil {
		t.Fatal(err)
	}
	send := func(frames ...string) {
		t.Helper()
		if err := cl.Send(ctx, socket.NewMsgString(append([]string{"", majordomo.ClientHeader}, frames...)...)); err != nil {
			t.Fatal(err)
		}
	}
	send("svc")
	send(majordomo.MMIService)
	waitStats(t, ctx, b, "2 malformed", func(s majordomo.Stats) bool { return s.Malformed == 2 })
	// What follows from the same client, in order, is served: the
	// worker's first request is the one with a body.
	send("svc", "body")
	if cmd, m := w.next(ctx); cmd != 0x02 || len(m) != 3 || string(m[2]) != "body" {
		t.Fatalf("worker got %#x %q, want the REQUEST with a body", cmd, m)
	}
	send(majordomo.MMIService, "svc")
	m, err := cl.Recv(ctx)
	if err != nil || len(m) != 4 || string(m[2]) != majordomo.MMIService || string(m[3]) != majordomo.MMIFound {
		t.Fatalf("client got %q, %v; want mmi.service's 200 only", m, err)
	}
	waitStats(t, ctx, b, "one request on the worker, one MMI", func(s majordomo.Stats) bool {
		return s.Requests == 2 && s.MMI == 1 && s.InFlight == 1
	})
	if s := b.Stats(); s.Malformed != 2 || s.Queued != 0 || s.Disconnects != 0 {
		t.Fatalf("stats %+v", s)
	}

	c := oneShot(t, b.Endpoint())
	if _, err := c.Request(ctx, "svc"); !errors.Is(err, majordomo.ErrMalformed) {
		t.Fatalf("Request without a body: %v, want ErrMalformed", err)
	}
	if s := c.Stats(); s.Requests != 0 {
		t.Fatalf("client stats %+v: nothing should have been sent", s)
	}
}

// A service whose worker heartbeats but never replies holds at most
// WithServiceQueue requests: each one past the bound pushes out the oldest,
// counted in Overflow and logged; memory stays bounded, and other services
// are served meanwhile. The newest requests are the ones kept.
func TestServiceQueueBound(t *testing.T) {
	ctx := testCtx(t)
	const (
		limit = 100
		sent  = 10000
	)
	core, logs := observer.New(zapcore.WarnLevel)
	// WithTimeout(wait): once the stuck worker is gone, its queue waits
	// for the next worker.
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithServiceQueue(limit), majordomo.WithTimeout(wait),
		majordomo.WithLogger(zap.New(core)))
	held := make(chan struct{}, 1)
	stuck := newWorker(t, b.Endpoint(), "stuck", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		held <- struct{}{}
		<-ctx.Done() // heartbeats go on meanwhile: the session sends them, not the handler
		return nil, ctx.Err()
	}, steadyBeat)
	newWorker(t, b.Endpoint(), "echo", echo("e"), steadyBeat)
	waitStats(t, ctx, b, "2 workers", func(s majordomo.Stats) bool { return s.Workers == 2 })

	// Watch every snapshot of the stats while the requests go in.
	wctx, stopWatch := context.WithCancel(ctx)
	var watched sync.WaitGroup
	maxQueued := 0
	watched.Add(1)
	go func() {
		defer watched.Done()
		b.Wait(wctx, func(s majordomo.Stats) bool { maxQueued = max(maxQueued, s.Queued); return false })
	}()

	cl := newSocket(t, socket.Dealer)
	if err := cl.Connect(b.Endpoint()); err != nil {
		t.Fatal(err)
	}
	for i := range sent {
		if err := cl.Send(ctx, socket.NewMsgString("", majordomo.ClientHeader, "stuck", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatalf("the stuck worker got no request; stats %+v", b.Stats())
	}
	waitStats(t, ctx, b, "every request counted", func(s majordomo.Stats) bool { return s.Requests == sent })
	// Meanwhile another service is served.
	c := oneShot(t, b.Endpoint())
	if r, err := c.Request(ctx, "echo", []byte("alive")); err != nil || len(r) != 2 || string(r[1]) != "alive" {
		t.Fatalf("echo = %q, %v", r, err)
	}
	// The broker counts the reply after sending it: wait for the count.
	waitStats(t, ctx, b, "echo reply", func(s majordomo.Stats) bool { return s.Replies == 1 })
	stopWatch()
	watched.Wait()
	s := b.Stats()
	if maxQueued > limit || s.Queued != limit || s.InFlight != 1 || s.Overflow != sent-1-limit || s.Dead != 0 {
		t.Fatalf("stats %+v, queue reached %d: want %d queued, 1 on the worker, the rest overflowed", s, maxQueued, limit)
	}
	entries := logs.FilterMessage("oldest request dropped").All()
	if len(entries) == 0 || entries[0].ContextMap()["service"] != "stuck" {
		t.Fatalf("overflow logged as %v", entries)
	}

	// The stuck worker goes: the request it held would be the oldest of a
	// full queue, so it overflows too. A new worker gets the newest limit
	// requests, in order.
	stuck.Close()
	waitStats(t, ctx, b, "stuck worker gone", func(s majordomo.Stats) bool {
		return s.Workers == 1 && s.Overflow == sent-limit && s.Queued == limit
	})
	newWorker(t, b.Endpoint(), "stuck", echo("late"), steadyBeat)
	for i := sent - limit; i < sent; i++ {
		m, err := cl.Recv(ctx)
		if err != nil || len(m) != 5 || string(m[2]) != "stuck" || string(m[4]) != fmt.Sprint(i) {
			t.Fatalf("reply %q, %v; want request %d's", m, err, i)
		}
	}
	waitStats(t, ctx, b, "all replies", func(s majordomo.Stats) bool { return s.Replies == limit+1 && s.Queued == 0 })
	if s := b.Stats(); s.Requests != sent+1 || s.Overflow != sent-limit || s.Requeued != 0 || s.Expired != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestServiceQueueOption(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := majordomo.NewBroker(inproc(), majordomo.WithServiceQueue(n)); !errors.Is(err, majordomo.ErrBadOption) {
			t.Errorf("WithServiceQueue(%d): %v, want ErrBadOption", n, err)
		}
	}
}

// A client naming a new service in each request cannot make the broker hold
// a queue per name: past WithMaxServices, requests for unknown services are
// dropped, counted in NoRoom and logged, while services the broker knows
// (with a worker, or with requests waiting) are served as before.
func TestMaxServices(t *testing.T) {
	ctx := testCtx(t)
	const limit = 10
	core, logs := observer.New(zapcore.WarnLevel)
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithMaxServices(limit), majordomo.WithTimeout(time.Hour),
		majordomo.WithLogger(zap.New(core)))
	newWorker(t, b.Endpoint(), "echo", echo("e"), steadyBeat)
	waitStats(t, ctx, b, "1 worker", func(s majordomo.Stats) bool { return s.Workers == 1 })

	cl := newSocket(t, socket.Dealer)
	if err := cl.Connect(b.Endpoint()); err != nil {
		t.Fatal(err)
	}
	const sent = 1000
	for i := range sent {
		if err := cl.Send(ctx, socket.NewMsgString("", majordomo.ClientHeader, fmt.Sprint("random-", i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	// "echo" is one of the limit; the first limit-1 random names get a queue.
	waitStats(t, ctx, b, "every request counted", func(s majordomo.Stats) bool { return s.Requests == sent })
	if s := b.Stats(); s.Services != limit || s.Queued != limit-1 || s.NoRoom != sent-(limit-1) {
		t.Fatalf("stats %+v: want %d services, %d queued, %d dropped", s, limit, limit-1, sent-(limit-1))
	}
	if e := logs.FilterMessage("request dropped").All(); len(e) == 0 || e[0].ContextMap()["service"] != fmt.Sprint("random-", limit-1) {
		t.Fatalf("drop logged as %v", e)
	}
	// A known service is still served, and so is a queued one once its
	// worker comes.
	c := oneShot(t, b.Endpoint())
	if r, err := c.Request(ctx, "echo", []byte("alive")); err != nil || len(r) != 2 || string(r[1]) != "alive" {
		t.Fatalf("echo = %q, %v", r, err)
	}
	newWorker(t, b.Endpoint(), "random-0", echo("r"), steadyBeat)
	m, err := cl.Recv(ctx)
	if err != nil || len(m) != 5 || string(m[2]) != "random-0" || string(m[4]) != "x" {
		t.Fatalf("reply %q, %v; want random-0's", m, err)
	}
}

func TestMaxServicesOption(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := majordomo.NewBroker(inproc(), majordomo.WithMaxServices(n)); !errors.Is(err, majordomo.ErrBadOption) {
			t.Errorf("WithMaxServices(%d): %v, want ErrBadOption", n, err)
		}
	}
	if _, err := majordomo.NewWorker(inproc(), "s", echo("e"), majordomo.WithMaxServices(5)); !errors.Is(err, majordomo.ErrBadOption) {
		t.Errorf("NewWorker with WithMaxServices: %v, want ErrBadOption", err)
	}
}
