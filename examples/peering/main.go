// Peering is the broker federation of "ZeroMQ - The Guide", chapter 3,
// "Inter-Broker Routing" (the guide's peering1 to peering3), in Go: one broker per
// process, each with its own clients and workers, that tells its peers how
// many workers it has idle and lends them requests its own workers cannot
// take. Start several, each named and told its peers' names:
//
//	peering -name DC1 -peers DC2,DC3
//
// As the guide's, each broker starts local clients that send requests and
// local workers that take a random time over each, and prints where its
// requests went: to a local worker, or lent to a peer. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/broker/peering"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	name     = flag.String("name", "", "this broker's name (required); its endpoints are named after it")
	peers    = flag.String("peers", "", "the peers' names, comma-separated")
	dir      = flag.String("dir", ".", "where the ipc endpoints live (one directory for all the brokers)")
	nClients = flag.Int("clients", 10, "local clients")
	nWorkers = flag.Int("workers", 5, "local workers")
	tasks    = flag.Int("tasks", 10, "requests per client")
	work     = flag.Duration("work", time.Second, "a worker takes up to this long over a request")
	exit     = flag.Bool("exit", false, "exit once the local clients are done, instead of serving peers until interrupted")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "peering: unexpected argument %q: peering takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	switch {
	case *name == "":
		fmt.Fprintln(os.Stderr, "peering: -name is required")
		os.Exit(2)
	case *nClients < 0 || *nWorkers < 0 || *tasks < 1 || *work < 0:
		fmt.Fprintln(os.Stderr, "peering: -clients and -workers must be at least 0, -tasks at least 1 and -work at least 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		// The package's errors start with its name, which is ours.
		fmt.Fprintln(os.Stderr, "peering:", strings.TrimPrefix(err.Error(), "peering: "))
		os.Exit(1)
	}
}

// ep is the endpoint of a broker's socket, as the guide names them:
// ipc://NAME-localfe.ipc and so on.
func ep(broker, socket string) string {
	return fmt.Sprintf("ipc://%s/%s-%s.ipc", strings.TrimSuffix(*dir, "/"), broker, socket)
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	b, err := peering.NewBroker(*name, ep(*name, "localfe"), ep(*name, "localbe"), ep(*name, "cloud"), ep(*name, "state"))
	if err != nil {
		return err
	}
	defer b.Close()
	for _, p := range strings.Split(*peers, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if err := b.Peer(ep(p, "cloud"), ep(p, "state")); err != nil {
			return err
		}
	}
	fmt.Printf("I: broker %s, peers %q\n", *name, *peers)

	var workers []*pirate.Worker
	defer func() {
		for _, w := range workers {
			w.Close()
		}
	}()
	for range *nWorkers {
		w, err := pirate.NewWorker(b.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
			t := time.NewTimer(rand.N(*work + 1))
			defer t.Stop()
			select {
			case <-t.C:
				return append([][]byte{[]byte(*name)}, req...), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		if err != nil {
			return err
		}
		workers = append(workers, w)
	}

	var clients sync.WaitGroup
	errs := make(chan error, *nClients)
	for i := range *nClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			errs <- client(ctx, b.Frontend(), i)
		}()
	}
	clientsDone := make(chan struct{})
	go func() { clients.Wait(); close(clientsDone) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// The counts each second, when they changed: an idle broker is quiet.
	last := ""
	report := func(always bool) {
		s := b.Stats()
		line := fmt.Sprintf("I: %s: %d requests, %d replies; %d lent to peers, %d served for peers; %s with %s\n",
			*name, s.Requests, s.Replies, s.Forwarded, s.PeerRequests,
			plural(s.Peers, "peer", "peers"), plural(s.CloudIdle, "idle worker", "idle workers"))
		if always || line != last {
			fmt.Print(line)
			last = line
		}
	}
	for {
		select {
		case <-ctx.Done():
			report(true)
			return nil
		case <-tick.C:
			report(false)
		case <-clientsDone:
			clientsDone = nil
			close(errs)
			for err := range errs {
				if err != nil {
					return err
				}
			}
			// The broker counts a reply just after passing it on: wait for
			// the count to catch up with what the clients got.
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b.Wait(wctx, func(s peering.Stats) bool { return s.Replies >= uint64(*nClients**tasks) })
			cancel()
			report(true)
			fmt.Printf("I: %s: every local request answered\n", *name)
			if *exit {
				return nil
			}
		}
	}
}

// client sends its requests one at a time, each answered once (the client
// resends on a timeout, and a resend is never answered twice).
func client(ctx context.Context, frontend string, i int) error {
	c, err := pirate.NewClient(frontend, pirate.WithTimeout(*work*5+time.Second), pirate.WithRetries(5))
	if err != nil {
		return err
	}
	defer c.Close()
	for t := range *tasks {
		req := fmt.Sprintf("%s client %d task %d", *name, i, t)
		reply, err := c.Request(ctx, []byte(req))
		if err != nil {
			return fmt.Errorf("%s: %w", req, err)
		}
		if len(reply) != 2 || string(reply[1]) != req {
			return fmt.Errorf("reply %q to %q", reply, req)
		}
		fmt.Printf("I: %s served by %s\n", req, reply[0])
	}
	return nil
}

// plural is n and the noun, singular for one.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
