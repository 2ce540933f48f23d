package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// forever is a source that counts until it is cancelled.
func forever(ctx context.Context, out chan<- int) error {
	for i := 0; ; i++ {
		select {
		case out <- i:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// The first error cancels every stage; Run returns it once all have ended.
func TestPipelineFirstErrorCancels(t *testing.T) {
	ctx := testCtx(t)
	var p patterns.Pipeline
	var ended atomic.Int32
	counting := func(f func(context.Context) error) func(context.Context) error {
		return func(ctx context.Context) error { defer ended.Add(1); return f(ctx) }
	}
	src := make(chan int)
	p.Go(counting(func(ctx context.Context) error { defer close(src); return forever(ctx, src) }))
	doubled := patterns.Map(&p, src, 3, func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	p.Go(counting(func(ctx context.Context) error {
		for n := range doubled {
			if n >= 20 {
				return fmt.Errorf("sink: %w", errBoom)
			}
		}
		return nil
	}))
	p.Go(counting(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))

	if err := p.Run(ctx); !errors.Is(err, errBoom) {
		t.Fatalf("Run: %v, want errBoom", err)
	}
	if n := ended.Load(); n != 3 {
		t.Fatalf("Run returned with %d of 3 stages ended", n)
	}
	if err := p.Run(ctx); !errors.Is(err, patterns.ErrClosed) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestPipelineStopIsSuccess(t *testing.T) {
	ctx := testCtx(t)
	var p patterns.Pipeline
	var got []int
	collect(&p, patterns.From(&p, patterns.ProducerFunc[int](forever)), 10, &got)
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !reflect.DeepEqual(got, seqInts(10)) {
		t.Fatalf("got %v", got)
	}
}

func TestPipelinePanicIsAnError(t *testing.T) {
	ctx := testCtx(t)
	var p patterns.Pipeline
	patterns.Each(&p, patterns.From(&p, patterns.Values(1, 2, 3)), func(_ context.Context, n int) error {
		if n == 2 {
			var m map[string]int
			m["boom"] = n // a bug
		}
		return nil
	})
	p.Go(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	err := p.Run(ctx)
	var pe *patterns.PanicError
	if !errors.As(err, &pe) || !errors.Is(err, patterns.ErrPanic) || len(pe.Stack) == 0 {
		t.Fatalf("Run: %v, want a PanicError", err)
	}
}

func TestPipelineParentCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	var p patterns.Pipeline
	patterns.Each(&p, patterns.From(&p, patterns.ProducerFunc[int](forever)), func(_ context.Context, n int) error {
		if n == 5 {
			cancel()
		}
		return nil
	})
	if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
}

// Map's workers run at once: each waits at a barrier that only opens when
// all four are inside.
func TestMapFansOut(t *testing.T) {
	ctx := testCtx(t)
	const workers = 4
	var inside atomic.Int32
	all := make(chan struct{})
	var p patterns.Pipeline
	out := patterns.Map(&p, patterns.From(&p, patterns.Values(seqInts(workers*10)...)), workers,
		func(ctx context.Context, n int) (int, error) {
			if inside.Add(1) == workers {
				close(all)
			}
			select {
			case <-all:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return n * n, nil
		})
	var got []int
	patterns.Each(&p, out, func(_ context.Context, n int) error { got = append(got, n); return nil })
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	for i, n := range got {
		if n != i*i {
			t.Fatalf("got %v", got)
		}
	}
	if len(got) != workers*10 {
		t.Fatalf("got %d results", len(got))
	}
}

func TestMerge(t *testing.T) {
	ctx := testCtx(t)
	var p patterns.Pipeline
	merged := patterns.Merge(&p,
		patterns.From(&p, patterns.Values(1, 2, 3)),
		patterns.From(&p, patterns.Values(10, 20)),
		patterns.From(&p, patterns.Values[int]()))
	var got []int
	patterns.Each(&p, merged, func(_ context.Context, n int) error { got = append(got, n); return nil })
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !reflect.DeepEqual(got, []int{1, 2, 3, 10, 20}) {
		t.Fatalf("got %v", got)
	}
	var empty patterns.Pipeline
	for range patterns.Merge[int](&empty) {
		t.Fatal("Merge of nothing produced")
	}
	if err := empty.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// A cancelled pipeline does not wait out the linger for a peer that never
// came: the stage drops what it queued for it.
func TestCancelledPipelineDoesNotLinger(t *testing.T) {
	ctx := testCtx(t)
	// Nobody listens there (a port bound, then released).
	probe := must[*socket.Socket](t)(socket.New(socket.Pull))
	ep := must[string](t)(probe.Bind("tcp://127.0.0.1:*"))
	probe.Close()

	push := must[*patterns.Push[int]](t)(patterns.NewPush(patterns.JSON[int]{}, patterns.Connect(ep),
		patterns.WithSocketOptions(socket.WithSendHWM(10))))
	var p patterns.Pipeline
	patterns.To(&p, patterns.From(&p, patterns.ProducerFunc[int](forever)), push) // blocks at the HWM
	p.Go(func(ctx context.Context) error { return errBoom })
	if err := p.Run(ctx); !errors.Is(err, errBoom) {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run waited for the linger")
	}
}
