package pirate_test

import (
	"context"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// BenchmarkRequestReply is request-reply through a LoadBalancer over tcp
// loopback in one process: 4 workers, 8 goroutines each with a Client of
// its own and one request at a time, as the bench command's lb case runs
// them in three processes. For profiles; the bench command gives figures
// beside the guide's loop and libzmq.
func BenchmarkRequestReply(b *testing.B) {
	ctx := context.Background()
	lb := newLB(b, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
	for range 4 {
		newWorker(b, lb.Backend(), func(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil })
	}
	waitLB(b, testCtx(b), lb, "4 workers", func(s pirate.Stats) bool { return s.Workers == 4 })
	const clients = 8
	cs := make([]*pirate.Client, clients)
	for i := range cs {
		cs[i] = newClient(b, lb.Frontend())
	}
	body := make([]byte, 16)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range cs {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if _, err := c.Request(ctx, body); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
