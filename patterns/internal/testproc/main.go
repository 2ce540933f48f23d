// Command testproc is the other process of the patterns tests: a squares
// worker, or a Lazy Pirate echo server that a test kills and restarts.
//
//	testproc worker -name w1 -tasks tcp://127.0.0.1:5557 -results tcp://127.0.0.1:5558
//	testproc echo -bind ipc:///tmp/echo -hold 5
//
// A worker runs until SIGTERM or SIGINT and then exits 0. The echo server
// answers "echo: " + the request; with -hold n it prints "holding" and stops
// answering at the n-th request, as a server that hangs would (the guide's
// lpserver simulates its crashes the same way).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/patterns/internal/squares"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testproc worker|echo [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "worker":
		err = worker(ctx, os.Args[2:])
	case "echo":
		err = echo(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "testproc:", err)
		os.Exit(1)
	}
}

func worker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	name := fs.String("name", "worker", "name put in each result")
	tasks := fs.String("tasks", "", "ventilator endpoint")
	results := fs.String("results", "", "sink endpoint")
	threads := fs.Int("threads", 2, "goroutines squaring")
	fs.Parse(args)
	var p patterns.Pipeline
	if err := squares.Worker(&p, *name, *tasks, *results, *threads); err != nil {
		return err
	}
	fmt.Println("ready")
	return p.Run(ctx)
}

func echo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	bind := fs.String("bind", "", "endpoint to serve on")
	hold := fs.Int("hold", 0, "stop answering at this request (0: never)")
	fs.Parse(args)
	n := 0
	rep, err := patterns.NewRep(patterns.String{}, patterns.String{},
		func(ctx context.Context, q string) (string, error) {
			n++
			if n == *hold {
				fmt.Println("holding")
				<-ctx.Done()
				return "", ctx.Err()
			}
			return "echo: " + q, nil
		}, patterns.Bind(*bind))
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return rep.Run(ctx)
}
