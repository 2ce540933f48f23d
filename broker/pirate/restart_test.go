package pirate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// The broker killed and started again on the same endpoints: the workers
// find it silent, reconnect and send READY again, and the client's resends
// of requests made meanwhile succeed.
//
// The workers must find the new broker silent (it ignores the heartbeats of
// workers it does not know), so they use quickBeat. A worker or broker
// that buries a live peer during a stall only adds a reconnect or a
// requeue, which this test allows: every request still gets its reply, and
// the counts it checks are "at least".
func TestBrokerRestart(t *testing.T) {
	ctx := testCtx(t)
	b1 := must[*pirate.LoadBalancer](t)(pirate.NewLoadBalancer("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", quickBeat))
	front, back := b1.Frontend(), b1.Backend()
	// The slow request is answered only once the first broker is gone,
	// not when its ctx ends: a worker that buries the broker in a stall
	// of the machine cancels it, and a reply then would reach the broker
	// still alive, leaving nothing for the client to resend.
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseSlow := func() { releaseOnce.Do(func() { close(release) }) }
	handler := func(_ context.Context, req [][]byte) ([][]byte, error) {
		if string(req[0]) == "slow" {
			<-release
		}
		return append([][]byte{[]byte("ok")}, req...), nil
	}
	ws := make([]*pirate.Worker, 3)
	for i := range ws {
		ws[i] = newWorker(t, back, handler, quickBeat, fastReconnect)
	}
	t.Cleanup(releaseSlow) // before the workers close: a test that failed early
	waitLB(t, ctx, b1, "3 workers", func(s pirate.Stats) bool { return s.Workers == 3 })
	// Resends every 250 ms, for as long as the test waits.
	c := newClient(t, front, pirate.WithTimeout(250*time.Millisecond), pirate.WithRetries(int(wait/(250*time.Millisecond))))
	if _, err := c.Request(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	// A request in flight when the broker dies: its reply is lost with the
	// broker, so only the client's resend can get it done.
	slow := make(chan error, 1)
	go func() {
		r, err := c.Request(ctx, []byte("slow"))
		if err == nil && string(r[1]) != "slow" {
			err = fmt.Errorf("reply %q", r)
		}
		slow <- err
	}()
	waitLB(t, ctx, b1, "the slow request on a worker", func(s pirate.Stats) bool { return s.InFlight == 1 })
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	releaseSlow()

	// Requests made while there is no pirate.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r [][]byte
			r, errs[i] = c.Request(ctx, []byte("during"))
			if errs[i] == nil && string(r[1]) != "during" {
				t.Errorf("reply %q", r)
			}
		}()
	}
	b2 := newLB(t, front, back, quickBeat)
	waitLB(t, ctx, b2, "workers re-registered", func(s pirate.Stats) bool { return s.Workers == 3 })
	wg.Wait()
	if err := <-slow; err != nil {
		t.Fatalf("request in flight when the broker died: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d made while the broker was down: %v", i, err)
		}
	}
	if _, err := c.Request(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Resends == 0 {
		t.Errorf("client stats %+v: the request lost with the broker should have been resent", s)
	}
	// The new broker ignores heartbeats from workers it does not know, so
	// each worker must have given up on the old one and sent READY again.
	for i, w := range ws {
		if s := w.Stats(); s.Reconnects == 0 {
			t.Errorf("worker %d stats %+v: no reconnect", i, s)
		}
	}
}
