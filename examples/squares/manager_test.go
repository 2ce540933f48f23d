package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
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

// A worker that has not reached the ventilator says so once, and again when
// it does; its watch then ends, or ends with its context.
func TestWatchVentilator(t *testing.T) {
	defer func(d time.Duration) { noVentilatorAfter = d }(noVentilatorAfter)
	noVentilatorAfter = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pull, err := socket.New(socket.Pull)
	if err != nil {
		t.Fatal(err)
	}
	defer pull.Close()
	ep := "inproc://squares-watch-ventilator"
	if err := pull.Connect(ep); err != nil {
		t.Fatal(err)
	}
	out := make(lines, 8)
	done := make(chan struct{})
	go func() { watchVentilator(ctx, out, 7, ep, pull); close(done) }()
	out.expect(ctx, t, "squares: worker 7: no ventilator at "+ep+" after 20ms; still trying\n")

	push, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if _, err := push.Bind(ep); err != nil {
		t.Fatal(err)
	}
	out.expect(ctx, t, "squares: worker 7: reached the ventilator at "+ep+"\n")
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the watch did not end once the ventilator was reached")
	}
	if len(out) != 0 {
		t.Fatalf("said more: %q", <-out)
	}

	ended, stop := context.WithCancel(context.Background())
	stop()
	done = make(chan struct{})
	go func() { watchVentilator(ended, out, 8, "inproc://squares-nobody", pull); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("an ended context did not end the watch")
	}
}

// lines is an io.Writer that hands each write to the test.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

func (l lines) expect(ctx context.Context, t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-l:
		if got != want {
			t.Fatalf("said %q, want %q", got, want)
		}
	case <-ctx.Done():
		t.Fatalf("did not say %q", want)
	}
}

// A report that a peer of the results socket made up, of a batch that is
// not the ventilator's or of no kind, is counted as bad and changes
// nothing: a batch of 2^62 had the manager send tasks again for ever, and
// one of 1 made it FINISH with a wrong sum.
func TestForgedBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := &resultsManager{seen: map[int64]bool{}, counts: map[workerKey]int{}, last: time.Now(), out: &summary{}}
	for _, r := range []Report{{Kind: kindBatch, N: 1 << 62}, {Kind: kindBatch, N: 1}, {Kind: 99, N: 5}} {
		if err := m.Receive(ctx, r); err != nil {
			t.Fatalf("report %+v: %v", r, err)
		}
	}
	if m.batch != 0 || m.bad != 3 {
		t.Fatalf("after forged reports: batch %d, bad %d; want 0 and 3", m.batch, m.bad)
	}
	if err := m.Receive(ctx, Report{Kind: kindBatch, N: int64(*n)}); err != nil || m.batch != int64(*n) {
		t.Fatalf("the ventilator's batch: %d, %v", m.batch, err)
	}
}
