// Ppworker is the Paranoid Pirate worker of "ZeroMQ - The Guide", chapter 4,
// "Robust Reliable Queuing (Paranoid Pirate Pattern)" (the guide's
// ppworker), in Go: it tells the queue it is READY, answers each request
// (an echo, after a second of "work"), heartbeats the queue both ways, and
// when the queue goes silent it reconnects with a back-off that doubles from
// 1 s to 32 s.
//
// As the guide's, it simulates problems once it has done a few requests: a
// crash (it exits) or an overload (it takes three seconds more), so that the
// queue's reliability can be watched; -simulate=false turns that off. See
// README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	connect  = flag.String("connect", "tcp://localhost:5556", "the queue's backend")
	work     = flag.Duration("work", time.Second, "how long each request takes")
	simulate = flag.Bool("simulate", true, "after a few requests, crash now and then (1 in 5) or overload (1 in 3)")
	interval = flag.Duration("heartbeat", time.Second, "heartbeat interval; the queue's must match")
	liveness = flag.Int("liveness", 3, "heartbeats missed before the queue is taken for dead")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ppworker: unexpected argument %q: ppworker takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *interval <= 0 || *liveness < 1 || *work < 0 {
		fmt.Fprintln(os.Stderr, "ppworker: -heartbeat must be more than 0, -liveness at least 1 and -work at least 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ppworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	cycles := 0
	handle := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		cycles++
		if *simulate && cycles > 3 {
			switch rand.IntN(15) {
			case 0, 1, 2:
				fmt.Println("I: simulating a crash")
				os.Exit(1) // as a crash would: no Close, no Flush, the last interval lost
			case 3, 4, 5, 6, 7:
				fmt.Println("I: simulating CPU overload")
				if err := sleep(ctx, 3*time.Second); err != nil {
					return nil, err
				}
			}
		}
		fmt.Printf("I: normal reply %q\n", req)
		if err := sleep(ctx, *work); err != nil {
			return nil, err
		}
		return req, nil
	}
	w, err := pirate.NewWorker(*connect, handle,
		pirate.WithHeartbeat(*interval, *liveness), pirate.WithReconnect(time.Second, 32*time.Second))
	if err != nil {
		return err
	}
	fmt.Printf("I: worker ready, queue at %s\n", *connect)
	<-ctx.Done()
	w.Close()
	return nil
}

// sleep waits d, or less when the worker is closed.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
