// Taskvent is the task ventilator of "ZeroMQ - The Guide", chapter 1,
// "Divide and Conquer", in Go. It hands a batch of tasks to the workers over a
// PUSH socket, after telling the sink that the batch starts and how big it is.
// Each task is a workload: a number of milliseconds, 1 to 100, for a worker to
// sleep.
//
// Start the sink first, then the workers, then this: see README.md.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	bindEP  = flag.String("bind", "tcp://*:5557", "where the workers connect to get tasks")
	sinkEP  = flag.String("sink", "tcp://localhost:5558", "the sink, told when the batch starts")
	tasks   = flag.Int("tasks", 100, "tasks in the batch")
	workers = flag.Int("workers", 0, "start as soon as this many workers are connected, instead of waiting for Enter")
	linger  = flag.Duration("linger", socket.DefaultLinger, "how long to wait at exit for queued tasks to go out")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "taskvent: unexpected argument %q: taskvent takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *tasks < 1 || *workers < 0 {
		fmt.Fprintln(os.Stderr, "taskvent: -tasks must be at least 1 and -workers at least 0")
		os.Exit(2)
	}
	// Ctrl-C cancels ctx, and with it every blocking call below. A second
	// Ctrl-C kills the program at once, as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx); err != nil && ctx.Err() == nil { // Ctrl-C is no failure
		fmt.Fprintln(os.Stderr, "taskvent:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	// The socket the tasks go out on. We bind and the workers connect: the
	// ventilator is a stable part of the network, at a known address, and
	// workers can come and go without anyone changing its configuration.
	sender, err := socket.New(socket.Push, socket.WithLinger(*linger))
	if err != nil {
		return err
	}
	// Close lingers until the queued tasks are out. The guide's C sleeps a
	// second before exiting for the same reason; here it is the socket's job.
	defer sender.Close()
	joins := sender.Monitor() // before Bind, to see every worker that connects
	ep, err := sender.Bind(*bindEP)
	if err != nil {
		return err
	}

	// The sink gets one message from us: the start of the batch. It starts
	// the sink's clock and says how many results to wait for.
	sink, err := socket.New(socket.Push, socket.WithLinger(*linger))
	if err != nil {
		return err
	}
	defer sink.Close()
	sinkEvents := sink.Monitor()
	if err := sink.Connect(*sinkEP); err != nil {
		return err
	}
	fmt.Printf("Tasks go out on %s, the start of the batch to the sink at %s\n", ep, *sinkEP)

	if err := ready(ctx, joins, sinkEvents); err != nil {
		return err
	}
	fmt.Printf("Sending %d tasks to workers...\n", *tasks)

	// The guide's ventilator sends "0" here, which only means "start"; its
	// sink has 100 written into it. We send the batch size, so that neither
	// side hard-codes it. Our sink still reads the guide's "0" as 100.
	if err := sink.Send(ctx, socket.NewMsgString(strconv.Itoa(*tasks))); err != nil {
		return err
	}

	total := 0 // the expected cost of the whole batch, in msec
	for range *tasks {
		workload := rand.IntN(100) + 1 // 1 to 100 msec
		total += workload
		// PUSH deals the tasks round-robin to the workers connected now,
		// without looking at how busy they are. With no worker connected at
		// all, Send waits for one: PUSH does not drop what it cannot send.
		if err := sender.Send(ctx, socket.NewMsgString(strconv.Itoa(workload))); err != nil {
			return err
		}
	}
	fmt.Printf("Total expected cost: %d msec\n", total)
	return nil
}

// ready returns when the batch may start: the user pressed Enter (or, with
// -workers N, N workers are connected) and the sink is connected. Meanwhile
// it reports each worker that connects or leaves.
//
// Why wait at all: connecting takes time, and PUSH deals tasks only among the
// workers connected at the moment it sends. Start while they are still
// connecting and the first one to arrive gets the whole batch: the guide's
// "slow joiner". Waiting for the sink makes sure the start of the batch
// reaches it before any result does.
func ready(ctx context.Context, joins, sinkEvents <-chan socket.Event) error {
	var enter <-chan struct{}
	if *workers == 0 {
		fmt.Println("Press Enter when the workers are ready:")
		enter = pressed()
	} else {
		// Else a ventilator with no worker yet says nothing at all.
		noun := "workers"
		if *workers == 1 {
			noun = "worker"
		}
		fmt.Printf("Waiting for %d %s to connect...\n", *workers, noun)
	}
	connected, start, sinkUp, said := 0, false, false, false
	for !start || !sinkUp {
		if start && !said {
			fmt.Printf("Waiting for the sink at %s...\n", *sinkEP)
			said = true
		}
		select {
		case ev := <-joins:
			switch ev.Kind {
			case socket.EventHandshakeOK:
				connected++
				fmt.Printf("Worker connected from %s (%d in all)\n", ev.Remote, connected)
			case socket.EventDisconnected:
				connected--
				fmt.Printf("Worker at %s left (%d in all)\n", ev.Remote, connected)
			}
			if *workers > 0 && connected >= *workers {
				start = true
			}
		case ev := <-sinkEvents:
			switch ev.Kind {
			case socket.EventHandshakeOK:
				sinkUp = true
			case socket.EventDisconnected:
				sinkUp = false
			}
		case <-enter:
			start, enter = true, nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// pressed returns a channel that is closed when a line (or the end) of the
// standard input has been read. A read of a terminal cannot be cancelled, so
// it runs in its own goroutine, which ends with the program.
func pressed() <-chan struct{} {
	c := make(chan struct{})
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		close(c)
	}()
	return c
}
