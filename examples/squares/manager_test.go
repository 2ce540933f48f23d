package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// The results manager holds FINISH back until every worker that sent
// results has subscribed to the control channel (two ids here, one of them
// started again with a new pid), and no longer than its context.
func TestFinishAwaitsSubscribers(t *testing.T) {
	var polls atomic.Int32
	m := &resultsManager{
		counts: map[workerKey]int{{1, 100}: 5, {1, 101}: 5, {2, 200}: 10},
		subscribers: func() int {
			if polls.Add(1) < 4 {
				return 1 // worker 2's subscription is still on its way
			}
			return 2
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m.awaitSubscribers(ctx)
	if n := polls.Load(); n < 4 {
		t.Fatalf("FINISH went after %d looks at the subscribers, before the second came", n)
	}

	m.subscribers = func() int { return 0 }
	ended, stop := context.WithCancel(context.Background())
	stop()
	done := make(chan struct{})
	go func() { m.awaitSubscribers(ended); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("an ended context did not end the wait")
	}
}
