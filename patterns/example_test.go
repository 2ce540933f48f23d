package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// An actor whose mailbox is a PULL socket, on tcp: the guide's worker. Its
// behaviour is what it would be with an in-memory mailbox; only the
// construction (actor.WithFeed) differs.
func ExamplePull() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tasks, err := patterns.Pull(patterns.String{}, patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	done := make(chan struct{})
	worker, err := actor.Spawn(ctx, actor.BehaviorFunc[string](func(_ context.Context, task string) error {
		fmt.Println("worker got", task)
		if task == "task 3" {
			close(done)
		}
		return nil
	}), actor.WithFeed(tasks))
	check(err)
	defer worker.Close() // closes the mailbox's socket too

	// Anywhere else, in this process or another: a reference over PUSH.
	vent, err := patterns.Push(patterns.String{}, patterns.Connect(tasks.Endpoint()))
	check(err)
	defer vent.Close()
	for _, t := range []string{"task 1", "task 2", "task 3"} {
		check(vent.Ref().Tell(ctx, t))
	}
	<-done
	// Output:
	// worker got task 1
	// worker got task 2
	// worker got task 3
}

// A typed reference to an actor in another process (here, the same one)
// over tcp. Code holding the actor.Ref cannot tell: give it a local actor's
// Ref and it works the same.
func ExamplePush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type reading struct {
		Sensor int32
		Value  float64
	}
	in, err := patterns.Pull(patterns.Binary[reading]{}, patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	got := make(chan reading)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[reading](func(_ context.Context, r reading) error {
		got <- r
		return nil
	}), actor.WithFeed(in))
	check(err)
	defer a.Close()

	out, err := patterns.Push(patterns.Binary[reading]{}, patterns.Connect(in.Endpoint()))
	check(err)
	defer out.Close()
	report := func(ref actor.Ref[reading]) error { return ref.Tell(ctx, reading{7, 21.5}) }
	check(report(out.Ref()))
	fmt.Printf("%+v\n", <-got)
	// Output: {Sensor:7 Value:21.5}
}

type quote struct {
	Symbol string
	Price  float64
}

// A SUB mailbox gets what a PUB reference publishes on the topics it
// subscribes to: the topic is the first frame, the value the rest.
func ExampleSub() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := patterns.Pub(patterns.JSON[quote]{}, func(q quote) string { return q.Symbol },
		patterns.Bind("inproc://example-quotes"))
	check(err)
	defer pub.Close()
	sub, err := patterns.Sub(patterns.JSON[quote]{}, patterns.Connect("inproc://example-quotes"),
		patterns.Subscribe("ACME"))
	check(err)
	got := make(chan quote, 10)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[quote](func(_ context.Context, q quote) error {
		got <- q
		return nil
	}), actor.WithFeed(sub))
	check(err)
	defer a.Close()
	// A PUB sends only to subscriptions it knows of: publish until the
	// first quote arrives (the guide's "slow joiner").
	for len(got) == 0 {
		check(pub.Tell(ctx, quote{"OTHER", 1}))
		check(pub.Tell(ctx, quote{"ACME", 1}))
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("%+v\n", <-got)
	// Output: {Symbol:ACME Price:1}
}

// A PUB reference sends each value under the topic its function names;
// every SUB mailbox subscribed to a prefix of that topic gets it, and the
// others do not.
func ExamplePub() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prices, err := patterns.Pub(patterns.JSON[quote]{}, func(q quote) string { return q.Symbol },
		patterns.Bind("inproc://example-pub"))
	check(err)
	defer prices.Close()
	var desks []*actor.Actor[quote]
	defer func() {
		for _, a := range desks {
			a.Close()
		}
	}()
	desk := func(symbol string) <-chan quote {
		in, err := patterns.Sub(patterns.JSON[quote]{}, patterns.Connect("inproc://example-pub"),
			patterns.Subscribe(symbol))
		check(err)
		got := make(chan quote, 10)
		a, err := actor.Spawn(ctx, actor.BehaviorFunc[quote](func(_ context.Context, q quote) error {
			got <- q
			return nil
		}), actor.WithFeed(in))
		check(err)
		desks = append(desks, a)
		return got
	}
	acme, globex := desk("ACME"), desk("GLOBEX")
	// A PUB sends only to subscriptions it knows of: wait for both (the
	// guide's "slow joiner").
	for prices.Socket().Stats().Subscribers < 2 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for _, q := range []quote{{"ACME", 10}, {"INITECH", 5}, {"GLOBEX", 20}, {"ACME", 11}} {
		check(prices.Tell(ctx, q))
	}
	fmt.Printf("ACME desk: %+v\n", <-acme)
	fmt.Printf("ACME desk: %+v\n", <-acme)
	fmt.Printf("GLOBEX desk: %+v\n", <-globex)
	// Output:
	// ACME desk: {Symbol:ACME Price:10}
	// ACME desk: {Symbol:ACME Price:11}
	// GLOBEX desk: {Symbol:GLOBEX Price:20}
}

