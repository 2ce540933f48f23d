// Rrworker is the request-reply worker of "ZeroMQ - The Guide", chapter 2,
// "Shared Queue (DEALER and ROUTER sockets)" (the guide's rrworker), in Go:
// a REP socket that connects to the broker's backend, prints each request
// and answers "World". See ../rrbroker/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	connect = flag.String("connect", "tcp://localhost:5560", "the broker's backend")
	echo    = flag.Bool("echo", false, `answer "World" followed by what came after "Hello" in the request`)
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rrworker: unexpected argument %q: rrworker takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "rrworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	responder, err := socket.New(socket.Rep)
	if err != nil {
		return err
	}
	defer responder.Close()
	if err := responder.Connect(*connect); err != nil {
		return err
	}
	for {
		req, err := responder.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return err
		}
		fmt.Printf("Received request: [%s]\n", req[0])
		reply := "World"
		if rest, ok := strings.CutPrefix(string(req[0]), "Hello"); ok && *echo {
			reply += rest
		}
		if err := responder.Send(ctx, socket.NewMsgString(reply)); err != nil {
			return err
		}
	}
}
