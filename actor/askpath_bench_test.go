package actor

import (
	"context"
	"testing"
)

// BenchmarkAskPath plays both sides of an Ask in one goroutine, without the
// two goroutine switches of a real one: the CPU the package adds to a round
// trip, beside a channel round trip's ("chan"). On a shared machine it is
// far steadier than BenchmarkAsk's wall time.
func BenchmarkAskPath(b *testing.B) {
	ctx := context.Background()
	b.Run("actor", func(b *testing.B) {
		type req = Request[int, int]
		cfg, err := newConfig(forActor, nil)
		if err != nil {
			b.Fatal(err)
		}
		c, err := newCell[req](cfg)
		if err != nil {
			b.Fatal(err)
		}
		beh := BehaviorFunc[req](func(_ context.Context, r req) error {
			r.Reply(2*r.Query, nil)
			return nil
		})
		c.q.take(nil) // the actor sleeps
		b.ResetTimer()
		for i := range b.N {
			// The asker, as Ask.
			slot := getSlot[req, int](c)
			if !handed(c, req{Query: i, slot: slot, gen: slot.state.Load()}) {
				b.Fatal("not handed over")
			}
			// The actor, as loop.
			h := <-c.q.wake
			c.q.woke()
			if asleep, _, end, err := c.handOver(ctx, beh, h.e); end || !asleep {
				b.Fatal("not asleep again", err)
			}
			// The asker again.
			rep := <-slot.ch
			putSlot(c, slot)
			if _, ok := rep.err.(*abandoned); ok || rep.v != 2*i {
				b.Fatal(rep)
			}
		}
	})
	b.Run("chan", func(b *testing.B) {
		type req struct {
			q     int
			reply chan int
		}
		ch := make(chan req, 1000)
		reply := make(chan int, 1)
		b.ResetTimer()
		for i := range b.N {
			ch <- req{i, reply}
			r := <-ch
			r.reply <- 2 * r.q
			if <-reply != 2*i {
				b.Fatal("wrong reply")
			}
		}
	})
}