// Two actors joined by PAIR sockets: each answers through its mailbox's
// Peer.
func ExamplePair() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := patterns.Pair(patterns.String{}, patterns.Bind("inproc://example-pair"))
	check(err)
	pong := a.Peer()
	ponger, err := actor.Spawn(ctx, actor.BehaviorFunc[string](func(ctx context.Context, m string) error {
		return pong.Tell(ctx, "pong to "+m)
	}), actor.WithFeed(a))
	check(err)
	defer ponger.Close()

	b, err := patterns.Pair(patterns.String{}, patterns.Connect("inproc://example-pair"))
	check(err)
	got := make(chan string)
	pinger, err := actor.Spawn(ctx, actor.BehaviorFunc[string](func(_ context.Context, m string) error {
		got <- m
		return nil
	}), actor.WithFeed(b))
	check(err)
	defer pinger.Close()
	check(b.Peer().Tell(ctx, "ping"))
	fmt.Println(<-got)
	// Output: pong to ping
}

// Ask across processes: an actor of actor.Request[Q, R] behind a ROUTER
// mailbox, asked through a DEALER reference with actor.Ask. Many asks may be
// in flight at once; each gets its own reply.
func ExampleDealer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := patterns.Router(patterns.String{}, patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	counter, err := actor.Spawn(ctx, actor.BehaviorFunc[actor.Request[string, int]](
		func(_ context.Context, r actor.Request[string, int]) error {
			r.Reply(len(r.Query), nil)
			return nil
		}), actor.WithFeed(in))
	check(err)
	defer counter.Close()

	client, err := patterns.Dealer(patterns.String{}, patterns.Binary[int]{}, patterns.Connect(in.Endpoint()))
	check(err)
	defer client.Close()
	words := []string{"ventilator", "sink", "broker"}
	lengths := make([]int, len(words))
	var wg sync.WaitGroup
	for i, w := range words {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := actor.Ask(ctx, client.Ref(), w)
			check(err)
			lengths[i] = n
		}()
	}
	wg.Wait()
	fmt.Println(lengths)
	// Output: [10 4 6]
}

// A ROUTER mailbox: the actor answers each actor.Request with Reply, and
// the answer goes back over the socket to the Dealer reference that asked.
// A reply with an error reaches the asker as ErrRemote with its text.
func ExampleRouter() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := patterns.Router(patterns.String{}, patterns.Binary[int]{}, patterns.Bind("inproc://example-router"))
	check(err)
	parser, err := actor.Spawn(ctx, actor.BehaviorFunc[actor.Request[string, int]](
		func(_ context.Context, r actor.Request[string, int]) error {
			r.Reply(strconv.Atoi(r.Query))
			return nil
		}), actor.WithFeed(in))
	check(err)
	defer parser.Close()

	client, err := patterns.Dealer(patterns.String{}, patterns.Binary[int]{}, patterns.Connect("inproc://example-router"))
	check(err)
	defer client.Close()
	n, err := actor.Ask(ctx, client.Ref(), "42")
	fmt.Println(n, err)
	_, err = actor.Ask(ctx, client.Ref(), "forty-two")
	fmt.Println(errors.Is(err, patterns.ErrRemote))
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// true
	// patterns: remote actor replied with an error: strconv.Atoi: parsing "forty-two": invalid syntax
}

// A REP mailbox answers REQ peers, one request at a time. REQ cannot carry
// an error: a request the actor answers with one gets an empty reply, and
// is a dead letter of the actor.
func ExampleRep() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := patterns.Rep(patterns.String{}, patterns.Binary[int]{}, patterns.Bind("inproc://example-rep"))
	check(err)
	parser, err := actor.Spawn(ctx, actor.BehaviorFunc[actor.Request[string, int]](
		func(_ context.Context, r actor.Request[string, int]) error {
			r.Reply(strconv.Atoi(r.Query))
			return nil
		}), actor.WithFeed(in))
	check(err)
	defer parser.Close()

	client, err := patterns.Req(patterns.String{}, patterns.Binary[int]{}, patterns.Connect("inproc://example-rep"))
	check(err)
	defer client.Close()
	n, err := actor.Ask(ctx, client.Ref(), "42")
	fmt.Println(n, err)
	// The empty reply does not decode as an int.
	_, err = actor.Ask(ctx, client.Ref(), "forty-two")
	fmt.Println(errors.Is(err, patterns.ErrDecode))
	fmt.Println("dead letters:", parser.Stats().DeadLetters)
	// Output:
	// 42 <nil>
	// true
	// dead letters: 1
}

