// Rrclient is the request-reply client of "ZeroMQ - The Guide", chapter 2,
// "Shared Queue (DEALER and ROUTER sockets)" (the guide's rrclient), in Go:
// a REQ socket that connects to the broker's frontend, sends "Hello" ten
// times and prints each reply. See ../rrbroker/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	connect = flag.String("connect", "tcp://localhost:5559", "the broker's frontend")
	n       = flag.Int("n", 10, "requests to send, one after the other")
	name    = flag.String("name", "", "if set, sent after Hello, so that workers can tell clients apart")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rrclient: unexpected argument %q: rrclient takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "rrclient: -n must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "rrclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	requester, err := socket.New(socket.Req)
	if err != nil {
		return err
	}
	defer requester.Close()
	if err := requester.Connect(*connect); err != nil {
		return err
	}
	for i := 1; i <= *n; i++ {
		req := "Hello"
		if *name != "" {
			req = fmt.Sprintf("Hello %s %d", *name, i)
		}
		if err := requester.Send(ctx, socket.NewMsgString(req)); err != nil {
			return err
		}
		reply, err := requester.Recv(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("Received reply %d [%s]\n", i, reply[0])
	}
	return nil
}
