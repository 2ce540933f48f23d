// Mspoller is the multiple socket poller of "ZeroMQ - The Guide", chapter 2,
// "Handling Multiple Sockets" (the guide's mspoller), in Go: one loop reads
// tasks from a ventilator (PULL) and weather updates for one zip code from
// a weather server (SUB), whichever has something, with socket.Poll.
//
// The guide's loop runs for ever; this one stops once -tasks tasks and
// -updates weather updates came, if either is given, and prints what it
// processed. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	ventEP    = flag.String("vent", "tcp://localhost:5557", "the task ventilator (PUSH) to connect to")
	weatherEP = flag.String("weather", "tcp://localhost:5556", "the weather server (PUB) to connect to")
	zip       = flag.String("zip", "10001 ", "the weather updates to subscribe to (a prefix)")
	maxTasks  = flag.Int("tasks", 0, "stop once this many tasks and -updates updates came (both 0: never stop)")
	maxUpdate = flag.Int("updates", 0, "stop once this many weather updates and -tasks tasks came")
	quiet     = flag.Bool("q", false, "print only the totals")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mspoller: unexpected argument %q: mspoller takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *maxTasks < 0 || *maxUpdate < 0 {
		fmt.Fprintln(os.Stderr, "mspoller: -tasks and -updates must be at least 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mspoller:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	receiver, err := socket.New(socket.Pull)
	if err != nil {
		return err
	}
	defer receiver.Close()
	if err := receiver.Connect(*ventEP); err != nil {
		return err
	}
	subscriber, err := socket.New(socket.Sub)
	if err != nil {
		return err
	}
	defer subscriber.Close()
	if err := subscriber.Subscribe([]byte(*zip)); err != nil {
		return err
	}
	if err := subscriber.Connect(*weatherEP); err != nil {
		return err
	}
	fmt.Printf("I: tasks from %s, weather for %q from %s\n", *ventEP, *zip, *weatherEP)

	// The poll set: both sockets, for input. Poll fills in Ready.
	items := []socket.PollItem{
		{Socket: receiver, Events: socket.PollIn},
		{Socket: subscriber, Events: socket.PollIn},
	}
	tasks, updates := 0, 0
	defer func() { fmt.Printf("I: processed %d tasks and %d weather updates\n", tasks, updates) }()
	forever := *maxTasks == 0 && *maxUpdate == 0
	for forever || tasks < *maxTasks || updates < *maxUpdate {
		if _, err := socket.Poll(ctx, items); err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return err
		}
		// Where the guide calls a blocking recv after zmq_poll, TryRecv
		// takes what Poll saw without ever waiting.
		if items[0].Ready&socket.PollIn != 0 {
			m, err := recv(receiver)
			if err != nil {
				return err
			}
			if m != nil {
				tasks++
				if !*quiet {
					fmt.Printf("Task: %s\n", m[0]) // process task
				}
			}
		}
		if items[1].Ready&socket.PollIn != 0 {
			m, err := recv(subscriber)
			if err != nil {
				return err
			}
			if m != nil {
				updates++
				if !*quiet {
					fmt.Printf("Weather: %s\n", m[0]) // process weather update
				}
			}
		}
	}
	return nil
}

// recv takes one message without waiting; nil if there was none after all.
func recv(s *socket.Socket) (socket.Msg, error) {
	m, err := s.TryRecv()
	if errors.Is(err, socket.ErrWouldBlock) {
		return nil, nil
	}
	return m, err
}
