package patterns_test

// What a typed actor on a socket costs over the raw socket, in one process
// over tcp loopback (the bench command under bench/ runs them across
// processes). Compare the lines of one run:
//
//	go test -run '^$' -bench . -benchtime 2000000x ./patterns
//
// ns/op is per message (per round trip for Ask).

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/cputime"
	"github.com/zmqflow/zmqflow/internal/paired"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

var benchSizes = []int{16, 1024}

func rawSocket(b testing.TB, t socket.Type) *socket.Socket {
	s, err := socket.New(t)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// reportCPU reports the process's CPU time per message since cpu: on a
// machine shared with other work, ns/op counts the waits for a core too.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(cputime.PerOp(cpu, b.N), "cpu-ns/op")
}

// BenchmarkMailbox: an actor whose mailbox is a PULL socket against a loop
// over the raw PULL socket's Recv; the sender is a raw PUSH in both, and
// cpu-ns/op counts all three (sender, connection, receiver).
func BenchmarkMailbox(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		body := make([]byte, size)
		send := func(b *testing.B, ep string) {
			push := rawSocket(b, socket.Push)
			if err := push.Connect(ep); err != nil {
				b.Fatal(err)
			}
			go func() {
				for range b.N {
					if push.Send(ctx, socket.NewMsg(body)) != nil {
						return
					}
				}
			}()
		}
		b.Run(fmt.Sprintf("actor/%dB", size), func(b *testing.B) {
			in, err := patterns.Pull(patterns.Bytes{}, patterns.Bind("tcp://127.0.0.1:*"))
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			seen := 0
			a, err := actor.Spawn(ctx, actor.BehaviorFunc[[]byte](func(context.Context, []byte) error {
				if seen++; seen == b.N {
					close(done)
				}
				return nil
			}), actor.WithFeed(in))
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			b.SetBytes(int64(size))
			b.ResetTimer()
			cpu := cputime.Process()
			send(b, in.Endpoint())
			<-done
			reportCPU(b, cpu)
		})
		b.Run(fmt.Sprintf("raw/%dB", size), func(b *testing.B) {
			pull := rawSocket(b, socket.Pull)
			ep, err := pull.Bind("tcp://127.0.0.1:*")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			cpu := cputime.Process()
			send(b, ep)
			for range b.N {
				if _, err := pull.Recv(ctx); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkRemoteTell: Tell through a PUSH reference against the raw PUSH
// socket's Send; the receiver is a raw PULL loop in both.
func BenchmarkRemoteTell(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		body := make([]byte, size)
		receive := func(b *testing.B) (string, chan struct{}) {
			pull := rawSocket(b, socket.Pull)
			ep, err := pull.Bind("tcp://127.0.0.1:*")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range b.N {
					if _, err := pull.Recv(ctx); err != nil {
						return
					}
				}
			}()
			return ep, done
		}
		b.Run(fmt.Sprintf("ref/%dB", size), func(b *testing.B) {
			ep, done := receive(b)
			out, err := patterns.Push(patterns.Bytes{}, patterns.Connect(ep))
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			ref := out.Ref()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if err := ref.Tell(ctx, body); err != nil {
					b.Fatal(err)
				}
			}
			<-done
		})
		b.Run(fmt.Sprintf("raw/%dB", size), func(b *testing.B) {
			ep, done := receive(b)
			push := rawSocket(b, socket.Push)
			if err := push.Connect(ep); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if err := push.Send(ctx, socket.NewMsg(body)); err != nil {
					b.Fatal(err)
				}
			}
			<-done
		})
	}
}

