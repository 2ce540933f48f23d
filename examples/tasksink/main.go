// Tasksink is the task sink of "ZeroMQ - The Guide", chapter 1, "Divide and
// Conquer", with the kill signal of chapter 2, "Handling Errors and ETERM",
// in Go. It collects the results of a batch from the workers, reports how
// long the batch took, and publishes KILL so that the workers exit.
//
// Start it first, then the workers, then the ventilator: see README.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	bindEP  = flag.String("bind", "tcp://*:5558", "where the workers send results and the ventilator the start of the batch")
	killEP  = flag.String("kill", "tcp://*:5559", `where the kill signal is published; "" for none (the chapter 1 sink)`)
	tasks   = flag.Int("tasks", 100, `results to expect when the start of the batch does not say (the guide's ventilator sends "0")`)
	timeout = flag.Duration("timeout", 10*time.Second, "give up when no result has come for this long, and report what is missing; 0 waits forever, as the guide's sink")
	linger  = flag.Duration("linger", socket.DefaultLinger, "how long to wait at exit for the kill signal to go out")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tasksink: unexpected argument %q: tasksink takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *tasks < 1 || *timeout < 0 {
		fmt.Fprintln(os.Stderr, "tasksink: -tasks must be at least 1 and -timeout at least 0")
		os.Exit(2)
	}
	// Ctrl-C cancels ctx, and with it every blocking call below. A second
	// Ctrl-C kills the program at once, as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tasksink:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	defer telemetry.Flush() // last, after the sockets closed: exact totals when profiling (ZMQFLOW_PROFILE)
	// Results from every worker come in on one PULL socket, fair-queued:
	// each connected worker gets its turn. We bind, the workers connect.
	receiver, err := socket.New(socket.Pull)
	if err != nil {
		return err
	}
	defer receiver.Close()
	resultsAt, err := receiver.Bind(*bindEP)
	if err != nil {
		return err
	}
	// The kill signal goes out on a PUB socket, to every worker at once.
	var controller *socket.Socket
	killAt := "nowhere"
	if *killEP != "" {
		if controller, err = socket.New(socket.Pub, socket.WithLinger(*linger)); err != nil {
			return err
		}
		// Close lingers until KILL is out. The guide's C sleeps a second
		// after sending it, for the same reason.
		defer controller.Close()
		if killAt, err = controller.Bind(*killEP); err != nil {
			return err
		}
	}
	fmt.Printf("Collecting results on %s, kill signal on %s\n", resultsAt, killAt)

	// Wait for the start of the batch, for as long as it takes: someone has
	// to press Enter at the ventilator.
	expect, early, err := awaitStart(ctx, receiver)
	if err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C before the batch: nothing to report
		}
		return err
	}
	start := time.Now() // start our clock now
	fmt.Printf("Start of batch: %d results to collect\n", expect)

	got, byWorker := 0, map[string]int{}
	for got < expect {
		var m socket.Msg
		if len(early) > 0 {
			m, early = early[0], early[1:]
		} else if m, err = recvWithin(ctx, receiver, *timeout); err != nil {
			break // no result for -timeout, or Ctrl-C: reported below
		}
		count(byWorker, m[0])
		if got%10 == 0 {
			fmt.Print(":")
		} else {
			fmt.Print(".")
		}
		got++
	}
	fmt.Println()
	elapsed := time.Since(start).Milliseconds()
	if got == expect {
		fmt.Printf("Total elapsed time: %d msec\n", elapsed)
	} else {
		// A worker died (or was stopped) with tasks in its queue, or a
		// task was lost on the way. The pipeline has no way to know which,
		// and nobody resends: the guide's pipeline has no recovery. All the
		// sink can do is not wait forever, and say what is missing. A
		// pipeline that hands a lost worker's tasks out again needs a
		// broker in the middle: the guide's chapters 3 and 4, zmqflow's
		// pirate.LoadBalancer.
		why := fmt.Sprintf("none came for %v", *timeout)
		if ctx.Err() != nil {
			why = "interrupted"
		}
		fmt.Printf("Incomplete batch: %d of %d results in %d msec, %d missing (%s)\n",
			got, expect, elapsed, expect-got, why)
		fmt.Println("Lost tasks are not sent again: a worker that dies takes its queued tasks with it")
	}
	fmt.Printf("Results by worker: %s\n", tally(byWorker))

	if controller != nil && ctx.Err() == nil {
		// Send the kill signal to the workers. Only those subscribed now
		// hear it: a worker that connects later never does. (Count them
		// first: a worker that hears it may be gone a moment later.)
		n := controller.Stats().Subscribers
		if err := controller.Send(ctx, socket.NewMsgString("KILL")); err != nil {
			return err
		}
		fmt.Printf("KILL sent to the workers subscribed: %d\n", n)
	}
	if got < expect {
		return fmt.Errorf("%d of %d results missing", expect-got, expect)
	}
	return nil
}

