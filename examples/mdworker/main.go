// Mdworker is the Majordomo worker of "ZeroMQ - The Guide", chapter 4,
// "Service-Oriented Reliable Queuing (Majordomo Pattern)" (the guide's
// mdworker), in Go: it offers the "echo" service to a Majordomo broker and
// sends each request back as its reply. Heartbeats, reconnects and the
// protocol (7/MDP) are the package's; the service is a Go function.
// See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	connect = flag.String("connect", "tcp://localhost:5555", "the broker")
	service = flag.String("service", "echo", "the service to offer")
	quiet   = flag.Bool("q", false, "do not print each request")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mdworker: unexpected argument %q: mdworker takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mdworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	echo := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if !*quiet {
			fmt.Printf("I: %s request %q\n", *service, req)
		}
		return req, nil
	}
	w, err := majordomo.NewWorker(*connect, *service, echo)
	if err != nil {
		return err
	}
	fmt.Printf("I: offering %q at %s\n", *service, *connect)
	<-ctx.Done()
	w.Close()
	return nil
}
