package board

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor/actortest"
)

type stats struct {
	Requests uint64
	Pending  int
	hidden   int
	Name     string
}

// A publish that changes the stats wakes a waiter and reports the numeric
// fields to a figures observer: unsigned as counters, signed as levels.
func TestBoardWaitAndReport(t *testing.T) {
	var b Board[stats]
	rec := actortest.NewRecorder()
	b.Report(rec, "lb")
	done := make(chan error, 1)
	go func() {
		done <- b.Wait(context.Background(), nil, errors.New("closed"), func(s stats) bool { return s.Requests == 2 })
	}()
	b.Publish(stats{Requests: 1, Pending: 3})
	b.Publish(stats{Requests: 2, Pending: 1, hidden: 9})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Wait did not return")
	}
	if v, _ := rec.Figure("lb", "Requests"); v != 2 {
		t.Errorf("Requests = %d, want 2", v)
	}
	if v, _ := rec.Figure("lb", "Pending"); v != 1 {
		t.Errorf("Pending = %d, want 1", v)
	}
	if _, ok := rec.Figure("lb", "hidden"); ok {
		t.Error("an unexported field was reported")
	}
	if got := b.Get(); got.Requests != 2 {
		t.Errorf("Get = %+v", got)
	}
}

// Retire reports the levels as zero, keeps the counters' totals, and
// reports nothing published after it.
func TestBoardRetire(t *testing.T) {
	var b Board[stats]
	rec := actortest.NewRecorder()
	b.Report(rec, "lb")
	b.Publish(stats{Requests: 5, Pending: 3})
	b.Retire()
	b.Publish(stats{Requests: 6, Pending: 2})
	if v, _ := rec.Figure("lb", "Pending"); v != 0 {
		t.Errorf("Pending = %d after Retire, want 0", v)
	}
	if v, _ := rec.Figure("lb", "Requests"); v != 5 {
		t.Errorf("Requests = %d, want the total before Retire, 5", v)
	}
	b.Retire() // again: nothing
}

// Wait returns the closed error when done closes, and ctx's when it ends.
func TestBoardWaitEnds(t *testing.T) {
	var b Board[stats]
	closed := errors.New("closed")
	done := make(chan struct{})
	close(done)
	if err := b.Wait(context.Background(), done, closed, func(stats) bool { return false }); err != closed {
		t.Errorf("Wait = %v, want the closed error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx, nil, closed, func(stats) bool { return false }); err != context.Canceled {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}

// Goroutines that count and publish with PublishFrom leave the board at
// the final count: a snapshot taken earlier is never published after a
// later one.
func TestBoardPublishFrom(t *testing.T) {
	var (
		b     Board[stats]
		n     atomic.Uint64
		wg    sync.WaitGroup
		snap  = func() stats { return stats{Requests: n.Load()} }
		total = 8 * 1000
	)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				n.Add(1)
				b.PublishFrom(snap)
			}
		})
	}
	wg.Wait()
	if got := b.Get().Requests; got != uint64(total) {
		t.Fatalf("board at %d after %d counted and published", got, total)
	}
}

// Wait reports a condition met when done closes, or ctx ends, as met:
// here cond's first call, while Wait looks, publishes stats that meet it
// and then ends the wait, so that Wait's select finds both ready. Each
// iteration would see the ending first with even odds without the last
// look Wait takes.
func TestBoardWaitMetBeforeEnd(t *testing.T) {
	closed := errors.New("closed")
	for _, end := range []string{"done closed", "ctx ended"} {
		t.Run(end, func(t *testing.T) {
			for i := range 100 {
				var b Board[stats]
				done := make(chan struct{})
				ctx, cancel := context.WithCancel(context.Background())
				looked := false
				err := b.Wait(ctx, done, closed, func(s stats) bool {
					if !looked {
						looked = true
						b.Publish(stats{Requests: 1})
						if end == "done closed" {
							close(done)
						} else {
							cancel()
						}
						return false
					}
					return s.Requests == 1
				})
				cancel()
				if err != nil {
					t.Fatalf("iteration %d: Wait = %v for a condition met before %s", i, err, end)
				}
			}
		})
	}
}
