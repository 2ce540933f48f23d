package patterns_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// A ventilator hands tasks to a worker over tcp, as in the guide's "Divide
// and Conquer". Each sink ends the pipeline with ErrStop once it has what it
// waits for; Run then returns nil.
func ExamplePush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	vent, err := patterns.NewPush(patterns.String{}, patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	worker, err := patterns.NewPull(patterns.String{}, patterns.Connect(vent.Endpoint()))
	check(err)

	var p patterns.Pipeline
	patterns.To(&p, patterns.From(&p, patterns.Values("task 1", "task 2", "task 3")), vent)
	n := 0
	patterns.Each(&p, patterns.From(&p, worker), func(_ context.Context, task string) error {
		fmt.Println("worker got", task)
		if n++; n == 3 {
			return patterns.ErrStop
		}
		return nil
	})
	check(p.Run(ctx))
	// Output:
	// worker got task 1
	// worker got task 2
	// worker got task 3
}

type result struct {
	Worker string
	Sum    int
}

// A sink fair-queues what several workers push to it: fan-in. The stages are
// joined over inproc here; ipc:// or tcp:// endpoints change nothing else.
func ExamplePull() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sink, err := patterns.NewPull(patterns.JSON[result]{}, patterns.Bind("inproc://example-sink"))
	check(err)
	var p patterns.Pipeline
	for _, name := range []string{"a", "b"} {
		w, err := patterns.NewPush(patterns.JSON[result]{}, patterns.Connect(sink.Endpoint()))
		check(err)
		patterns.To(&p, patterns.From(&p, patterns.Values(result{name, 1}, result{name, 2})), w)
	}
	var got []string
	patterns.Each(&p, patterns.From(&p, sink), func(_ context.Context, r result) error {
		got = append(got, fmt.Sprintf("%s:%d", r.Worker, r.Sum))
		if len(got) == 4 {
			return patterns.ErrStop
		}
		return nil
	})
	check(p.Run(ctx))
	slices.Sort(got) // fair-queued: the interleaving varies
	fmt.Println(got)
	// Output:
	// [a:1 a:2 b:1 b:2]
}

type quote struct {
	Symbol string
	Price  int
}

// A publisher sends each value under a topic taken from the value; a
// subscriber gets only the topics it asked for. Subscriptions take a moment
// to reach the publisher (the guide's "slow joiner"), so this publisher goes
// on until the subscriber has heard enough.
func ExamplePub() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pub, err := patterns.NewPub(patterns.JSON[quote]{}, func(q quote) string { return q.Symbol },
		patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	sub, err := patterns.NewSub(patterns.JSON[quote]{}, []string{"ZMQ"}, patterns.Connect(pub.Endpoint()))
	check(err)

	var p patterns.Pipeline
	patterns.To(&p, patterns.From(&p, ticker(quote{"ACME", 10}, quote{"ZMQ", 42})), pub)
	n := 0
	patterns.Each(&p, patterns.From(&p, sub), func(_ context.Context, q quote) error {
		fmt.Println(q.Symbol, q.Price)
		if n++; n == 2 {
			return patterns.ErrStop
		}
		return nil
	})
	check(p.Run(ctx))
	// Output:
	// ZMQ 42
	// ZMQ 42
}

