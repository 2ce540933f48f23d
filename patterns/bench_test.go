package patterns_test

// Benchmarks: what typed stages and pipelines cost over what they are made of.
//
//	go test -run '^$' -bench . -benchtime 2s -count 5 ./patterns
//
// BenchmarkPipeline3 runs the same three stages (a counter, a squarer, a
// summing sink) joined three ways: hand-written channels in the shape of
// errgroup's pipeline example; a patterns.Pipeline over channels; and a
// patterns.Pipeline whose stages are joined by inproc PUSH/PULL sockets.
//
// BenchmarkTCPPushPull sends b.N messages over tcp from a PUSH to a PULL:
// raw socket.Socket Send and Recv loops, then a Push[[]byte] and Pull[[]byte]
// stage pair fed and drained through channels. A first message goes through
// before the timer starts, so connecting is not measured.

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

const benchTimeout = 5 * time.Minute

func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	b.Cleanup(cancel)
	return ctx
}

// u64 is a cheap codec, so that the benchmarks measure the plumbing.
var u64 = patterns.FrameCodec(
	func(n uint64) ([]byte, error) { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n), nil },
	func(b []byte) (uint64, error) {
		if len(b) != 8 {
			return 0, fmt.Errorf("%d bytes, want 8", len(b))
		}
		return binary.BigEndian.Uint64(b), nil
	})

func wantSum(n int) uint64 {
	var s uint64
	for i := range uint64(n) {
		s += i * i
	}
	return s
}

func BenchmarkPipeline3(b *testing.B) {
	b.Run("channels", benchChannels)
	b.Run("pipeline-chan", func(b *testing.B) { benchPipeline(b, false) })
	b.Run("pipeline-inproc", func(b *testing.B) { benchPipeline(b, true) })
}

