package socket_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// A ventilator hands tasks to a worker: PUSH to PULL, as in the guide's
// "Divide and Conquer". The same code runs over ipc:// or tcp://.
func Example_pushPull() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	worker, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	defer worker.Close()
	ep, err := worker.Bind("tcp://127.0.0.1:*") // any free port
	if err != nil {
		log.Fatal(err)
	}

	vent, err := socket.New(socket.Push)
	if err != nil {
		log.Fatal(err)
	}
	defer vent.Close()
	if err := vent.Connect(ep); err != nil {
		log.Fatal(err)
	}
	for _, task := range []string{"10", "20", "30"} {
		if err := vent.Send(ctx, socket.NewMsgString(task)); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 {
		m, err := worker.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("task", string(m[0]))
	}
	// Output:
	// task 10
	// task 20
	// task 30
}

// A client asks and a server answers: REQ to REP. REQ adds the empty
// delimiter and REP keeps the envelope for the reply; neither shows it.
func Example_reqRep() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	server, _ := socket.New(socket.Rep)
	defer server.Close()
	if _, err := server.Bind("inproc://example-reqrep"); err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			req, err := server.Recv(ctx)
			if err != nil {
				return
			}
			if err := server.Send(ctx, socket.NewMsgString("World "+string(req[0]))); err != nil {
				return
			}
		}
	}()

	client, _ := socket.New(socket.Req)
	defer client.Close()
	if err := client.Connect("inproc://example-reqrep"); err != nil {
		log.Fatal(err)
	}
	for i := range 2 {
		if err := client.Send(ctx, socket.NewMsgString(fmt.Sprint(i))); err != nil {
			log.Fatal(err)
		}
		reply, err := client.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(reply[0]))
	}
	// Output:
	// World 0
	// World 1
}

// A subscriber gets only the topics it asked for. Subscriptions take a
// moment to reach the publisher (the guide's "slow joiner"), so this
// publisher repeats until the subscriber has heard.
func Example_pubSub() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pub, _ := socket.New(socket.Pub)
	defer pub.Close()
	ep, err := pub.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}

	sub, _ := socket.New(socket.Sub)
	defer sub.Close()
	if err := sub.Connect(ep); err != nil {
		log.Fatal(err)
	}
	if err := sub.Subscribe([]byte("weather.")); err != nil {
		log.Fatal(err)
	}

	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			pub.Send(ctx, socket.NewMsgString("sports.", "0-0"))
			pub.Send(ctx, socket.NewMsgString("weather.", "sunny"))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	m, err := sub.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Strings())
	// Output:
	// [weather. sunny]
}

// A ROUTER sees who sent each message and answers that peer by name.
func Example_routerDealer() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	router, _ := socket.New(socket.Router)
	defer router.Close()
	ep, err := router.Bind("ipc://" + tempDir() + "/router")
	if err != nil {
		log.Fatal(err)
	}

	dealer, _ := socket.New(socket.Dealer, socket.WithIdentity([]byte("worker-1")))
	defer dealer.Close()
	if err := dealer.Connect(ep); err != nil {
		log.Fatal(err)
	}
	if err := dealer.Send(ctx, socket.NewMsgString("READY")); err != nil {
		log.Fatal(err)
	}

	m, err := router.Recv(ctx) // [identity, body]
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("from", string(m[0]), "got", string(m[1]))
	if err := router.Send(ctx, socket.NewMsg(m[0], []byte("work"))); err != nil {
		log.Fatal(err)
	}
	reply, err := dealer.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("worker-1 got", string(reply[0]))
	// Output:
	// from worker-1 got READY
	// worker-1 got work
}

// Monitor shows what happens to each connection, as libzmq's socket monitor.
func ExampleSocket_Monitor() {
	pull, _ := socket.New(socket.Pull)
	events := pull.Monitor() // before Bind, to see every event
	ep, err := pull.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}
	push, _ := socket.New(socket.Push)
	if err := push.Connect(ep); err != nil {
		log.Fatal(err)
	}
	timeout := time.After(5 * time.Second)
	for seen := false; !seen; {
		select {
		case e := <-events:
			fmt.Println(e.Kind)
			seen = e.Kind == socket.EventHandshakeOK
		case <-timeout:
			log.Fatal("no handshake")
		}
	}
	push.Close()
	pull.Close()
	// Output:
	// listening
	// accepted
	// handshake-ok
}

// Close lingers while queued messages go out, for up to WithLinger's period.
// Shutdown bounds that wait by a ctx instead, and says what it had to give
// up: here a PUSH connected to an endpoint where nothing listens yet, so its
// messages wait in the queue until the ctx ends.
func ExampleSocket_Shutdown() {
	push, err := socket.New(socket.Push)
	if err != nil {
		log.Fatal(err)
	}
	if err := push.Connect("ipc:///tmp/zmqflow-example-nobody-listens"); err != nil {
		log.Fatal(err)
	}
	for _, task := range []string{"10", "20", "30"} {
		if err := push.Send(context.Background(), socket.NewMsgString(task)); err != nil {
			log.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = push.Shutdown(ctx)
	fmt.Println(errors.Is(err, socket.ErrDiscarded), push.Stats().Discarded)
	// Output: true 3
}

// A PLAIN server checks each client's credentials with an Authenticator,
// which also learns where the client comes from: here it refuses, for a
// while, a host that failed three times, so that guessing passwords from it
// gets nowhere. (PLAIN sends passwords in clear: use it on a trusted network
// or in a tunnel.)
func ExampleWithPlainServer() {
	var mu sync.Mutex
	failures := map[string]int{} // by host
	auth := func(_ context.Context, r socket.AuthRequest) error {
		host, _, _ := strings.Cut(r.Remote, ":")
		mu.Lock()
		defer mu.Unlock()
		if failures[host] >= 3 {
			return errors.New("too many failures from this host")
		}
		if r.Username != "admin" || r.Password != "secret" {
			failures[host]++
			return errors.New("wrong user name or password")
		}
		return nil
	}
	server, err := socket.New(socket.Pull, socket.WithPlainServer(auth))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	ep, err := server.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}

	// A client with a wrong password is refused, and does not try again.
	guess, err := socket.New(socket.Push, socket.WithPlainClient("admin", "guess"))
	if err != nil {
		log.Fatal(err)
	}
	defer guess.Close()
	events := guess.Monitor()
	if err := guess.Connect(ep); err != nil {
		log.Fatal(err)
	}
	for e := range events {
		if e.Kind == socket.EventClosed {
			fmt.Println("refused:", errors.Is(e.Err, socket.ErrAuth))
			break
		}
	}

	client, err := socket.New(socket.Push, socket.WithPlainClient("admin", "secret"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := client.Connect(ep); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Send(ctx, socket.NewMsgString("hello")); err != nil {
		log.Fatal(err)
	}
	m, err := server.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m)
	// Output:
	// refused: true
	// ["hello"]
}
