package examples_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
)

// Thousands of requests through ppqueue while worker processes are killed
// and the queue itself is killed and started again on the same endpoints:
// every request gets exactly one reply, its own.
func TestPPQueueKillsUnderLoad(t *testing.T) {
	ctx := testContext(t)
	front, back := freeTCP(t), freeTCP(t)
	queue := func() *proc {
		q := start(t, ctx, "ppqueue", "-frontend", front, "-backend", back,
			"-heartbeat", "100ms", "-liveness", "20", "-stats", "20ms")
		q.await(ctx, `I: clients on`)
		return q
	}
	worker := func() *proc {
		return start(t, ctx, "ppworker", "-connect", back, "-simulate=false", "-work", "1ms",
			"-heartbeat", "100ms", "-liveness", "20")
	}
	q := queue()
	workers := []*proc{worker(), worker(), worker(), worker()}
	q.await(ctx, `I: 4 workers`)

	c, err := pirate.NewClient(front, pirate.WithTimeout(time.Second), pirate.WithRetries(50))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n, clients = 3000, 8
	var next, done atomic.Int64
	progress := make(chan struct{}, 1)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				body := fmt.Sprint("request ", i)
				reply, err := c.Request(ctx, []byte(body))
				if err != nil {
					errs <- fmt.Errorf("%s: %w", body, err)
					return
				}
				if len(reply) != 1 || string(reply[0]) != body {
					errs <- fmt.Errorf("reply %q to %q", reply, body)
					return
				}
				done.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	// The faults, each once the run has got that far.
	awaitDone := func(k int64) {
		t.Helper()
		for done.Load() < k {
			select {
			case <-ctx.Done():
				t.Fatalf("%d of %d answered: %v", done.Load(), n, ctx.Err())
			case err := <-errs:
				t.Fatal(err)
			case <-progress:
			}
		}
	}
	awaitDone(n / 6)
	workers[0].kill()
	workers = append(workers, worker())
	awaitDone(n / 3)
	q.kill()
	q.exit(ctx)
	q = queue()
	awaitDone(n / 2)
	workers[1].kill()
	workers[2].kill()
	workers = append(workers, worker())
	awaitDone(2 * n / 3)
	q.kill()
	q.exit(ctx)
	queue()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := done.Load(); got != n {
		t.Fatalf("%d of %d requests answered", got, n)
	}
	s := c.Stats()
	if s.Replies != n || s.Failed != 0 {
		t.Fatalf("client stats %+v: want %d replies, one per request", s, n)
	}
	t.Logf("client stats %+v", s)
}

// freeTCP returns a loopback endpoint whose port was free a moment ago: the
// queue is started again on it after it is killed.
func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}
