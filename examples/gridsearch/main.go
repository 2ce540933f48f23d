// Gridsearch runs a command, or a Go function, for every point of a
// parameter grid on workers on one or many machines: the job of the seed
// article "Easy cluster parallelization with ZeroMQ", on the load-balancing
// broker of "ZeroMQ - The Guide" ch. 3 and the Paranoid Pirate heartbeats of
// ch. 4 (package broker/pirate). Workers ask for work, so uneven job durations do
// not stall it the way PUSH round-robin does; a worker that dies has its
// point run elsewhere.
//
//	gridsearch                       a built-in demo on local workers
//	gridsearch run [flags] -- CMD    every point of the grid, CMD with {name}, {#}, {%} replaced
//	gridsearch worker -connect EP    worker slots for a master started with -bind
//	gridsearch keygen -o NAME        a CURVE key pair for -key (key.go)
//	gridsearch bench                 the dispatch benchmark (task sets T0-T2, see bench.go)
//
// See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/telemetry"
)

// errUsage marks an error in what the user asked: exit status 2, and no work done.
var errUsage = errors.New("usage")

func main() {
	os.Exit(mainArgs(os.Args[1:]))
}

func mainArgs(args []string) int {
	defer telemetry.Flush() // last: exact totals when profiling (ZMQFLOW_PROFILE)
	// Ctrl-C cancels ctx: no new points start, running ones are given up
	// (their commands' process groups killed), the results file is flushed
	// and closed. SIGTERM and SIGHUP (the end of an ssh session) do the
	// same, since commands run in process groups of their own, which the
	// terminal's signals do not reach; but SIGHUP only when it is not
	// ignored (nohup), as catching it would undo that. A second signal
	// kills the program at once, as usual (the file then may end in a cut
	// line, which -resume drops; the commands die with it, their children
	// may not).
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	go func() { <-ctx.Done(); stop() }()
	defer stop()

	var err error
	cmd := "demo"
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-' || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "demo":
		err = demo(ctx, args)
	case "run":
		err = runCmd(ctx, args)
	case "worker":
		err = workerCmd(ctx, args)
	case "bench":
		err = benchCmd(ctx, args)
	case "keygen":
		err = keygenCmd(args)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q (want run, worker, keygen, bench or demo; -h for help)", errUsage, cmd)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "gridsearch:", trimUsage(err))
		return 2
	case errors.Is(err, errSilent):
		return 1
	case errors.Is(err, gridsearch.ErrInterrupted), errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "gridsearch: interrupted; the results file is complete up to here, -resume continues it")
		return 130
	default:
		// The library's errors start with its name, which is ours.
		fmt.Fprintln(os.Stderr, "gridsearch:", strings.TrimPrefix(err.Error(), "gridsearch: "))
		return 1
	}
}

var (
	errHelp   = errors.New("help shown")
	errSilent = errors.New("reported already")
)

// trimUsage drops the "usage: " that wrapping with errUsage puts first.
func trimUsage(err error) string {
	s := err.Error()
	if len(s) > 7 && s[:7] == "usage: " {
		return s[7:]
	}
	return s
}

const usage = `gridsearch: run a command for every point of a parameter grid on many workers

  gridsearch                          built-in demo: sin(p+2q) on a 2-D grid, local workers
  gridsearch run [flags] -- CMD ARG.. run CMD for each point, {name} replaced by its value
  gridsearch worker -connect tcp://HOST:PORT [-slots N] [-idle D] [-lost D] [-key FILE]
                                      run points for a master started with -bind
  gridsearch keygen -o NAME           a cluster key: NAME_secret for run's and worker's -key
  gridsearch bench [-quick] [-only T1,T2,T0,true,sleep]
                                      the dispatch benchmark: task sets T0-T2 (G/T, points/s)

Parameters (-param name=SPEC, repeated; the product of all is the grid):
  a,b,c       a list, taken as written     a:b:n      n numbers from a to b
  a:b:log:n   n numbers, log-spaced        a..b       integers a to b (a..b..step)
Or -points FILE: the points one a row, CSV with a header of names or JSON Lines.
-dry-run prints the commands; -plot, -halt, -results: see gridsearch run -h.

Placeholders in CMD ARG..: {name} a parameter's value, {#} the point's index
(from 0), {%} the worker slot's number (from 0); {{ and }} are a literal { and }.

gridsearch run -h lists run's flags.
`

// spareProc lets the Go scheduler keep a processor (a P) for its own work
// while every one of slots command slots forks: Go's fork blocks the
// forking thread, and the P it runs on, until the child has called exec,
// some 0.1 ms per command. With GOMAXPROCS at the number of cores and as
// many slots, dispatch could stall behind them: 2,000 /bin/true on 2
// slots, in one process taking turns, took 1.11x xargs -P2's time at
// GOMAXPROCS 2 and 1.02x at 3 (medians of 9 runs side by side). It never
// lowers GOMAXPROCS, leaves one set in the environment alone, and stops at
// twice the cores.
func spareProc(slots int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if n := runtime.GOMAXPROCS(0); n <= slots {
		runtime.GOMAXPROCS(max(n, min(slots+1, 2*runtime.NumCPU())))
	}
}
