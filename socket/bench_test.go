package socket_test

// Benchmarks of the sockets in one process. The comparison with libzmq and
// with zmq4's own sockets, with sender and receiver in separate processes,
// is the command in bench/ (its own module, cgo).
//
//	go test -run '^$' -bench . -benchtime 2s ./socket
//
// Each benchmark connects its sockets and passes a first message (or, for
// PUB/SUB, waits until a message gets through the subscription) before the
// timer starts, so connecting and the ZMTP handshake are not measured.
// Throughput is reported as msg/s, from the first message sent to the last
// one received; latency as µs per round trip.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// benchTimeout bounds every blocking call, so a hang fails the benchmark
// instead of stalling the whole run.
const benchTimeout = 5 * time.Minute

var benchSizes = []struct {
	name string
	size int
}{{"16B", 16}, {"1KiB", 1024}}

var inprocSeq atomic.Uint64

// bindEndpoint returns the endpoint to bind for a transport.
func bindEndpoint(b *testing.B, transport string) string {
	switch transport {
	case "inproc":
		return fmt.Sprintf("inproc://bench-%d", inprocSeq.Add(1))
	case "ipc":
		return "ipc://" + b.TempDir() + "/s"
	case "tcp":
		return "tcp://127.0.0.1:*"
	}
	b.Fatalf("unknown transport %q", transport)
	return ""
}

// pair makes a socket of type bt (with boundOpts) bound to transport and
// one of type ct connected to it; both are closed when the benchmark ends.
func pair(b *testing.B, transport string, bt, ct socket.Type, boundOpts ...socket.Option) (bound, conn *socket.Socket) {
	b.Helper()
	bound, err := socket.New(bt, boundOpts...)
	if err != nil {
		b.Fatal(err)
	}
	ep, err := bound.Bind(bindEndpoint(b, transport))
	if err != nil {
		bound.Close()
		b.Fatal(err)
	}
	conn, err = socket.New(ct)
	if err != nil {
		bound.Close()
		b.Fatal(err)
	}
	// Cleanups run last-in first-out: the connecting side closes first.
	b.Cleanup(func() { closeOrFail(b, bound) })
	b.Cleanup(func() { closeOrFail(b, conn) })
	if err := conn.Connect(ep); err != nil {
		b.Fatal(err)
	}
	return bound, conn
}

func closeOrFail(b *testing.B, s *socket.Socket) {
	if err := s.Close(); err != nil {
		b.Errorf("close %v: %v", s.Type(), err)
	}
}

func payload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

func reportRate(b *testing.B, n int, d time.Duration) {
	if d > 0 {
		b.ReportMetric(float64(n)/d.Seconds(), "msg/s")
	}
}

// BenchmarkPushPull: one PUSH connected to one PULL, b.N messages one way.
func BenchmarkPushPull(b *testing.B) {
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		for _, sz := range benchSizes {
			b.Run(tr+"/"+sz.name, func(b *testing.B) { benchOneWay(b, tr, sz.size, socket.Pull, socket.Push) })
		}
	}
}

// BenchmarkPushPullBudget: BenchmarkPushPull over tcp with a receive
// budget (WithRecvBudget) on the PULL, large enough never to be reached:
// what charging each message costs.
func BenchmarkPushPullBudget(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("tcp/"+sz.name, func(b *testing.B) {
			benchOneWay(b, "tcp", sz.size, socket.Pull, socket.Push, socket.WithRecvBudget(64<<20))
		})
	}
}

// BenchmarkDealerRouter: one DEALER connected to one ROUTER, b.N messages
// from the dealer (the router receives them with the identity in front).
func BenchmarkDealerRouter(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp"} {
		b.Run(tr+"/16B", func(b *testing.B) { benchOneWay(b, tr, 16, socket.Router, socket.Dealer) })
	}
}