// The guide's hello-world server as an actor behind a REP mailbox, asked
// through a REQ reference. Either side may be libzmq's.
func ExampleReq() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := patterns.Rep(patterns.String{}, patterns.String{}, patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	server, err := actor.Spawn(ctx, actor.BehaviorFunc[actor.Request[string, string]](
		func(_ context.Context, r actor.Request[string, string]) error {
			r.Reply("World", nil)
			return nil
		}), actor.WithFeed(in))
	check(err)
	defer server.Close()

	client, err := patterns.Req(patterns.String{}, patterns.String{}, patterns.Connect(in.Endpoint()),
		patterns.LazyPirate(2500*time.Millisecond, 3))
	check(err)
	defer client.Close()
	reply, err := actor.Ask(ctx, client.Ref(), "Hello")
	check(err)
	fmt.Println(reply)
	// Output: World
}

// The guide's Lazy Pirate client against a server that crashes with the
// first request: the request is sent again on a new socket, and the server
// that took the endpoint over answers it. OnRetry says when it resends.
func ExampleOnRetry() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	crashing, err := socket.New(socket.Rep)
	check(err)
	ep, err := crashing.Bind("tcp://127.0.0.1:*")
	check(err)

	client, err := patterns.Req(patterns.String{}, patterns.String{}, patterns.Connect(ep),
		patterns.LazyPirate(time.Second, 3),
		patterns.OnRetry(func(try int, _ error) {
			if try == 2 {
				fmt.Println("W: no response from server, retrying...")
			}
		}))
	check(err)
	defer client.Close()
	reply := make(chan string, 1)
	go func() {
		r, err := actor.Ask(ctx, client.Ref(), "Hello")
		check(err)
		reply <- r
	}()

	_, err = crashing.Recv(ctx) // the request, lost with the server
	check(err)
	check(crashing.Close())
	in, err := patterns.Rep(patterns.String{}, patterns.String{}, patterns.Bind(ep))
	check(err)
	server, err := actor.Spawn(ctx, actor.BehaviorFunc[actor.Request[string, string]](
		func(_ context.Context, r actor.Request[string, string]) error {
			r.Reply("World", nil)
			return nil
		}), actor.WithFeed(in))
	check(err)
	defer server.Close()
	fmt.Println(<-reply)
	// Output:
	// W: no response from server, retrying...
	// World
}

// A pipeline of actors: a source, four workers behind one Ref, and a sink
// that ends the run when it has every result. Swap Workers for Push/Pull
// stages and the same stages run in other processes.
func ExamplePipeline() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := patterns.NewPipeline()
	var words []string
	sink := patterns.Stage(p, "sink", func() actor.Behavior[string] {
		return actor.BehaviorFunc[string](func(_ context.Context, w string) error {
			if words = append(words, w); len(words) == 3 {
				return patterns.ErrStop
			}
			return nil
		})
	})
	upper := patterns.Workers(p, "upper", 4, func() actor.Behavior[string] {
		return actor.BehaviorFunc[string](func(ctx context.Context, w string) error {
			return sink.Tell(ctx, strings.ToUpper(w))
		})
	})
	p.Source("words", func(ctx context.Context) error {
		for _, w := range []string{"push", "pull", "pub"} {
			if err := upper.Tell(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
	check(p.Run(ctx))
	slices.Sort(words)
	fmt.Println(words)
	// Output: [PUB PULL PUSH]
}

// A pipeline whose stages talk over tcp, ended by its source: ErrStop
// drains it, and the Outbox given to the source with actor.WithOutput is
// shut down, its peer confirming that it has every message, before the
// stage downstream drains. So the sum is whole, though the sink never
// counts.
func ExamplePipeline_sourceStop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := patterns.NewPipeline()
	in, err := patterns.Pull(patterns.Binary[int64]{}, patterns.Bind("tcp://127.0.0.1:*"))
	check(err)
	var sum int64
	patterns.Stage(p, "sum", func() actor.Behavior[int64] {
		return actor.BehaviorFunc[int64](func(_ context.Context, n int64) error {
			sum += n
			return nil
		})
	}, actor.WithFeed(in))
	out, err := patterns.Push(patterns.Binary[int64]{}, patterns.Connect(in.Endpoint()))
	check(err)
	p.Source("numbers", func(ctx context.Context) error {
		for n := range int64(10000) {
			if err := out.Tell(ctx, n); err != nil {
				return err
			}
		}
		return patterns.ErrStop
	}, actor.WithOutput(out))
	check(p.Run(ctx))
	fmt.Println(sum)
	// Output: 49995000
}