// awaitStart waits for the start of the batch and returns how many results
// to collect, with the results that came before it. Our ventilator sends the
// batch size; the guide's sends "0", which carries no number, so it means
// the guide's batch of -tasks (100).
//
// A result can come first: PULL fair-queues its peers, taking one message
// from each in turn, not in the order they were sent, and the ventilator's
// connection can be slower than a worker's. Such results count in the batch,
// as in the guide's sink, which counts every message after its first. (A
// worker left over from an earlier batch would be counted too: start the
// sink first.)
func awaitStart(ctx context.Context, receiver *socket.Socket) (int, []socket.Msg, error) {
	var early []socket.Msg
	for {
		m, err := receiver.Recv(ctx)
		if err != nil {
			return 0, nil, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(m[0])))
		switch {
		case err == nil && n == 0:
			return *tasks, early, nil
		case err == nil && n > 0:
			return n, early, nil
		}
		if len(early) == maxEarly {
			fmt.Fprintf(os.Stderr, "tasksink: ignoring %s: %d results came before the start of the batch already\n", m, maxEarly)
			continue
		}
		fmt.Fprintf(os.Stderr, "tasksink: %s came before the start of the batch: it counts in the batch\n", m)
		// Only its worker's name counts, as count keeps it: a result may
		// be of 256 MiB.
		early = append(early, socket.Msg{bytes.Clone(m[0][:min(len(m[0]), maxName)])})
	}
}

// maxEarly bounds the results kept while the sink waits for the start.
const maxEarly = 10_000

// recvWithin receives one message, waiting at most d (forever if d is 0).
func recvWithin(ctx context.Context, s *socket.Socket, d time.Duration) (socket.Msg, error) {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return s.Recv(ctx)
}

// The names tallied: at most maxNames of them, each cut at maxName bytes.
// Workers choose their names (a result's frame, of up to 256 MiB), and the
// start of the batch, which anyone may send, says how many results come:
// without a bound, results naming a new worker each would grow the tally
// until the sink ran out of memory. Past it, results count under others.
const (
	maxNames = 1000
	maxName  = 64
	others   = "\x00others" // no worker's name: a ROUTER keeps a leading zero byte for its own
)

// count adds a result from the worker named name to byWorker.
func count(byWorker map[string]int, name []byte) {
	if len(name) > maxName {
		name = name[:maxName]
	}
	if _, ok := byWorker[string(name)]; !ok && len(byWorker) >= maxNames {
		byWorker[others]++
		return
	}
	byWorker[string(name)]++
}

// tally formats the results each worker sent, by name: "w1 34, w2 33".
func tally(byWorker map[string]int) string {
	if len(byWorker) == 0 {
		return "none"
	}
	var parts []string
	for _, w := range slices.Sorted(maps.Keys(byWorker)) {
		label := w
		switch label {
		case "":
			label = "(unnamed)" // the guide's workers send empty results
		case others:
			label = fmt.Sprintf("(others, past %d names)", maxNames)
		}
		parts = append(parts, fmt.Sprintf("%s %d", label, byWorker[w]))
	}
	return strings.Join(parts, ", ")
}