// benchOneWay sends b.N messages from a connecting sender to a bound receiver.
func benchOneWay(b *testing.B, transport string, size int, recvType, sendType socket.Type, recvOpts ...socket.Option) {
	rx, tx := pair(b, transport, recvType, sendType, recvOpts...)
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	body := payload(size)
	b.SetBytes(int64(size))

	// First round: the connection is up and the handshake done.
	if err := tx.Send(ctx, socket.Msg{body}); err != nil {
		b.Fatal(err)
	}
	if _, err := rx.Recv(ctx); err != nil {
		b.Fatal(err)
	}

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
	for i := 0; i < n; i++ {
		m, err := rx.Recv(ctx)
		if err != nil {
			b.Fatalf("recv %d of %d: %v", i, n, err)
		}
		if got := len(m[len(m)-1]); got != size {
			b.Fatalf("recv %d: %d bytes, want %d", i, got, size)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	wg.Wait()
	if sendErr != nil {
		b.Fatal(sendErr)
	}
	reportRate(b, n, elapsed)
}

// BenchmarkReqRep: REQ -> REP -> REQ round trips of 16 B.
func BenchmarkReqRep(b *testing.B) {
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		b.Run(tr+"/16B", func(b *testing.B) { benchReqRep(b, tr) })
	}
}

func benchReqRep(b *testing.B, transport string) {
	rep, req := pair(b, transport, socket.Rep, socket.Req)
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	body := payload(16)

	// The REP echoes until its ctx ends; it is stopped before the sockets close.
	srvCtx, stopSrv := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var srvErr error
	wg.Go(func() {
		for {
			m, err := rep.Recv(srvCtx)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					srvErr = err
				}
				return
			}
			if err := rep.Send(srvCtx, m); err != nil {
				srvErr = err
				return
			}
		}
	})
	defer func() {
		stopSrv()
		wg.Wait()
		if srvErr != nil {
			b.Error(srvErr)
		}
	}()

	roundTrip := func() {
		if err := req.Send(ctx, socket.Msg{body}); err != nil {
			b.Fatal(err)
		}
		m, err := req.Recv(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(m) != 1 || len(m[0]) != len(body) {
			b.Fatalf("reply %v", m)
		}
	}
	roundTrip() // connected

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/1e3/float64(b.N), "µs/op")
}

// BenchmarkPubSub: one PUB, one SUB subscribed to everything, b.N messages
// of 16 B published. PUB drops for a subscriber at its high-water mark, as
// libzmq does, so msg/s counts the messages the SUB received, and
// delivered% says how many of those published got there.
func BenchmarkPubSub(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp"} {
		b.Run(tr+"/16B", func(b *testing.B) { benchPubSub(b, tr) })
	}
}

func benchPubSub(b *testing.B, transport string) {
	pub, sub := pair(b, transport, socket.Pub, socket.Sub)
	if err := sub.Subscribe(nil); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()

	// The first byte tells the receiver what a message is: w(arm-up),
	// d(ata) or e(nd).
	mk := func(kind byte) []byte { p := payload(16); p[0] = kind; return p }
	warm, data, end := mk('w'), mk('d'), mk('e')

	// Warm-up: publish until the subscription has reached the PUB and a
	// message has come through.
	got := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-got:
				return
			case <-t.C:
				pub.Send(ctx, socket.Msg{warm})
			}
		}
	})
	if _, err := sub.Recv(ctx); err != nil {
		b.Fatal(err)
	}
	close(got)
	wg.Wait()

	n := b.N
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	wg.Go(func() {
		for i := 0; i < n; i++ {
			pub.Send(ctx, socket.Msg{data})
		}
		// End markers until the subscriber has seen one: any single one may
		// be dropped at the high-water mark.
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			default:
				pub.Send(ctx, socket.Msg{end})
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	received := 0
	var last time.Time
	for {
		m, err := sub.Recv(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if m[0][0] == 'd' {
			received++
			last = time.Now()
		} else if m[0][0] == 'e' {
			break
		}
	}
	b.StopTimer()
	close(done)
	wg.Wait()
	if received == 0 {
		b.Fatal("no message received")
	}
	reportRate(b, received, last.Sub(start))
	b.ReportMetric(100*float64(received)/float64(n), "delivered%")
}
