// Squares is the program of the article "Python Multiprocessing with
// ZeroMQ" (taotetek, 2011) written with zmqflow's typed actors: a ventilator
// hands out the numbers 0..n-1, workers square them, and a results manager
// adds the squares up and, when all are in, broadcasts FINISH so that the
// workers quit. It is the guide's "Divide and Conquer" (chapter 1) with the
// kill signal of chapter 2, "Handling Errors and ETERM".
//
// The actors' code is the same whatever -transport says; only where the
// workers run changes:
//
//	squares -transport inproc   workers are goroutines of this process
//	squares -transport ipc      workers are processes on this machine
//	squares -transport tcp      workers are processes, here or (started by
//	                            hand with -role worker) on other machines
//
// With ipc and tcp the workers are child processes kept running by a
// supervisor: one that crashes or is killed is started again, and the tasks
// it took with it are sent again. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
)

var (
	transport = flag.String("transport", "inproc", "inproc (goroutines), ipc (processes) or tcp (processes, machines)")
	workers   = flag.Int("workers", 10, "how many workers to start (with -role worker given by hand: how many the ventilator waits for)")
	n         = flag.Int("n", 10000, "square the numbers 0..n-1")
	role      = flag.String("role", "all", `"all": ventilator, results manager and workers; "manager": without workers (start them by hand); "worker": one worker`)
	tasksEP   = flag.String("tasks", "", "the ventilator's endpoint (default per transport: tcp://*:5557, ipc in a temporary directory, inproc)")
	resultsEP = flag.String("results", "", "the results manager's endpoint (default tcp://*:5558, ...)")
	controlEP = flag.String("control", "", "the results manager's control channel, where FINISH goes (default tcp://*:5559, ...)")
	id        = flag.Int("id", 0, "a worker's number, reported with its results (-role worker)")
	resend    = flag.Duration("resend", 2*time.Second, "send again the tasks whose results have not come when none has come for this long")
	work      = flag.Duration("work", 0, "how long a worker takes over each number, to play a real workload")
)

// badRange names the first flag whose value is out of its range, and the
// range, or is "" if every one is in range.
func badRange() string {
	switch {
	case *n < 1:
		return fmt.Sprintf("-n %d: want at least 1", *n)
	// -workers and -id travel as int32s.
	case *workers < 0 || *workers > math.MaxInt32:
		return fmt.Sprintf("-workers %d: want 1 to 2^31-1 (or 0, with -role manager)", *workers)
	case *role == "all" && *workers < 1:
		return fmt.Sprintf("-workers %d: want at least 1 (0 only with -role manager, with workers started by hand)", *workers)
	case *id < 0 || *id > math.MaxInt32:
		return fmt.Sprintf("-id %d: want 0 to 2^31-1", *id)
	case *resend <= 0:
		return fmt.Sprintf("-resend %v: want more than 0", *resend)
	case *work < 0:
		return fmt.Sprintf("-work %v: want 0 or more", *work)
	}
	return ""
}

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "squares: unexpected argument %q: squares takes flags only (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if msg := badRange(); msg != "" {
		fmt.Fprintln(os.Stderr, "squares:", msg)
		os.Exit(2)
	}
	if *role != "all" && *role != "manager" && *role != "worker" {
		fmt.Fprintf(os.Stderr, "squares: unknown -role %q: want all, manager or worker\n", *role)
		os.Exit(2)
	}
	if *transport != "inproc" && *transport != "ipc" && *transport != "tcp" {
		fmt.Fprintf(os.Stderr, "squares: unknown -transport %q: want inproc, ipc or tcp\n", *transport)
		os.Exit(2)
	}
	if *transport == "inproc" && *role == "manager" { // a worker's endpoints say its transport
		fmt.Fprintln(os.Stderr, "squares: -transport inproc runs everything in one process: -role manager needs ipc or tcp")
		os.Exit(2)
	}
	if *role == "worker" && (*tasksEP == "" || *resultsEP == "" || *controlEP == "") {
		fmt.Fprintln(os.Stderr, "squares: -role worker needs -tasks, -results and -control (the manager prints them)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch *role {
	case "worker":
		err = runWorker(ctx, int32(*id), endpoints{*tasksEP, *resultsEP, *controlEP})
	default:
		err = runManager(ctx)
	}
	telemetry.Flush() // the last figures, exact totals, when profiling (ZMQFLOW_PROFILE)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(os.Stderr, "squares:", err)
		os.Exit(1)
	}
}

// endpoints are where the three channels of the program are.
type endpoints struct {
	tasks, results, control string
}

// Task is a number to square: the ventilator sends it to one worker.
type Task struct{ N int64 }

// Report is what the results manager receives: the size of the batch, from
// the ventilator, then a Square from a worker for each number.
type Report struct {
	Kind   int8  // kindBatch or kindSquare (or kindTick, from its clock)
	N      int64 // the batch size, or the number squared
	Square int64
	Worker int32 // the worker's number and process id, for the counts
	Pid    int32
}

const (
	kindBatch int8 = iota + 1
	kindSquare
	kindTick
)

// finish is what the results manager broadcasts when all squares are in.
const finish = "FINISH"
