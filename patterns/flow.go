package patterns

import (
	"context"
	"sync/atomic"
)

// Producer puts values on out until its work is done or ctx ends. It does
// not close out: whoever made out does (From does, after Produce returned).
// Pull and Sub are Producers.
type Producer[T any] interface {
	Produce(ctx context.Context, out chan<- T) error
}

// Consumer takes values from in until in is closed or ctx ends. Push and Pub
// are Consumers.
type Consumer[T any] interface {
	Consume(ctx context.Context, in <-chan T) error
}

// Transformer takes values from in and puts values on out, not necessarily
// one for one, until ctx ends. It does not close out. Pair, Dealer and Router
// are Transformers.
type Transformer[In, Out any] interface {
	Transform(ctx context.Context, in <-chan In, out chan<- Out) error
}

// ProducerFunc is an adapter to allow the use of an ordinary function as a
// Producer.
type ProducerFunc[T any] func(ctx context.Context, out chan<- T) error

// Produce calls f(ctx, out).
func (f ProducerFunc[T]) Produce(ctx context.Context, out chan<- T) error { return f(ctx, out) }

// ConsumerFunc is an adapter to allow the use of an ordinary function as a
// Consumer.
type ConsumerFunc[T any] func(ctx context.Context, in <-chan T) error

// Consume calls f(ctx, in).
func (f ConsumerFunc[T]) Consume(ctx context.Context, in <-chan T) error { return f(ctx, in) }

// Values is a Producer of the given values, in order; it returns nil after
// the last.
func Values[T any](vs ...T) Producer[T] {
	return ProducerFunc[T](func(ctx context.Context, out chan<- T) error {
		for _, v := range vs {
			if err := send(ctx, out, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// From adds src to p as a source and returns the channel it produces to,
// which is closed when src.Produce returns.
func From[T any](p *Pipeline, src Producer[T]) <-chan T {
	out := make(chan T, p.buffer())
	p.Go(func(ctx context.Context) error {
		defer close(out)
		return src.Produce(ctx, out)
	})
	return out
}

// To adds dst to p as a sink of in.
func To[T any](p *Pipeline, in <-chan T, dst Consumer[T]) {
	p.Go(func(ctx context.Context) error { return dst.Consume(ctx, in) })
}

// Through adds t to p, fed from in, and returns the channel it produces to,
// which is closed when t.Transform returns.
func Through[In, Out any](p *Pipeline, in <-chan In, t Transformer[In, Out]) <-chan Out {
	out := make(chan Out, p.buffer())
	p.Go(func(ctx context.Context) error {
		defer close(out)
		return t.Transform(ctx, in, out)
	})
	return out
}

// Map adds workers goroutines to p (at least one), each taking values from
// in, calling f and putting the result on the returned channel: fan-out to
// the workers and fan-in of their results, in no particular order. The
// channel is closed when in is closed and every worker has finished (or the
// pipeline is cancelled). An error from f ends the pipeline with it.
// Req.Request is such an f: Map(p, in, 1, req.Request).
func Map[In, Out any](p *Pipeline, in <-chan In, workers int, f func(context.Context, In) (Out, error)) <-chan Out {
	workers = max(workers, 1)
	out := make(chan Out, p.buffer())
	var running atomic.Int32
	running.Store(int32(workers))
	for range workers {
		p.Go(func(ctx context.Context) error {
			defer func() {
				if running.Add(-1) == 0 {
					close(out) // the last worker out closes the door
				}
			}()
			for {
				v, ok, err := recv(ctx, in)
				if !ok {
					return err
				}
				r, err := f(ctx, v)
				if err != nil {
					return err
				}
				if err := send(ctx, out, r); err != nil {
					return err
				}
			}
		})
	}
	return out
}

// Each adds a sink to p that calls f on each value from in, in order, until
// in is closed. An error from f ends the pipeline with it; return ErrStop to
// end it as a success (a sink that has every result it waits for).
// An actor's Ref.Tell is such an f: Each(p, in, ref.Tell).
func Each[T any](p *Pipeline, in <-chan T, f func(context.Context, T) error) {
	p.Go(func(ctx context.Context) error {
		for {
			v, ok, err := recv(ctx, in)
			if !ok {
				return err
			}
			if err := f(ctx, v); err != nil {
				return err
			}
		}
	})
}

// Merge adds a stage to p that forwards every value from each of ins to the
// returned channel (fan-in), which is closed when every one of ins is.
// It runs one goroutine for each of ins.
func Merge[T any](p *Pipeline, ins ...<-chan T) <-chan T {
	out := make(chan T, p.buffer())
	var running atomic.Int32
	running.Store(int32(len(ins)))
	if len(ins) == 0 {
		close(out)
	}
	for _, in := range ins {
		p.Go(func(ctx context.Context) error {
			defer func() {
				if running.Add(-1) == 0 {
					close(out)
				}
			}()
			for {
				v, ok, err := recv(ctx, in)
				if !ok {
					return err
				}
				if err := send(ctx, out, v); err != nil {
					return err
				}
			}
		})
	}
	return out
}

// send puts v on out unless ctx ends first.
func send[T any](ctx context.Context, out chan<- T, v T) error {
	select {
	case out <- v:
		return nil
	default:
	}
	select {
	case out <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recv takes a value from in. ok is false when in is closed (err nil) or ctx
// ended (err is ctx's).
func recv[T any](ctx context.Context, in <-chan T) (v T, ok bool, err error) {
	select {
	case v, ok = <-in:
		return v, ok, nil
	default:
	}
	select {
	case v, ok = <-in:
		return v, ok, nil
	case <-ctx.Done():
		return v, false, ctx.Err()
	}
}
