// Command zprof is the telemetry collector of zmqflow programs: collect
// receives the batches of every process that runs with ZMQFLOW_PROFILE set,
// stores them and shows them live; top is a terminal view; report writes a
// static HTML page from a stored database. See README.md, or run zprof -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills at once: the default action.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // bind, database or I/O failed
	exitUsage = 2 // bad command line
)

const usage = `zprof: the telemetry collector of zmqflow programs.

Usage:
  zprof collect -bind EP -db FILE [-http ADDR] [-pub EP]
  zprof top -connect EP
  zprof report -db FILE -o OUT.html

Programs built on zmqflow ship their figures when ZMQFLOW_PROFILE is set to
the collector's endpoint (for example ZMQFLOW_PROFILE=tcp://host:5580).
Run zprof COMMAND -h for a command's flags.
`

// errUsage is a bad command line; its text says what was wrong.
var errUsage = errors.New("zprof: usage")

// run is zprof: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"collect": collectCmd, "top": topCmd, "report": reportCmd,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "zprof: unknown command %q (collect, top or report; zprof -h)\n", args[0])
		return exitUsage
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, err)
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, "zprof:", err)
		return exitFail
	}
	return exitOK
}

// flags returns a flag set for a command that prints its usage to stdout
// on -h and reports errors as errUsage.
func flags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: zprof %s %s\n\n", name, synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args, turning errors into errUsage, and checks that the
// flags named in required were given.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // Parse has printed the usage
		}
		return fmt.Errorf("%w: %s: %v (-h for help)", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q (-h for help)", errUsage, fs.Name(), fs.Arg(0))
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("%w: %s: -%s is required (-h for help)", errUsage, fs.Name(), name)
		}
	}
	return nil
}
