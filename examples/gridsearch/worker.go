package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/gridsearch"
)

// workerCmd is "gridsearch worker -connect EP [-slots N] [-idle D] [-lost D]": slots
// that run the points' commands for a master until Ctrl-C (or SIGTERM or
// SIGHUP), or with -idle until no master has been heard for D: status 0
// after serving one, 1 if none was ever heard, either way. A master that
// goes away is waited for: the slots reconnect, with back-off, to the next
// master on the same endpoint.
func workerCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	connect := fs.String("connect", "", "the master's -bind endpoint, e.g. tcp://master:5555")
	slots := fs.Int("slots", runtime.NumCPU(), "points run at once")
	idle := fs.Duration("idle", 0, "exit after this long without a master (from the start, or since the last one finished): status 0, or 1 if no master was ever heard; 0: never")
	lost := fs.Duration("lost", 10*time.Second, "say on stderr when no master has been heard for this long, and again when one is; 0: never")
	key := fs.String("key", "", "the cluster key (gridsearch keygen's NAME_secret), as the master's -key")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: gridsearch worker -connect tcp://HOST:PORT [-slots N] [-idle D] [-lost D] [-key FILE]")
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
	case *idle != 0 && *idle < minIdle:
		return fmt.Errorf("%w: -idle %v: want 0 (never) or at least %v (a new master is heard some seconds after the last)", errUsage, *idle, minIdle)
	case *lost != 0 && *lost < minLost:
		return fmt.Errorf("%w: -lost %v: want 0 (never) or at least %v (a master is heard once a second)", errUsage, *lost, minLost)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: worker takes no arguments (the command comes from the master): %q", errUsage, fs.Args())
	}
	sockOpts, warning, err := workerKey(*key, *connect)
	if err != nil {
		return err
	}
	watch, err := watchHandshake(ctx, *connect, sockOpts, *key != "")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gridsearch worker: %s on %s for %s\n", count(*slots, "slot"), gridsearch.Hostname(), *connect)
	if warning != "" {
		fmt.Fprintln(os.Stderr, warning)
	}
	defer watch()()
	spareProc(*slots)
	heard := false
	err = gridsearch.ServeWith(ctx, gridsearch.ServeConfig{Endpoint: *connect, Slots: *slots, Idle: *idle,
		Options: []pirate.Option{pirate.WithSocketOptions(sockOpts...)},
		OnHeard: func() { heard = true },
		Quiet:   *lost, OnQuiet: func(quiet bool) {
			if quiet {
				fmt.Fprintf(os.Stderr, "gridsearch worker: no master heard at %s for %v; still trying\n", *connect, *lost)
			} else {
				fmt.Fprintf(os.Stderr, "gridsearch worker: a master is heard at %s again\n", *connect)
			}
		}})
	switch {
	case errors.Is(err, gridsearch.ErrNeverHeard):
		// Refused (a wrong or missing -key) or never reached: under a
		// script or SLURM this must not look like a worker that did its
		// share, so the status is 1.
		fmt.Fprintf(os.Stderr, "gridsearch worker: no master served this worker at %s in %v; exiting with status 1\n", *connect, *idle)
		return errSilent
	case errors.Is(err, gridsearch.ErrIdle):
		fmt.Fprintf(os.Stderr, "gridsearch worker: no master for %v; exiting\n", *idle)
		return nil
	case err == nil && !heard:
		// Ended by a signal, never served: as after -idle, status 1.
		fmt.Fprintf(os.Stderr, "gridsearch worker: no master served this worker at %s before it was stopped; exiting with status 1\n", *connect)
		return errSilent
	}
	return err
}

// minLost is the shortest -lost: a master sends a heartbeat every second,
// and a busy machine may delay one or two.
const minLost = 3 * pirate.DefaultHeartbeatInterval

// minIdle is the shortest -idle. A worker hears a new master only after it
// has given up the old one (three heartbeats of a second) and reconnected
// (a second more): shorter, it could leave between two masters.
const minIdle = 5 * time.Second
