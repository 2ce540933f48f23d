package actor_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/cputime"
	"github.com/zmqflow/zmqflow/internal/paired"
)

// The targets (issue 3): Tell at least half as fast as a buffered Go channel
// of the same depth, 1->1 and N->N. Compare the actor and chan lines of one
// run; ns/op is per message.

const benchDepth = 1000 // both the mailbox and the channel

// countTo is a behaviour that closes done after n messages.
func countTo(n int, done chan struct{}) actor.BehaviorFunc[int] {
	seen, sum := 0, 0
	return func(_ context.Context, m int) error {
		sum += m
		if seen++; seen == n {
			close(done)
		}
		return nil
	}
}

func chanConsumer(ch <-chan int, n int, done chan struct{}) {
	sum := 0
	for range n {
		sum += <-ch
	}
	close(done)
}

// tellOneToOne tells b.N messages to one actor with a bounded mailbox,
// made with opts, and waits until it has handled them all.
func tellOneToOne(b *testing.B, opts ...actor.Option) {
	ctx := context.Background()
	done := make(chan struct{})
	a, _ := actor.Spawn[int](ctx, countTo(b.N, done), append([]actor.Option{actor.WithMailbox(actor.Bounded(benchDepth))}, opts...)...)
	defer a.Close()
	ref := a.Ref()
	b.ResetTimer()
	for i := range b.N {
		ref.Tell(ctx, i)
	}
	<-done
}

func BenchmarkTell(b *testing.B) {
	ctx := context.Background()
	b.Run("1to1/actor", func(b *testing.B) { tellOneToOne(b) })
	b.Run("1to1/actor-observed", func(b *testing.B) { // clock read per message
		tellOneToOne(b, actor.WithObserver(timingObserver{}))
	})
	b.Run("1to1/chan", func(b *testing.B) {
		done := make(chan struct{})
		ch := make(chan int, benchDepth)
		go chanConsumer(ch, b.N, done)
		b.ResetTimer()
		for i := range b.N {
			ch <- i
		}
		<-done
	})

	pairs := runtime.GOMAXPROCS(0)
	b.Run("NtoN/actor", func(b *testing.B) {
		per := max(b.N/pairs, 1)
		refs := make([]actor.Ref[int], pairs)
		dones := make([]chan struct{}, pairs)
		for p := range pairs {
			dones[p] = make(chan struct{})
			a, _ := actor.Spawn[int](ctx, countTo(per, dones[p]), actor.WithMailbox(actor.Bounded(benchDepth)))
			defer a.Close()
			refs[p] = a.Ref()
		}
		b.ResetTimer()
		var wg sync.WaitGroup
		for p := range pairs {
			wg.Go(func() {
				for i := range per {
					refs[p].Tell(ctx, i)
				}
				<-dones[p]
			})
		}
		wg.Wait()
	})
	b.Run("NtoN/chan", func(b *testing.B) {
		per := max(b.N/pairs, 1)
		var wg sync.WaitGroup
		for range pairs {
			done := make(chan struct{})
			ch := make(chan int, benchDepth)
			go chanConsumer(ch, per, done)
			wg.Go(func() {
				for i := range per {
					ch <- i
				}
				<-done
			})
		}
		wg.Wait()
	})
}

type timingObserver struct{ actor.NopObserver }

func (timingObserver) MessageHandled(string, time.Duration, time.Duration, error) {}

// reportCPU reports the process's CPU time per op from now to the end of
// b, in cpu-ns/op: on a shared machine, wall time counts the waits for a
// core; CPU time does not. Compare with -cpu 1, where no idle P spins.
func reportCPU(b *testing.B) {
	t0 := cputime.Process()
	b.Cleanup(func() {
		if t0 != 0 {
			b.ReportMetric(cputime.PerOp(t0, b.N), "cpu-ns/op")
		}
	})
}

// askRoundTrips asks an actor b.N times, one request at a time.
func askRoundTrips(b *testing.B, opts ...actor.Option) {
	ctx := context.Background()
	a, _ := actor.Spawn[doubleReq](ctx, actor.BehaviorFunc[doubleReq](func(_ context.Context, r doubleReq) error {
		r.Reply(2*r.Query, nil)
		return nil
	}), opts...)
	defer a.Close()
	ref := a.Ref()
	b.ResetTimer()
	reportCPU(b)
	for i := range b.N {
		if _, err := actor.Ask(ctx, ref, i); err != nil {
			b.Fatal(err)
		}
	}
}

// chanReq is a request to chanDoubler's goroutine, with the channel for
// its reply.
type chanReq struct {
	q     int
	reply chan int
}

// chanDoubler starts the Ask benchmarks' anchor, a goroutine that answers
// each request on the reply channel it carries, until the benchmark ends,
// and returns its request channel and a reply channel for one caller to
// reuse.
func chanDoubler(b *testing.B) (chan<- chanReq, chan int) {
	ch := make(chan chanReq, benchDepth)
	go func() {
		for r := range ch {
			r.reply <- 2 * r.q
		}
	}()
	b.Cleanup(func() { close(ch) })
	return ch, make(chan int, 1)
}