// ticker is a source that sends vs every millisecond until cancelled.
func ticker[T any](vs ...T) patterns.Producer[T] {
	return patterns.ProducerFunc[T](func(ctx context.Context, out chan<- T) error {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			for _, v := range vs {
				select {
				case out <- v:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}

// A subscriber may bind and publishers connect to it; topics are prefixes,
// and "" is every topic.
func ExampleSub() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sub, err := patterns.NewSub(patterns.String{}, []string{"log.error"}, patterns.Bind("inproc://example-logs"))
	check(err)
	pub, err := patterns.NewPub(patterns.String{}, func(line string) string { return strings.Fields(line)[0] },
		patterns.Connect(sub.Endpoint()))
	check(err)

	var p patterns.Pipeline
	patterns.To(&p, patterns.From(&p, ticker("log.info started", "log.error.disk full")), pub)
	patterns.Each(&p, patterns.From(&p, sub), func(_ context.Context, line string) error {
		fmt.Println(line)
		return patterns.ErrStop
	})
	check(p.Run(ctx))
	// Output:
	// log.error.disk full
}

// A client asks and a server answers. Request hands the request to the
// running Req stage, so any goroutine may call it.
func ExampleReq() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	dir, err := os.MkdirTemp("", "zpe")
	check(err)
	defer os.RemoveAll(dir)
	server, err := patterns.NewRep(patterns.String{}, patterns.String{},
		func(_ context.Context, name string) (string, error) { return "Hello, " + name, nil },
		patterns.Bind("ipc://"+dir+"/hello"))
	check(err)
	client, err := patterns.NewReq(patterns.String{}, patterns.String{}, patterns.Connect(server.Endpoint()))
	check(err)

	var p patterns.Pipeline
	p.Go(server.Run)
	p.Go(client.Run)
	p.Go(func(ctx context.Context) error {
		for _, name := range []string{"Ada", "Alan"} {
			reply, err := client.Request(ctx, name)
			if err != nil {
				return err
			}
			fmt.Println(reply)
		}
		return patterns.ErrStop
	})
	check(p.Run(ctx))
	// Output:
	// Hello, Ada
	// Hello, Alan
}

// The guide's Lazy Pirate client: a timeout on each attempt, a fresh socket
// and a resend after each timeout, and a clear error after the last retry.
// Here no server ever comes.
func ExampleLazyPirate() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	client, err := patterns.NewReq(patterns.String{}, patterns.String{},
		patterns.Connect("tcp://127.0.0.1:1"), patterns.LazyPirate(20*time.Millisecond, 2))
	check(err)
	var p patterns.Pipeline
	p.Go(client.Run)
	p.Go(func(ctx context.Context) error {
		_, err := client.Request(ctx, "anyone?")
		fmt.Println(errors.Is(err, patterns.ErrNoReply))
		fmt.Println(err)
		return patterns.ErrStop
	})
	check(p.Run(ctx))
	// Output:
	// true
	// patterns: no reply from server, retries exhausted: 3 attempts, 20ms each
}

// A server answers each request with its handler, one at a time. A REQ
// client from package socket (or libzmq) talks to it as to any REP.
func ExampleRep() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type sum struct{ A, B int }
	server, err := patterns.NewRep(patterns.JSON[sum]{}, patterns.JSON[int]{},
		func(_ context.Context, q sum) (int, error) { return q.A + q.B, nil },
		patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	served := make(chan error, 1)
	go func() { served <- server.Run(ctx) }()
	defer func() { cancel(); <-served }() // Run returns once ctx ends

	client, err := socket.New(socket.Req)
	check(err)
	defer client.Close()
	check(client.Connect(server.Endpoint()))
	check(client.Send(ctx, socket.NewMsgString(`{"A":2,"B":3}`)))
	reply, err := client.Recv(ctx)
	check(err)
	fmt.Println(reply.Strings())
	// Output:
	// [5]
}

// A router sees who sent each message, in the envelope's route, and answers
// that peer by sending the route back. Dealers talk to it without lockstep.
func ExampleRouter() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	router, err := patterns.NewRouter(patterns.String{}, patterns.Bind("inproc://example-router"))
	check(err)
	dealer, err := patterns.NewDealer(patterns.String{}, patterns.Connect(router.Endpoint()),
		patterns.WithSocketOptions(socket.WithIdentity([]byte("worker-1"))))
	check(err)

	var p patterns.Pipeline
	replies := make(chan patterns.Envelope[string], 1)
	patterns.Each(&p, patterns.Through(&p, replies, router), func(_ context.Context, e patterns.Envelope[string]) error {
		fmt.Printf("router: %q from %s\n", e.Body, e.Route[0])
		replies <- patterns.Envelope[string]{Route: e.Route, Body: "work"}
		return nil
	})
	ready := patterns.From(&p, patterns.Values(patterns.Envelope[string]{Body: "READY"}))
	patterns.Each(&p, patterns.Through(&p, ready, dealer), func(_ context.Context, e patterns.Envelope[string]) error {
		fmt.Printf("dealer: %q\n", e.Body)
		return patterns.ErrStop
	})
	check(p.Run(ctx))
	// Output:
	// router: "READY" from worker-1
	// dealer: "work"
}

// A dealer talking to a REP server sends the empty delimiter a REQ would,
// as the first frame of its route, and gets it back on the reply.
func ExampleDealer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	server, err := patterns.NewRep(patterns.String{}, patterns.String{},
		func(_ context.Context, q string) (string, error) { return strings.ToUpper(q), nil },
		patterns.Bind("inproc://example-dealer"))
	check(err)
	dealer, err := patterns.NewDealer(patterns.String{}, patterns.Connect(server.Endpoint()))
	check(err)

	var p patterns.Pipeline
	p.Go(server.Run)
	delimiter := [][]byte{{}}
	asks := patterns.From(&p, patterns.Values(
		patterns.Envelope[string]{Route: delimiter, Body: "one"},
		patterns.Envelope[string]{Route: delimiter, Body: "two"})) // no waiting for "one"'s reply
	n := 0
	patterns.Each(&p, patterns.Through(&p, asks, dealer), func(_ context.Context, e patterns.Envelope[string]) error {
		fmt.Println(e.Body, len(e.Route))
		if n++; n == 2 {
			return patterns.ErrStop
		}
		return nil
	})
	check(p.Run(ctx))
	// Output:
	// ONE 1
	// TWO 1
}

