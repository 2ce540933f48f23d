package pirate_test

import (
	"context"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/internal/cputime"
	"github.com/zmqflow/zmqflow/socket"
)

// BenchmarkRequestReply is request-reply through a LoadBalancer over tcp
// loopback in one process: 4 workers, 8 goroutines each with a Client of
// its own and one request at a time, as the bench command's lb case runs
// them in three processes. For profiles; the bench command gives figures
// beside the guide's loop and libzmq.
func BenchmarkRequestReply(b *testing.B) {
	lb := benchLB(b)
	cs := make([]func(context.Context, []byte) error, 8)
	for i := range cs {
		c := newClient(b, lb.Frontend())
		cs[i] = func(ctx context.Context, body []byte) error {
			_, err := c.Request(ctx, body)
			return err
		}
	}
	runClients(b, cs)
}

// BenchmarkRequestReplyREQ is BenchmarkRequestReply with REQ sockets for
// clients: what it costs beside BenchmarkRequestReply (cpu-ns/op, B/op,
// allocs/op) is what a Client costs beside a REQ socket.
func BenchmarkRequestReplyREQ(b *testing.B) {
	lb := benchLB(b)
	cs := make([]func(context.Context, []byte) error, 8)
	for i := range cs {
		s := newSocket(b, socket.Req)
		if err := s.Connect(lb.Frontend()); err != nil {
			b.Fatal(err)
		}
		cs[i] = func(ctx context.Context, body []byte) error {
			if err := s.Send(ctx, socket.Msg{body}); err != nil {
				return err
			}
			_, err := s.Recv(ctx)
			return err
		}
	}
	runClients(b, cs)
}

func benchLB(b *testing.B) *pirate.LoadBalancer {
	lb := newLB(b, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
	for range 4 {
		newWorker(b, lb.Backend(), func(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil })
	}
	waitLB(b, testCtx(b), lb, "4 workers", func(s pirate.Stats) bool { return s.Workers == 4 })
	return lb
}

// runClients shares b.N requests among the clients, one request at a time
// each, after one each that waits for the connections, and reports the
// process's CPU time per request (cpu-ns/op), which a busy machine
// changes less than the time per request.
func runClients(b *testing.B, cs []func(context.Context, []byte) error) {
	ctx := context.Background()
	body := make([]byte, 16)
	for _, c := range cs {
		if err := c(ctx, body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	var wg sync.WaitGroup
	for i, c := range cs {
		n := b.N / len(cs)
		if i < b.N%len(cs) {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := c(ctx, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(cputime.PerOp(cpu0, b.N), "cpu-ns/op")
}
