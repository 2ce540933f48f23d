// Lpclient is the Lazy Pirate client of "ZeroMQ - The Guide", chapter 4,
// "Client-Side Reliability (Lazy Pirate Pattern)" (the guide's lpclient),
// in Go: a REQ client that waits 2.5 s for each reply and, when none comes,
// closes its socket, opens a new one and sends the request again, three
// tries in all, before it gives the server up.
//
// It sends sequence numbers and checks that each reply is the request
// echoed, so it works with the guide's lpserver and, through ppqueue, with
// ppworker: ours or the guide's. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	connect = flag.String("connect", "tcp://localhost:5555", "the server, or the queue's frontend")
	timeout = flag.Duration("timeout", 2500*time.Millisecond, "how long to wait for each reply (REQUEST_TIMEOUT)")
	tries   = flag.Int("tries", 3, "tries per request, the first included (REQUEST_RETRIES)")
	n       = flag.Int("n", 0, "requests to send; 0 until interrupted")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "lpclient: unexpected argument %q: lpclient takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *tries < 1 || *n < 0 || *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "lpclient: -tries must be at least 1, -n at least 0 and -timeout more than 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lpclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	req, err := patterns.Req(patterns.String{}, patterns.String{},
		patterns.Connect(*connect), patterns.LazyPirate(*timeout, *tries-1),
		patterns.OnRetry(func(int, error) {
			fmt.Println("W: no response from server, retrying...")
			fmt.Println("I: reconnecting to server...")
		}))
	if err != nil {
		return err
	}
	defer req.Close()
	fmt.Printf("I: connecting to server at %s\n", *connect)
	for seq := 1; *n == 0 || seq <= *n; seq++ {
		want := strconv.Itoa(seq)
		reply, err := actor.Ask(ctx, req.Ref(), want)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, patterns.ErrNoReply):
			return errors.New("server seems to be offline, abandoning")
		case err != nil:
			return err
		case reply != want:
			return fmt.Errorf("malformed reply from server: %q for request %q", reply, want)
		}
		fmt.Printf("I: server replied OK (%s)\n", reply)
	}
	return nil
}