// BenchmarkRemoteAsk: actor.Ask of an echoing actor, 16 B with the Bytes
// codec, through a DEALER reference of a ROUTER mailbox and a REQ
// reference of a REP mailbox, over tcp and inproc, against a round trip
// of raw REQ and REP sockets. With -benchmem, allocs/op is what one round
// trip allocates, client and server together.
func BenchmarkRemoteAsk(b *testing.B) {
	ctx := context.Background()
	body := make([]byte, 16)
	for _, tr := range []string{"tcp", "inproc"} {
		b.Run("router-dealer/"+tr, func(b *testing.B) {
			in, err := patterns.Router(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind(endpoint(b, tr)))
			if err != nil {
				b.Fatal(err)
			}
			benchAsk(b, in, body, patterns.Dealer[[]byte, []byte])
		})
		b.Run("rep-req/"+tr, func(b *testing.B) {
			in, err := patterns.Rep(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind(endpoint(b, tr)))
			if err != nil {
				b.Fatal(err)
			}
			benchAsk(b, in, body, patterns.Req[[]byte, []byte])
		})
		b.Run("raw-reqrep/"+tr, func(b *testing.B) {
			req := rawEchoReq(b, tr)
			b.ResetTimer()
			for range b.N {
				if err := req.Send(ctx, socket.NewMsg(body)); err != nil {
					b.Fatal(err)
				}
				if _, err := req.Recv(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRemoteAskPaired measures BenchmarkRemoteAsk's ratios over tcp
// the way a shared machine allows (package paired): a reference's Asks and
// raw REQ/REP round trips in alternating blocks. It reports the median of
// the blocks' ratios (ratio) and each side's median round trip; ns/op is
// per pair of round trips. router-dealer-asker asks through an
// actor.Asker, which keeps its reply slot.
func BenchmarkRemoteAskPaired(b *testing.B) {
	b.Run("router-dealer", func(b *testing.B) {
		remoteAskPaired(b, patterns.Router[[]byte, []byte], patterns.Dealer[[]byte, []byte], false)
	})
	b.Run("router-dealer-asker", func(b *testing.B) {
		remoteAskPaired(b, patterns.Router[[]byte, []byte], patterns.Dealer[[]byte, []byte], true)
	})
	b.Run("rep-req", func(b *testing.B) {
		remoteAskPaired(b, patterns.Rep[[]byte, []byte], patterns.Req[[]byte, []byte], false)
	})
}

func remoteAskPaired(b *testing.B,
	serve func(patterns.Codec[[]byte], patterns.Codec[[]byte], ...patterns.Option) (*patterns.Inbox[echoReq], error),
	dial dialer, useAsker bool) {
	const block = 200
	ctx := context.Background()
	body := make([]byte, 16)
	in, err := serve(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind(endpoint(b, "tcp")))
	if err != nil {
		b.Fatal(err)
	}
	ref := echoRef(b, in, dial)
	asker := actor.NewAsker(ref)
	req := rawEchoReq(b, "tcp")

	asks := func(k int) time.Duration {
		t0 := time.Now()
		for range k {
			var err error
			if useAsker {
				_, err = asker.Ask(ctx, body)
			} else {
				_, err = actor.Ask(ctx, ref, body)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	trips := func(k int) time.Duration {
		t0 := time.Now()
		for range k {
			if err := req.Send(ctx, socket.NewMsg(body)); err != nil {
				b.Fatal(err)
			}
			if _, err := req.Recv(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	asks(10) // the first connect, and size what is reused
	trips(10)
	paired.Run(b, block, asks, trips, "ask-ns", "raw-ns")
}

type echoReq = actor.Request[[]byte, []byte]

// dialer is patterns.Dealer or patterns.Req of echoReq's types.
type dialer = func(patterns.Codec[[]byte], patterns.Codec[[]byte], ...patterns.Option) (*patterns.Outbox[echoReq], error)

// echoRef serves in with an echoing actor and returns the reference dial
// makes to it; the actor and the reference end with the benchmark.
func echoRef(b *testing.B, in *patterns.Inbox[echoReq], dial dialer) actor.Ref[echoReq] {
	a, err := actor.Spawn(context.Background(), actor.BehaviorFunc[echoReq](func(_ context.Context, r echoReq) error {
		r.Reply(r.Query, nil)
		return nil
	}), actor.WithFeed(in))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	out, err := dial(patterns.Bytes{}, patterns.Bytes{}, patterns.Connect(in.Endpoint()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { out.Close() })
	return out.Ref()
}

// rawEchoReq binds a raw REP socket on transport tr that echoes each
// request, and returns a raw REQ connected to it.
func rawEchoReq(b *testing.B, tr string) *socket.Socket {
	ctx := context.Background()
	rep := rawSocket(b, socket.Rep)
	ep, err := rep.Bind(endpoint(b, tr))
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil || rep.Send(ctx, m) != nil {
				return
			}
		}
	}()
	req := rawSocket(b, socket.Req)
	if err := req.Connect(ep); err != nil {
		b.Fatal(err)
	}
	return req
}

// benchAsk serves in with an echoing actor and asks it b.N times through
// the reference dial makes.
func benchAsk(b *testing.B, in *patterns.Inbox[echoReq], body []byte, dial dialer) {
	ctx := context.Background()
	ref := echoRef(b, in, dial)
	b.ResetTimer()
	for range b.N {
		if _, err := actor.Ask(ctx, ref, body); err != nil {
			b.Fatal(err)
		}
	}
}
