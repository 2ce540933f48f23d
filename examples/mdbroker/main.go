// Mdbroker is the Majordomo broker of "ZeroMQ - The Guide", chapter 4,
// "Service-Oriented Reliable Queuing (Majordomo Pattern)" (the guide's
// mdbroker), in Go: clients ask for a service by name, workers offer one,
// and the broker queues each service's requests for its workers, with
// heartbeats both ways and the guide's service discovery (MMI,
// "mmi.service").
//
// It speaks 7/MDP on one ROUTER, so the guide's mdclient and mdworker,
// Python or C, work with it as ours do; see README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	bind    = flag.String("bind", "tcp://*:5555", "where clients and workers connect")
	verbose = flag.Bool("v", false, "log workers coming and going and every dropped message")
	every   = flag.Duration("stats", 5*time.Second, "how often to print the broker's counters, when they changed; 0 never")
	queue   = flag.Int("queue", 200000, "requests held for one service while they wait for a worker; beyond that the oldest is dropped (and counted)")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mdbroker: unexpected argument %q: mdbroker takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *queue < 1 {
		fmt.Fprintln(os.Stderr, "mdbroker: -queue must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mdbroker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	// The guide's asynchronous client (mdclient2) sends 100,000 requests
	// before it reads a reply, and its broker queues them all: a bound
	// below that drops most of them. The library's default suits a
	// service, not that demonstration.
	opts := []majordomo.Option{majordomo.WithServiceQueue(*queue)}
	if *verbose {
		log, err := zap.NewDevelopment()
		if err != nil {
			return err
		}
		defer log.Sync()
		opts = append(opts, majordomo.WithLogger(log))
	}
	b, err := majordomo.NewBroker(*bind, opts...)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Printf("I: Majordomo broker is active at %s\n", b.Endpoint())
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
			// An idle broker says nothing more: the same line every few
			// seconds would bury the ones that matter.
			if line := statsLine(b.Stats()); line != last {
				fmt.Println(line)
				last = line
			}
		}
	}
}

// statsLine is the broker's counters in one line: the gauges and the
// traffic always, each counter of trouble once it is not zero.
func statsLine(s majordomo.Stats) string {
	line := fmt.Sprintf("I: services %d, workers %d (idle %d), in flight %d, queued %d; requests %d, replies %d",
		s.Services, s.Workers, s.Idle, s.InFlight, s.Queued, s.Requests, s.Replies)
	for _, c := range []struct {
		name string
		n    uint64
	}{
		{"mmi", s.MMI}, {"expired", s.Expired}, {"requeued", s.Requeued}, {"abandoned", s.Abandoned},
		{"dead workers", s.Dead}, {"disconnects sent", s.Disconnects}, {"workers quit", s.WorkerQuits},
		{"malformed", s.Malformed}, {"overflow", s.Overflow}, {"no room", s.NoRoom}, {"over budget", s.OverBudget},
	} {
		if c.n != 0 {
			line += fmt.Sprintf(", %s %d", c.name, c.n)
		}
	}
	return line
}
