package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/zmqflow/zmqflow/examples/gridsearch/gridsearch"
)

// workerCmd is "gridsearch worker -connect EP [-slots N]": slots that run
// the points' commands for a master until Ctrl-C (or SIGTERM). A master
// that goes away is waited for: the slots reconnect, with back-off, to the
// next master on the same endpoint.
func workerCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	connect := fs.String("connect", "", "the master's -bind endpoint, e.g. tcp://master:5555")
	slots := fs.Int("slots", runtime.NumCPU(), "points run at once")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: gridsearch worker -connect tcp://HOST:PORT [-slots N]")
			fs.PrintDefaults()
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case *connect == "":
		return fmt.Errorf("%w: worker needs -connect tcp://HOST:PORT, the master's -bind", errUsage)
	case *slots < 1:
		return fmt.Errorf("%w: -slots %d, want at least 1", errUsage, *slots)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: worker takes no arguments (the command comes from the master): %q", errUsage, fs.Args())
	}
	fmt.Fprintf(os.Stderr, "gridsearch worker: %d slots on %s for %s\n", *slots, gridsearch.Hostname(), *connect)
	return gridsearch.Serve(ctx, *connect, *slots, nil)
}
