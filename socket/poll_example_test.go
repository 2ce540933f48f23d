package socket_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// One loop serves two sockets, as the guide's mspoller does with zmq_poll:
// tasks on a PULL and weather updates on a SUB. Poll says which has
// something; TryRecv takes it without waiting.
func ExamplePoll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	receiver, _ := socket.New(socket.Pull)
	defer receiver.Close()
	receiver.Bind("inproc://example-poll-tasks")
	subscriber, _ := socket.New(socket.Sub)
	defer subscriber.Close()
	subscriber.Bind("inproc://example-poll-weather")
	subscriber.Subscribe([]byte("10001 "))

	vent, _ := socket.New(socket.Push)
	defer vent.Close()
	vent.Connect("inproc://example-poll-tasks")
	weather, _ := socket.New(socket.Pub)
	defer weather.Close()
	weather.Connect("inproc://example-poll-weather") // inproc: subscribed once connected
	vent.Send(ctx, socket.NewMsgString("task 1"))
	weather.Send(ctx, socket.NewMsgString("10001 25C"))
	vent.Send(ctx, socket.NewMsgString("task 2"))

	items := []socket.PollItem{
		{Socket: receiver, Events: socket.PollIn},
		{Socket: subscriber, Events: socket.PollIn},
	}
	for got := 0; got < 3; {
		if _, err := socket.Poll(ctx, items); err != nil {
			log.Fatal(err)
		}
		for _, it := range items {
			if it.Ready&socket.PollIn == 0 {
				continue
			}
			m, err := it.Socket.TryRecv()
			if errors.Is(err, socket.ErrWouldBlock) {
				continue
			}
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%v: %s\n", it.Socket.Type(), m[0])
			got++
		}
	}
	// Unordered output:
	// PULL: task 1
	// PULL: task 2
	// SUB: 10001 25C
}

// Readable fits a select among other channels: here a Go channel of
// commands and a socket. A case the select does not pick loses nothing:
// the message stays queued for the next TryRecv.
func ExampleSocket_Readable() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	pull.Bind("inproc://example-readable")
	push, _ := socket.New(socket.Push)
	defer push.Close()
	push.Connect("inproc://example-readable")
	push.Send(ctx, socket.NewMsgString("hello"))

	commands := make(chan string, 1)
	commands <- "status"
	for done := 0; done < 2; {
		select {
		case <-pull.Readable():
			m, err := pull.TryRecv()
			if errors.Is(err, socket.ErrWouldBlock) {
				continue
			}
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println("message:", string(m[0]))
			done++
		case c := <-commands:
			fmt.Println("command:", c)
			done++
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		}
	}
	// Unordered output:
	// command: status
	// message: hello
}