// The goal: an in-process round trip at most 1.2x chan-reused's, allocating
// nothing. asker, an Asker's, keeps its reply slot as chan-reused keeps its
// channel: the like-for-like comparison. actor, Ask's, takes a slot from the
// actor's pool for each request, and pays for the exchange. Each
// sub-benchmark in a process of its own drifts with the machine by more
// than the differences; BenchmarkAskPaired measures the ratios themselves.
func BenchmarkAsk(b *testing.B) {
	b.Run("actor", func(b *testing.B) { askRoundTrips(b) })
	b.Run("asker", func(b *testing.B) {
		ctx := context.Background()
		a, _ := actor.Spawn[doubleReq](ctx, actor.BehaviorFunc[doubleReq](func(_ context.Context, r doubleReq) error {
			r.Reply(2*r.Query, nil)
			return nil
		}))
		defer a.Close()
		asker := actor.NewAsker(a.Ref())
		b.ResetTimer()
		reportCPU(b)
		for i := range b.N {
			if _, err := asker.Ask(ctx, i); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chan-reused", func(b *testing.B) { // the anchor: one reply channel for every request
		ch, reply := chanDoubler(b)
		b.ResetTimer()
		reportCPU(b)
		for i := range b.N {
			ch <- chanReq{i, reply}
			<-reply
		}
	})
	b.Run("chan", func(b *testing.B) { // the hand-written equivalent: a reply channel per request
		ch, _ := chanDoubler(b)
		b.ResetTimer()
		for i := range b.N {
			r := chanReq{i, make(chan int, 1)}
			ch <- r
			<-r.reply
		}
	})
}

// BenchmarkAskPaired measures BenchmarkAsk's ratio the way a shared machine
// allows (package paired): an actor's Asks and reused-channel round trips
// (BenchmarkAsk's chan-reused) in alternating blocks. It reports the
// median of the blocks' ratios (ratio), and the median round trip of each
// side; ns/op is per pair of round trips. Ask takes a reply slot from the
// actor's pool for each request; an Asker keeps its own, as the anchor
// keeps its reply channel.
func BenchmarkAskPaired(b *testing.B) {
	// Each side's loop calls Ask directly: a call through a func value
	// per request would add a few per cent to it.
	b.Run("Ask", func(b *testing.B) {
		askPaired(b, func(ctx context.Context, ref actor.Ref[doubleReq], k int) {
			for i := range k {
				if _, err := actor.Ask(ctx, ref, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("Asker", func(b *testing.B) {
		var asker *actor.Asker[int, int]
		askPaired(b, func(ctx context.Context, ref actor.Ref[doubleReq], k int) {
			if asker == nil {
				asker = actor.NewAsker(ref)
			}
			for i := range k {
				if _, err := asker.Ask(ctx, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// askPaired runs BenchmarkAskPaired with asks, which makes k requests to
// the doubling actor at ref.
func askPaired(b *testing.B, asks func(ctx context.Context, ref actor.Ref[doubleReq], k int)) {
	const block = 4000
	ctx := context.Background()
	a, _ := actor.Spawn[doubleReq](ctx, actor.BehaviorFunc[doubleReq](func(_ context.Context, r doubleReq) error {
		r.Reply(2*r.Query, nil)
		return nil
	}))
	defer a.Close()
	ref := a.Ref()
	ch, reply := chanDoubler(b)
	timedAsks := func(k int) time.Duration {
		t0 := time.Now()
		asks(ctx, ref, k)
		return time.Since(t0)
	}
	trips := func(k int) time.Duration {
		t0 := time.Now()
		for i := range k {
			ch <- chanReq{i, reply}
			<-reply
		}
		return time.Since(t0)
	}
	paired.Run(b, block, timedAsks, trips, "actor-ns", "chan-ns")
}

// BenchmarkIdleActor reports what an idle actor costs in memory (heap and
// stack, per actor, in the custom metric B/actor) beside a goroutine blocked
// on an unbuffered channel of its own (B/goroutine): run with -benchtime
// 10000x.
func BenchmarkIdleActor(b *testing.B) {
	measure := func(b *testing.B, unit string, start func() func()) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		stops := make([]func(), b.N)
		for i := range b.N {
			stops[i] = start()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(used)/float64(b.N), unit)
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/float64(b.N), "stack-B/op")
		b.StopTimer()
		for _, stop := range stops {
			stop()
		}
	}
	b.Run("actor", func(b *testing.B) {
		measure(b, "B/actor", func() func() {
			a, err := actor.Spawn(context.Background(), actor.BehaviorFunc[int](func(context.Context, int) error { return nil }))
			if err != nil {
				b.Fatal(err)
			}
			return func() { a.Close() }
		})
	})
	b.Run("goroutine", func(b *testing.B) {
		measure(b, "B/goroutine", func() func() {
			ch := make(chan int)
			done := make(chan struct{})
			go func() {
				for range ch {
				}
				close(done)
			}()
			return func() { close(ch); <-done }
		})
	})
}
