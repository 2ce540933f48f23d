package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/examples/gridsearch/gridsearch"
)

type paramFlags []string

func (p *paramFlags) String() string     { return strings.Join(*p, " ") }
func (p *paramFlags) Set(s string) error { *p = append(*p, s); return nil }

// options are run's flags, shared with the demo.
type options struct {
	params   paramFlags
	workers  int
	bind     string
	out      string
	resume   bool
	force    bool
	retries  int
	timeout  time.Duration
	halt     int
	maximize string
	minimize string
	csv      bool
	heatmap  bool
	progress string
}

func (o *options) flags(fs *flag.FlagSet) {
	fs.Var(&o.params, "param", "a parameter, name=SPEC (repeat for each)")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "local worker slots; 0 for none (remote workers only, with -bind)")
	fs.StringVar(&o.bind, "bind", "", "endpoint for remote workers, e.g. tcp://*:5555")
	fs.StringVar(&o.out, "out", "", "results file, JSON Lines (default gridsearch-YYYYmmdd-HHMMSS.jsonl)")
	fs.BoolVar(&o.resume, "resume", false, "continue -out: skip the points already in it")
	fs.BoolVar(&o.force, "force", false, "overwrite -out, or with -resume continue it for another grid or command")
	fs.IntVar(&o.retries, "retries", 0, "run a failed point up to this many more times")
	fs.DurationVar(&o.timeout, "timeout", 0, "kill a point's command after this long (0: no limit)")
	fs.IntVar(&o.halt, "halt", 0, "stop after this many failed points (0: never)")
	fs.StringVar(&o.maximize, "maximize", "", "the best point has the largest value of this result field (a.b for nested, . for the result itself)")
	fs.StringVar(&o.minimize, "minimize", "", "the best point has the smallest value of this result field")
	fs.BoolVar(&o.csv, "csv", false, "also write the results as CSV, beside -out")
	fs.BoolVar(&o.heatmap, "heatmap", true, "for a 2-D grid and -maximize or -minimize, draw the field as a PNG beside -out")
	fs.StringVar(&o.progress, "progress", "auto", "progress on stderr: auto, tty (redrawn), lines or none")
}

// parse parses args and checks everything that can be checked before work.
func (o *options) parse(name string, args []string) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Printf("usage: gridsearch %s [flags] -- COMMAND ARGS... ({name} in them is replaced)\n", name)
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case o.maximize != "" && o.minimize != "":
		return nil, fmt.Errorf("%w: -maximize and -minimize together", errUsage)
	case o.workers < 0:
		return nil, fmt.Errorf("%w: -workers %d", errUsage, o.workers)
	case o.workers == 0 && o.bind == "":
		return nil, fmt.Errorf("%w: -workers 0 needs -bind for remote workers", errUsage)
	case o.retries < 0 || o.timeout < 0 || o.halt < 0:
		return nil, fmt.Errorf("%w: -retries, -timeout and -halt must not be negative", errUsage)
	}
	switch o.progress {
	case "auto", "tty", "lines", "none":
	default:
		return nil, fmt.Errorf("%w: -progress %q: want auto, tty, lines or none", errUsage, o.progress)
	}
	if o.out == "" {
		if o.resume {
			return nil, fmt.Errorf("%w: -resume needs -out, the file to continue", errUsage)
		}
		o.out = time.Now().Format("gridsearch-20060102-150405.jsonl")
	}
	return fs, nil
}

func (o *options) field() (string, bool) {
	if o.minimize != "" {
		return o.minimize, false
	}
	return o.maximize, true
}

func runCmd(ctx context.Context, args []string) error {
	var o options
	fs, err := o.parse("run", args)
	if err != nil {
		return err
	}
	command := fs.Args()
	if len(o.params) == 0 {
		return fmt.Errorf("%w: no -param given: the grid is empty", errUsage)
	}
	grid, err := gridsearch.NewGrid(o.params...)
	if err != nil {
		return fmt.Errorf("%w: %s", errUsage, strings.TrimPrefix(err.Error(), "gridsearch: "))
	}
	if err := grid.CheckCommand(command); err != nil {
		return fmt.Errorf("%w: %s", errUsage, strings.TrimPrefix(err.Error(), "gridsearch: "))
	}
	return execute(ctx, &o, gridsearch.Config{Grid: grid, Command: command}, command)
}

// execute runs cfg with o's results file, progress and report.
func execute(ctx context.Context, o *options, cfg gridsearch.Config, command []string) error {
	grid := cfg.Grid
	m := meta{Fingerprint: grid.Fingerprint(command), Params: o.params, Command: command, Points: grid.Len()}
	res, done, err := openResults(o.out, m, o.resume, o.force)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Workers = o.workers
	if o.workers == 0 {
		cfg.Workers = -1
	}
	if cfg.Func == nil {
		spareProc(o.workers)
	}
	cfg.Bind, cfg.Retries, cfg.Timeout, cfg.Halt = o.bind, o.retries, o.timeout, o.halt
	if len(done) > 0 {
		// Params as the file has them: the same marshaling both ways.
		cfg.Skip = func(i int) bool {
			b, _ := grid.Point(i).Params().MarshalJSON()
			return done[string(b)]
		}
	}
	cfg.OnResult = res.write
	prog := newProgress(os.Stderr, o.progress)
	cfg.OnProgress = func(p gridsearch.Progress) {
		res.flush()
		prog.update(p)
	}
	cfg.OnBound = func(ep string) {
		fmt.Fprintf(os.Stderr, "gridsearch: %d points; workers join with: gridsearch worker -connect %s\n", grid.Len(), ep)
	}
	sum, runErr := gridsearch.Run(ctx, cfg)
	prog.finish()
	if err := res.close(); err != nil && runErr == nil {
		runErr = err
	}
	if sum.Total == 0 { // Run refused the config: nothing was done
		return runErr
	}
	if err := report(os.Stdout, o, grid, sum); err != nil && runErr == nil {
		runErr = err
	}
	switch {
	case runErr != nil:
		return runErr
	case sum.Failed > 0:
		return errSilent
	}
	return nil
}
