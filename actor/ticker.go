package actor

import (
	"context"
	"fmt"
	"time"
)

// Ticker returns a feed that puts tick(t) in the actor's mailbox every
// interval, t being the time of the tick: the clock of an actor that must do
// something when nothing arrives, as a broker sends heartbeats and buries
// silent workers (the guide's brokers use zmq_poll's timeout for this). Give
// it with WithFeed beside the actor's other feeds.
//
// A tick that finds a Bounded mailbox full waits for room; the ticks due
// meanwhile are not made up, as with time.Ticker. An interval that is not
// positive fails the actor with ErrBadOption when the feed starts.
func Ticker[M any](interval time.Duration, tick func(time.Time) M) Feed[M] {
	return &ticker[M]{interval: interval, tick: tick}
}

type ticker[M any] struct {
	interval time.Duration
	tick     func(time.Time) M
}

func (t *ticker[M]) Run(ctx context.Context, in Inlet[M]) error {
	if t.interval <= 0 || t.tick == nil {
		return fmt.Errorf("%w: ticker every %v", ErrBadOption, t.interval)
	}
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case now := <-tk.C:
			if in.Put(t.tick(now)) != nil {
				return nil // the actor is stopping
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (t *ticker[M]) Close() error { return nil }
