package socket_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// A last-value cache (the guide's chapter 5): the cache's XPUB answers each
// subscription with the last value it holds for the prefix. Verbose, it
// sees the second subscriber to "price." too, whose subscription a plain
// XPUB would swallow as a duplicate; the welcome tells each subscriber
// that it has reached the cache. The first subscriber gets the value a
// second time, when the cache answers the second.
func ExampleWithXPubWelcome() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	cache, err := socket.New(socket.XPub, socket.WithXPubVerbose(),
		socket.WithXPubWelcome(socket.NewMsgString("welcome")))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	ep, err := cache.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}
	last := map[string]socket.Msg{"price.": socket.NewMsgString("price.", "42")}

	// answer serves subscriptions until it has sent a cached value.
	answer := func() {
		for {
			m, err := cache.Recv(ctx)
			if err != nil {
				log.Fatal(err)
			}
			if len(m[0]) == 0 || m[0][0] != 1 {
				continue // a cancel
			}
			if v, ok := last[string(m[0][1:])]; ok {
				if err := cache.Send(ctx, v); err != nil {
					log.Fatal(err)
				}
				return
			}
		}
	}
	subscriber := func() *socket.Socket {
		sub, err := socket.New(socket.Sub)
		if err != nil {
			log.Fatal(err)
		}
		sub.Subscribe([]byte("welcome")) // before Connect, to get the welcome
		sub.Subscribe([]byte("price."))
		if err := sub.Connect(ep); err != nil {
			log.Fatal(err)
		}
		return sub
	}
	show := func(name string, sub *socket.Socket) {
		m, err := sub.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, m.Strings())
	}

	first := subscriber()
	defer first.Close()
	show("first", first)
	answer()
	show("first", first)

	second := subscriber()
	defer second.Close()
	show("second", second)
	answer()
	show("second", second)
	show("first", first)
	// Output:
	// first [welcome]
	// first [price. 42]
	// second [welcome]
	// second [price. 42]
	// first [price. 42]
}

// A client gives up on a request without closing its socket: relaxed, its
// REQ sends the request again; correlated, it takes only the reply to the
// request it sent last, though the late reply to the first comes first.
// The server is a ROUTER here, to show what goes over the wire: the
// request id after the routing identity, which it returns in the reply.
func ExampleWithReqRelaxed() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	server, err := socket.New(socket.Router)
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	ep, err := server.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}
	client, err := socket.New(socket.Req, socket.WithReqRelaxed(), socket.WithReqCorrelate())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := client.Connect(ep); err != nil {
		log.Fatal(err)
	}

	var reqs []socket.Msg
	for _, body := range []string{"try 1", "try 2"} {
		// No reply to "try 1" in time (not awaited here): ask again.
		if err := client.Send(ctx, socket.NewMsgString(body)); err != nil {
			log.Fatal(err)
		}
		m, err := server.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("server got %d frames, the body %q\n", len(m), m[3])
		reqs = append(reqs, m)
	}
	for _, m := range reqs { // the late reply first
		reply := socket.Msg{m[0], m[1], nil, append([]byte("answer to "), m[3]...)}
		if err := server.Send(ctx, reply); err != nil {
			log.Fatal(err)
		}
	}
	m, err := client.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client got", m.Strings())
	// Output:
	// server got 4 frames, the body "try 1"
	// server got 4 frames, the body "try 2"
	// client got [answer to try 2]
}

// A sensor reports its reading to a display that is not up yet. With
// conflate, only the latest reading waits for it: the display starts from
// the current value, not from a backlog.
func ExampleWithConflate() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	sensor, err := socket.New(socket.Push, socket.WithConflate())
	if err != nil {
		log.Fatal(err)
	}
	defer sensor.Close()
	if err := sensor.Connect("inproc://example-display"); err != nil {
		log.Fatal(err)
	}
	for _, reading := range []string{"20.1", "20.4", "21.0"} {
		if err := sensor.Send(ctx, socket.NewMsgString(reading)); err != nil {
			log.Fatal(err)
		}
	}

	display, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	defer display.Close()
	if _, err := display.Bind("inproc://example-display"); err != nil {
		log.Fatal(err)
	}
	m, err := display.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("now", string(m[0]))
	// Output:
	// now 21.0
}

// A sink bound where anyone may connect bounds what strangers can make it
// hold: at most two senders at once (WithMaxPeers), and at most 1 MiB of
// what they sent, all of them together, waiting for Recv (WithRecvBudget).
// A third sender is refused as it connects, and its PUSH keeps its message
// and tries again: once a place is free, it gets in.
func ExampleWithRecvBudget() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sink, err := socket.New(socket.Pull, socket.WithMaxPeers(2), socket.WithRecvBudget(1<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	events := sink.Monitor()
	ep, err := sink.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}
	// await returns the next event of the given kind.
	await := func(kind socket.EventKind) socket.Event {
		for {
			select {
			case e := <-events:
				if e.Kind == kind {
					return e
				}
			case <-ctx.Done():
				log.Fatalf("no %v: %v", kind, ctx.Err())
			}
		}
	}
	sender := func(text string) *socket.Socket {
		push, err := socket.New(socket.Push, socket.WithLinger(time.Second))
		if err != nil {
			log.Fatal(err)
		}
		if err := push.Connect(ep); err != nil {
			log.Fatal(err)
		}
		if err := push.Send(ctx, socket.NewMsgString(text)); err != nil {
			log.Fatal(err)
		}
		return push
	}
	recv := func() {
		m, err := sink.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("got", string(m[0]))
	}

	first := sender("one")
	recv()
	second := sender("two")
	defer second.Close()
	recv()
	third := sender("three")
	defer third.Close()
	e := await(socket.EventHandshakeFailed)
	fmt.Println("third refused:", errors.Is(e.Err, socket.ErrPeerLimit))
	first.Close() // a place is free
	recv()
	// Output:
	// got one
	// got two
	// third refused: true
	// got three
}