// Two pairs talk both ways at once: values in go to the peer, the peer's
// values come out.
func ExamplePair() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	parent, err := patterns.NewPair(patterns.String{}, patterns.Bind("inproc://example-pair"))
	check(err)
	child, err := patterns.NewPair(patterns.String{}, patterns.Connect(parent.Endpoint()))
	check(err)

	var p patterns.Pipeline
	// The child answers every ping with a pong.
	pongs := make(chan string)
	patterns.Each(&p, patterns.Through(&p, pongs, child), func(ctx context.Context, s string) error {
		select {
		case pongs <- strings.Replace(s, "ping", "pong", 1):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	// The parent pings twice and hears the pongs.
	heard := patterns.Through(&p, patterns.From(&p, patterns.Values("ping 1", "ping 2")), parent)
	n := 0
	patterns.Each(&p, heard, func(_ context.Context, s string) error {
		fmt.Println("parent heard", s)
		if n++; n == 2 {
			return patterns.ErrStop
		}
		return nil
	})
	check(p.Run(ctx))
	// Output:
	// parent heard pong 1
	// parent heard pong 2
}

// A pipeline of plain channels: a source, four workers (fan-out) whose
// results meet again in one channel (fan-in), and a sink. The first error
// would cancel every stage; Run returns after all have ended.
func ExamplePipeline() {
	var p patterns.Pipeline
	nums := patterns.From(&p, patterns.Values(1, 2, 3, 4, 5))
	squares := patterns.Map(&p, nums, 4, func(_ context.Context, n int) (int, error) { return n * n, nil })
	sum := 0
	patterns.Each(&p, squares, func(_ context.Context, n int) error { sum += n; return nil })
	if err := p.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output:
	// 55
}

// A pipeline whose stages are joined by sockets: a ventilator, workers and a
// sink (guide ch. 1, "Divide and Conquer"). With ipc:// or tcp:// endpoints,
// each part could be in a process of its own.
func ExamplePipeline_sockets() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var p patterns.Pipeline
	vent, err := patterns.NewPush(patterns.JSON[int]{}, patterns.Bind("inproc://example-vent"))
	check(err)
	sink, err := patterns.NewPull(patterns.JSON[int]{}, patterns.Bind("inproc://example-results"))
	check(err)
	patterns.To(&p, patterns.From(&p, patterns.Values(1, 2, 3, 4, 5, 6)), vent)
	for range 3 {
		tasks, err := patterns.NewPull(patterns.JSON[int]{}, patterns.Connect(vent.Endpoint()))
		check(err)
		results, err := patterns.NewPush(patterns.JSON[int]{}, patterns.Connect(sink.Endpoint()))
		check(err)
		doubled := patterns.Map(&p, patterns.From(&p, tasks), 1, func(_ context.Context, n int) (int, error) { return 2 * n, nil })
		patterns.To(&p, doubled, results)
	}
	var got []int
	patterns.Each(&p, patterns.From(&p, sink), func(_ context.Context, n int) error {
		if got = append(got, n); len(got) == 6 {
			return patterns.ErrStop
		}
		return nil
	})
	check(p.Run(ctx))
	slices.Sort(got)
	fmt.Println(got)
	// Output:
	// [2 4 6 8 10 12]
}

// CodecFuncs plugs in any encoding (protobuf, msgpack, ...) without this
// package importing it. Here: a uint64, big-endian, in a frame of 8 bytes.
func ExampleCodecFuncs() {
	u64 := patterns.CodecFuncs[uint64]{
		EncodeFunc: func(n uint64) ([][]byte, error) { return [][]byte{binary.BigEndian.AppendUint64(nil, n)}, nil },
		DecodeFunc: func(f [][]byte) (uint64, error) {
			if len(f) != 1 || len(f[0]) != 8 {
				return 0, fmt.Errorf("want one frame of 8 bytes")
			}
			return binary.BigEndian.Uint64(f[0]), nil
		},
	}
	frames, _ := u64.Encode(258)
	fmt.Println(frames)
	n, _ := u64.Decode(frames)
	fmt.Println(n)
	_, err := u64.Decode([][]byte{[]byte("short")})
	fmt.Println(err)
	// Output:
	// [[0 0 0 0 0 0 1 2]]
	// 258
	// want one frame of 8 bytes
}
