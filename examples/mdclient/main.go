// Mdclient is the Majordomo client of "ZeroMQ - The Guide", chapter 4,
// "Service-Oriented Reliable Queuing (Majordomo Pattern)" (the guide's
// mdclient), in Go: it sends requests to the "echo" service through a
// Majordomo broker, each with the client's timeout and retries, checks that
// each reply echoes its request, and says how many went through. With
// -discover it first asks the broker whether the service exists (the
// guide's mmiecho, "Service Discovery"; exit status 1 if the service is
// not found). See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	connect  = flag.String("connect", "tcp://localhost:5555", "the broker")
	service  = flag.String("service", "echo", "the service to ask")
	n        = flag.Int("n", 100000, "requests to send")
	discover = flag.Bool("discover", false, "ask the broker first whether the service exists (MMI); exit status 1 if not")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mdclient: unexpected argument %q: mdclient takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "mdclient: -n must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		if !errors.Is(err, errNotFound) { // said on stdout already
			fmt.Fprintln(os.Stderr, "mdclient:", err)
		}
		os.Exit(1)
	}
}

// errNotFound is run's return when -discover finds no such service: the
// exit status is 1, as grep's for no match, so that a script can test it.
var errNotFound = errors.New("mdclient: service not found")

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	c, err := majordomo.NewClient(*connect)
	if err != nil {
		return err
	}
	defer c.Close()
	if *discover {
		ok, err := c.ServiceExists(ctx, *service)
		if err != nil {
			return err
		}
		fmt.Printf("I: service %q: %v\n", *service, map[bool]string{true: "found", false: "not found"}[ok])
		if !ok {
			return errNotFound
		}
	}
	start, done := time.Now(), 0
	for ; done < *n; done++ {
		want := fmt.Sprintf("Hello world %d", done)
		reply, err := c.Request(ctx, *service, []byte(want))
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d replies: %w", done, err)
		}
		// The echo comes back as the last frame (a worker may put more in
		// front, as the interop tests' Python worker does).
		if len(reply) == 0 || string(reply[len(reply)-1]) != want {
			return fmt.Errorf("reply %q to request %q", reply, want)
		}
		if done > 0 && done%10000 == 0 {
			fmt.Printf("I: %d requests/replies processed\n", done)
		}
	}
	el := time.Since(start)
	fmt.Printf("%d requests/replies processed in %v (%.0f a second)\n", done, el.Round(time.Millisecond), float64(done)/el.Seconds())
	if done < *n {
		return errors.New("interrupted")
	}
	return nil
}
