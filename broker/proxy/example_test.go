package proxy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zmqflow/zmqflow/broker/proxy"
	"github.com/zmqflow/zmqflow/socket"
)

// The guide's shared queue (ch. 2, msgqueue): REQ clients and REP workers
// meet at a ROUTER/DEALER proxy, with a capture socket (ch. 5, Espresso).
func ExampleQueue() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	q, err := proxy.NewQueue("inproc://queue-front", "inproc://queue-back")
	if err != nil {
		panic(err)
	}
	defer q.Close()

	rep, _ := socket.New(socket.Rep, socket.WithLinger(0))
	defer rep.Close()
	rep.Connect(q.Backend())
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			rep.Send(ctx, socket.NewMsgString("World, says "+string(m[0])))
		}
	}()

	req, _ := socket.New(socket.Req, socket.WithLinger(0))
	defer req.Close()
	req.Connect(q.Frontend())
	req.Send(ctx, socket.NewMsgString("Hello"))
	reply, err := req.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(reply[0]))
	cancel()
	// Output: World, says Hello
}

// The guide's pub-sub forwarder (ch. 2, wuproxy): the forwarder connects
// to the publisher ('>' means connect) and binds for subscribers, whose
// subscriptions it passes upstream.
func ExampleForwarder() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pub, _ := socket.New(socket.Pub, socket.WithLinger(0))
	defer pub.Close()
	pub.Bind("inproc://weather-server")

	f, err := proxy.NewForwarder(">inproc://weather-server", "inproc://weather-proxy")
	if err != nil {
		panic(err)
	}
	defer f.Close()

	sub, _ := socket.New(socket.Sub, socket.WithLinger(0))
	defer sub.Close()
	sub.Subscribe([]byte("10001 "))
	sub.Connect(f.Backend())

	// Publish until the subscription has come up through the forwarder
	// (the slow joiner, guide ch. 1).
	got := make(chan string, 1)
	go func() {
		m, err := sub.Recv(ctx)
		if err == nil {
			got <- string(m[0])
		}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		pub.Send(ctx, socket.NewMsgString("10002 rain"))
		pub.Send(ctx, socket.NewMsgString("10001 sun"))
		select {
		case s := <-got:
			fmt.Println(s)
			return
		case <-tick.C:
		}
	}
	// Output: 10001 sun
}

// Proxy joins any two sockets, as libzmq's zmq_proxy: here a PULL
// collecting from pushers and a PUSH fanning out, a streamer.
func ExampleProxy() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	in, _ := socket.New(socket.Pull, socket.WithLinger(0))
	out, _ := socket.New(socket.Push, socket.WithLinger(0))
	defer in.Close()
	defer out.Close()
	in.Bind("inproc://streamer-in")
	out.Bind("inproc://streamer-out")

	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proxy.Proxy(pctx, in, out, nil) }()

	src, _ := socket.New(socket.Push, socket.WithLinger(0))
	dst, _ := socket.New(socket.Pull, socket.WithLinger(0))
	defer src.Close()
	defer dst.Close()
	src.Connect("inproc://streamer-in")
	dst.Connect("inproc://streamer-out")
	src.Send(ctx, socket.NewMsgString("task 1"))
	m, _ := dst.Recv(ctx)
	fmt.Println(string(m[0]))

	stop()
	fmt.Println(<-done)
	// Output:
	// task 1
	// context canceled
}