// benchChannels is the pipeline written by hand, as errgroup's example.
func benchChannels(b *testing.B) {
	ctx := benchCtx(b)
	n := b.N
	start := time.Now()
	g, ctx := errgroup.WithContext(ctx)
	nums := make(chan uint64, patterns.DefaultBuffer)
	g.Go(func() error {
		defer close(nums)
		for i := range uint64(n) {
			select {
			case nums <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	squares := make(chan uint64, patterns.DefaultBuffer)
	g.Go(func() error {
		defer close(squares)
		for v := range nums {
			select {
			case squares <- v * v:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	var sum uint64
	g.Go(func() error {
		for v := range squares {
			sum += v
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	reportRate(b, n, time.Since(start))
	if sum != wantSum(n) {
		b.Fatalf("sum %d", sum)
	}
}

// benchPipeline is the same pipeline with patterns: its stages joined by
// channels, or by inproc PUSH/PULL sockets.
func benchPipeline(b *testing.B, sockets bool) {
	ctx := benchCtx(b)
	n := b.N
	var p patterns.Pipeline
	link := func(in <-chan uint64) <-chan uint64 { return in }
	if sockets {
		link = func(in <-chan uint64) <-chan uint64 {
			ep := endpoint(b, "inproc")
			push := must[*patterns.Push[uint64]](b)(patterns.NewPush(u64, patterns.Bind(ep)))
			pull := must[*patterns.Pull[uint64]](b)(patterns.NewPull(u64, patterns.Connect(ep)))
			patterns.To(&p, in, push)
			return patterns.From(&p, pull)
		}
	}
	nums := link(patterns.From(&p, patterns.ProducerFunc[uint64](func(ctx context.Context, out chan<- uint64) error {
		for i := range uint64(n) {
			select {
			case out <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})))
	squares := link(patterns.Map(&p, nums, 1, func(_ context.Context, v uint64) (uint64, error) { return v * v, nil }))
	var sum uint64
	seen := 0
	patterns.Each(&p, squares, func(_ context.Context, v uint64) error {
		sum += v
		if seen++; seen == n {
			return patterns.ErrStop // a socket-fed sink does not see the end of the stream
		}
		return nil
	})
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		b.Fatal(err)
	}
	reportRate(b, n, time.Since(start))
	if sum != wantSum(n) {
		b.Fatalf("sum %d", sum)
	}
}

func BenchmarkTCPPushPull(b *testing.B) {
	for _, size := range []int{16, 1024} {
		name := fmt.Sprint(size, "B")
		b.Run("raw/"+name, func(b *testing.B) { benchRawTCP(b, size) })
		b.Run("typed/"+name, func(b *testing.B) { benchTypedTCP(b, size) })
		b.Run("typed-fused/"+name, func(b *testing.B) { benchFusedTCP(b, size) })
	}
}

func payload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// benchRawTCP: this goroutine sends b.N messages with Send, another
// receives them with Recv.
func benchRawTCP(b *testing.B, size int) {
	ctx := benchCtx(b)
	pull := must[*socket.Socket](b)(socket.New(socket.Pull))
	defer pull.Close()
	ep := must[string](b)(pull.Bind("tcp://127.0.0.1:*"))
	push := must[*socket.Socket](b)(socket.New(socket.Push))
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		b.Fatal(err)
	}
	data := payload(size)
	if err := push.Send(ctx, socket.Msg{data}); err != nil {
		b.Fatal(err)
	}
	if _, err := pull.Recv(ctx); err != nil {
		b.Fatal(err)
	}
	n := b.N
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() {
		for range n {
			if _, err := pull.Recv(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range n {
		if err := push.Send(ctx, socket.Msg{data}); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	reportRate(b, n, time.Since(start))
}

// benchTypedTCP: this goroutine feeds b.N values to a Push stage through a
// channel; a Pull stage hands them to a consumer through another.
func benchTypedTCP(b *testing.B, size int) {
	ctx := benchCtx(b)
	pull := must[*patterns.Pull[[]byte]](b)(patterns.NewPull(patterns.Bytes{}, patterns.Bind("tcp://127.0.0.1:*")))
	push := must[*patterns.Push[[]byte]](b)(patterns.NewPush(patterns.Bytes{}, patterns.Connect(pull.Endpoint())))
	var p patterns.Pipeline
	in := make(chan []byte, patterns.DefaultBuffer)
	patterns.To(&p, in, push)
	n := b.N
	first := make(chan struct{})
	seen := 0
	patterns.Each(&p, patterns.From(&p, pull), func(context.Context, []byte) error {
		if seen++; seen == 1 {
			close(first)
		}
		if seen == n+1 {
			return patterns.ErrStop
		}
		return nil
	})
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()

	data := payload(size)
	in <- data
	select {
	case <-first:
	case err := <-ran:
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range n {
		in <- data
	}
	close(in)
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	reportRate(b, n, time.Since(start))
}

// benchFusedTCP: as benchTypedTCP, with the producer and the consumer in
// the stages' goroutines (Push.Generate, Pull.Each): no channel hand-over.
func benchFusedTCP(b *testing.B, size int) {
	ctx := benchCtx(b)
	pull := must[*patterns.Pull[[]byte]](b)(patterns.NewPull(patterns.Bytes{}, patterns.Bind("tcp://127.0.0.1:*")))
	push := must[*patterns.Push[[]byte]](b)(patterns.NewPush(patterns.Bytes{}, patterns.Connect(pull.Endpoint())))
	n := b.N
	first, timed := make(chan struct{}), make(chan struct{})
	var p patterns.Pipeline
	data := payload(size)
	p.Go(func(ctx context.Context) error {
		return push.Generate(ctx, func(ctx context.Context, send func([]byte) error) error {
			if err := send(data); err != nil {
				return err
			}
			select {
			case <-timed: // the timer was reset after the first went through
			case <-ctx.Done():
				return ctx.Err()
			}
			for range n {
				if err := send(data); err != nil {
					return err
				}
			}
			return nil
		})
	})
	seen := 0
	p.Go(func(ctx context.Context) error {
		return pull.Each(ctx, func(context.Context, []byte) error {
			if seen++; seen == 1 {
				close(first)
			}
			if seen == n+1 {
				return patterns.ErrStop
			}
			return nil
		})
	})
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	select {
	case <-first:
	case err := <-ran:
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	close(timed)
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	reportRate(b, n, time.Since(start))
}

func reportRate(b *testing.B, n int, d time.Duration) {
	if d > 0 {
		b.ReportMetric(float64(n)/d.Seconds(), "msg/s")
	}
}
