// Ppqueue is the Paranoid Pirate queue of "ZeroMQ - The Guide", chapter 4,
// "Robust Reliable Queuing (Paranoid Pirate Pattern)" (the guide's
// ppqueue), in Go: a load balancer between clients on its frontend and
// workers on its backend, which heartbeats its workers, buries the silent
// ones, and hands a dead worker's request to another.
//
// It is package broker/pirate's LoadBalancer with the guide's ports and
// heartbeat; see README.md for running it with ppworker and lpclient,
// ours or the guide's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	frontend = flag.String("frontend", "tcp://*:5555", "where clients connect")
	backend  = flag.String("backend", "tcp://*:5556", "where workers connect")
	interval = flag.Duration("heartbeat", time.Second, "heartbeat interval (the guide's HEARTBEAT_INTERVAL)")
	liveness = flag.Int("liveness", 3, "heartbeats missed before a worker is dead (HEARTBEAT_LIVENESS)")
	every    = flag.Duration("stats", 5*time.Second, "how often to print the queue's counters, when they changed; 0 never")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ppqueue: unexpected argument %q: ppqueue takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *interval <= 0 || *liveness < 1 {
		fmt.Fprintln(os.Stderr, "ppqueue: -heartbeat must be more than 0 and -liveness at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ppqueue:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	lb, err := pirate.NewLoadBalancer(*frontend, *backend, pirate.WithHeartbeat(*interval, *liveness))
	if err != nil {
		return err
	}
	defer lb.Close()
	// The endpoints as bound: with "tcp://*:0" the port the system chose.
	fmt.Printf("I: clients on %s, workers on %s\n", lb.Frontend(), lb.Backend())
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	last := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			// When they changed: an idle queue is quiet.
			s := lb.Stats()
			line := fmt.Sprintf("I: %s (%d idle), %d requests, %d replies, %d requeued, %s\n",
				plural(s.Workers, "worker", "workers"), s.Idle, s.Requests, s.Replies, s.Requeued,
				plural(int(s.Dead), "dead worker", "dead workers"))
			if line != last {
				fmt.Print(line)
				last = line
			}
		}
	}
}

// plural is n and the noun, singular for one.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
