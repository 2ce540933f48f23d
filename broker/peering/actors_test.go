package peering_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/broker/peering"
)

// Bad options and names are refused before anything is bound.
func TestBadOptions(t *testing.T) {
	for name, o := range map[string]peering.Option{
		"zero":              {},
		"heartbeat 0":       peering.WithHeartbeat(0, 3),
		"max deliveries 0":  peering.WithMaxDeliveries(0),
		"negative hold":     peering.WithHoldLimit(-time.Second),
		"nil observer":      peering.WithObserver(nil),
		"nil logger":        peering.WithLogger(nil),
		"nil socket option": peering.WithSocketOptions(nil),
	} {
		b, err := peering.NewBroker("x", inproc(), inproc(), inproc(), inproc(), o)
		if err == nil {
			b.Close()
		}
		if !errors.Is(err, peering.ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
}

// A broker reports its actor and its stats to the observer, and so does
// its local load balancer.
func TestObserved(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	b := newBroker(t, "A", peering.WithObserver(rec))
	var served atomic.Int64
	newWorker(t, b.Backend(), counting("A", &served))
	c := oneShot(t, b.Frontend())
	for i := range 3 {
		if _, err := c.Request(ctx, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	rec.Await(t, actortest.Started, "peering broker", wait)
	rec.Await(t, actortest.Handled, "peering broker", wait)
	rec.Await(t, actortest.Handled, "pirate load balancer", wait)
	rec.AwaitFigure(t, "peering broker", "Requests", func(v int64) bool { return v == 3 }, wait)
	rec.AwaitFigure(t, "peering broker", "Replies", func(v int64) bool { return v == 3 }, wait)
	rec.AwaitFigure(t, "peering broker", "Workers", func(v int64) bool { return v == 1 }, wait)
	rec.AwaitFigure(t, "pirate load balancer", "Replies", func(v int64) bool { return v == 3 }, wait)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if b.Err() != nil {
		t.Fatalf("Err after Close = %v", b.Err())
	}
	rec.Await(t, actortest.Stopped, "peering broker", wait)
	if err := b.Wait(ctx, func(peering.Stats) bool { return false }); !errors.Is(err, peering.ErrClosed) {
		t.Fatalf("Wait after Close = %v, want ErrClosed", err)
	}
}

// A failure of the broker's actor restarts it with fresh state on the
// same sockets: it hears its peer's next announcement, serves locally and
// lends to the peer again, and the counters go on.
func TestActorRestart(t *testing.T) {
	ctx := testCtx(t)
	rec := actortest.NewRecorder()
	a, b := newBroker(t, "A", peering.WithObserver(rec)), newBroker(t, "B")
	peer(t, a, b)
	var servedB atomic.Int64
	newWorker(t, b.Backend(), counting("B", &servedB))
	waitBroker(t, ctx, a, "B's idle worker", func(s peering.Stats) bool { return s.CloudIdle == 1 })
	c := oneShot(t, a.Frontend())
	requestAll(t, ctx, c, "before", "B", 5)
	if err := peering.FailActor(ctx, a); err != nil {
		t.Fatal(err)
	}
	rec.Await(t, actortest.Restarted, "peering broker", wait)
	waitBroker(t, ctx, a, "B heard of again", func(s peering.Stats) bool { return s.Peers == 1 && s.CloudIdle == 1 })
	requestAll(t, ctx, c, "after", "B", 5)
	waitBroker(t, ctx, a, "the replies counted", func(s peering.Stats) bool { return s.Replies == 10 })
	if s := a.Stats(); s.Requests != 10 || s.Forwarded != 10 {
		t.Fatalf("A: %+v: the counters should go on across the restart", s)
	}
	if a.Err() != nil {
		t.Fatalf("Err = %v after a restart", a.Err())
	}
}
