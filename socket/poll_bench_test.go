package socket_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// BenchmarkPollPushPull: BenchmarkPushPull's 16 B messages, received in a
// poll loop (Poll, then TryRecv) over the PULL and a second, idle PULL, as
// the guide's loops do: what the poller costs against plain Recv.
func BenchmarkPollPushPull(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp"} {
		b.Run(tr+"/16B", func(b *testing.B) {
			rx, tx := pair(b, tr, socket.Pull, socket.Push)
			idle, err := socket.New(socket.Pull)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { closeOrFail(b, idle) })
			ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
			defer cancel()
			body := payload(16)
			b.SetBytes(16)
			if err := tx.Send(ctx, socket.Msg{body}); err != nil {
				b.Fatal(err)
			}
			if _, err := rx.Recv(ctx); err != nil {
				b.Fatal(err)
			}
			items := []socket.PollItem{{Socket: rx, Events: socket.PollIn}, {Socket: idle, Events: socket.PollIn}}
			n := b.N
			var wg sync.WaitGroup
			var sendErr error
			b.ResetTimer()
			start := time.Now()
			wg.Go(func() {
				for i := 0; i < n; i++ {
					if err := tx.Send(ctx, socket.Msg{body}); err != nil {
						sendErr = err
						return
					}
				}
			})
			for got := 0; got < n; {
				if _, err := socket.Poll(ctx, items); err != nil {
					b.Fatal(err)
				}
				if items[0].Ready == 0 {
					continue
				}
				m, err := rx.TryRecv()
				if errors.Is(err, socket.ErrWouldBlock) {
					continue
				}
				if err != nil || len(m[0]) != 16 {
					b.Fatalf("recv %d of %d: %v", got, n, err)
				}
				got++
			}
			elapsed := time.Since(start)
			b.StopTimer()
			wg.Wait()
			if sendErr != nil {
				b.Fatal(sendErr)
			}
			reportRate(b, n, elapsed)
		})
	}
}
