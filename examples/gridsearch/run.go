package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/socket"
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
	rerun    bool // -resume-failed
	force    bool
	autoOut  bool // no -out: createAuto names the file
	retries  int
	timeout  time.Duration
	maximize string
	minimize string
	csv      bool
	more     extras // -plot and the records' flags (extras.go)
	progress string
	key      string     // -key: the cluster's secret certificate (key.go)
	slurm    slurmFlags // -slurm, -slurm-args (slurm.go)
}

func (o *options) flags(fs *flag.FlagSet) {
	fs.Var(&o.params, "param", "a parameter, name=SPEC (repeat for each)")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "local worker slots; 0 for none (remote workers only, with -bind)")
	fs.StringVar(&o.bind, "bind", "", "endpoint for remote workers, e.g. tcp://*:5555 (the worker hint then names this host and its addresses)")
	fs.StringVar(&o.out, "out", "", "results file, JSON Lines (default gridsearch-YYYYmmdd-HHMMSS.mmm.jsonl, -2, -3... added if taken)")
	fs.BoolVar(&o.resume, "resume", false, "continue -out: skip the points already in it (failed ones are reported, and the exit status is 1 while any is left)")
	fs.BoolVar(&o.rerun, "resume-failed", false, "-resume, and run again the points that failed")
	fs.BoolVar(&o.force, "force", false, "overwrite -out, or with -resume continue it for another grid or command")
	fs.IntVar(&o.retries, "retries", 0, "run a failed point up to this many more times")
	fs.DurationVar(&o.timeout, "timeout", 0, "kill a point's command after this long (0: no limit)")
	fs.StringVar(&o.maximize, "maximize", "", "the best point has the largest value of this result field (a.b for nested, . for the result itself)")
	fs.StringVar(&o.minimize, "minimize", "", "the best point has the smallest value of this result field")
	fs.BoolVar(&o.csv, "csv", false, "also write the results as CSV, beside -out")
	o.more.flags(fs)
	fs.StringVar(&o.progress, "progress", "auto", "progress on stderr: auto, tty (redrawn), lines or none")
	fs.StringVar(&o.key, "key", "", "the cluster key (gridsearch keygen's NAME_secret): only workers with it may join, and the traffic is encrypted")
	o.slurm.flags(fs)
}

// parse parses args and checks everything that can be checked before work.
func (o *options) parse(name string, args []string) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			if name == "demo" { // the demo runs its own function, never a command
				fmt.Print(demoUsage)
			} else {
				fmt.Printf("usage: gridsearch %s [flags] -- COMMAND ARGS...\n"+
					"  {name} in them is replaced by the value, {#} by the point's index, {%%} by the slot's number (both from 0);\n"+
					"  {{ and }} are a literal { and }. Failed points are shown on stderr (the first %d whole).\n", name, showFailures)
			}
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := o.slurm.defaults(fs, o); err != nil {
		return nil, err
	}
	switch {
	case o.maximize != "" && o.minimize != "":
		return nil, fmt.Errorf("%w: -maximize and -minimize together", errUsage)
	case o.workers < 0:
		return nil, fmt.Errorf("%w: -workers %d: want the number of local slots, 0 or more (0: remote workers only, with -bind)", errUsage, o.workers)
	case o.workers == 0 && o.bind == "":
		return nil, fmt.Errorf("%w: -workers 0 needs -bind for remote workers", errUsage)
	case o.retries < 0 || o.timeout < 0:
		return nil, fmt.Errorf("%w: -retries and -timeout must not be negative", errUsage)
	}
	if err := o.more.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	switch o.progress {
	case "auto", "tty", "lines", "none":
	default:
		return nil, fmt.Errorf("%w: -progress %q: want auto, tty, lines or none", errUsage, o.progress)
	}
	o.resume = o.resume || o.rerun
	if o.out == "" {
		if o.resume {
			return nil, fmt.Errorf("%w: -resume and -resume-failed need -out, the file to continue", errUsage)
		}
		o.autoOut = true
	}
	return fs, nil
}

func (o *options) field() (string, bool) {
	if o.minimize != "" {
		return o.minimize, false
	}
	return o.maximize, true
}

// goalFlag names the flag that set the goal: maximize or minimize.
func goalFlag(maximize bool) string {
	if maximize {
		return "maximize"
	}
	return "minimize"
}

func runCmd(ctx context.Context, args []string) error {
	var o options
	fs, err := o.parse("run", args)
	if err != nil {
		return err
	}
	command := fs.Args()
	grid, err := o.more.grid(o.params)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := grid.CheckCommand(command); err != nil {
		return fmt.Errorf("%w: %s", errUsage, strings.TrimPrefix(err.Error(), "gridsearch: "))
	}
	var warnings []string
	for _, name := range grid.Unused(command) {
		w := fmt.Sprintf("gridsearch: warning: parameter %s is in no {%s} of the command", name, name)
		if n := len(grid.Params[slices.IndexFunc(grid.Params, func(p gridsearch.Param) bool { return p.Name == name })].Values); n > 1 {
			w += fmt.Sprintf(": its %d values run the same command", n)
		}
		warnings = append(warnings, w)
	}
	if o.more.dryRun {
		// A dry run is where an unused parameter is best caught.
		for _, w := range warnings {
			fmt.Fprintln(os.Stderr, w)
		}
		return dryRun(os.Stdout, grid, command)
	}
	if o.workers > 0 {
		if err := checkExecutable(command[0]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	return execute(ctx, &o, gridsearch.Config{Grid: grid, Command: command}, command, warnings...)
}

// checkExecutable reports a command that local workers cannot run: not
// found, or not executable. One whose name is a placeholder is left to
// the points.
func checkExecutable(name string) error {
	if strings.ContainsAny(name, "{}") {
		return nil
	}
	_, err := exec.LookPath(name)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exec.ErrDot):
		return fmt.Errorf("command %s is in the current directory, which PATH names: write ./%s", name, name)
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("command %s: not found in PATH", name)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("command %s: no such file", name)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("command %s: not executable", name)
	}
	return fmt.Errorf("command %s: %v", name, err)
}

// execute runs cfg with o's results file, progress and report. Nothing
// is written until the run can start (Config.OnStart): a port in use, say,
// leaves no file behind. warnings go to stderr then.
func execute(ctx context.Context, o *options, cfg gridsearch.Config, command []string, warnings ...string) error {
	grid := cfg.Grid
	if w, err := keyConfig(o, &cfg); err != nil {
		return err
	} else if w != "" {
		warnings = append(warnings, w)
	}
	m := meta{Fingerprint: grid.Fingerprint(command), Params: o.more.metaParams(o.params), Command: command, Points: grid.Len()}
	o.more.command = command
	var before prior
	var inFile *scanned
	if !o.autoOut {
		var err error
		field, _ := o.field()
		if o.force {
			field = "" // not checked (checkResumedField)
		}
		if inFile, err = checkResults(o.out, m, o.resume, o.force, field); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		before = planResume(grid, inFile, o.rerun)
		if err := o.more.checkResumedField(o, inFile); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	cfg.Workers = o.workers
	if o.workers == 0 {
		cfg.Workers = -1
	}
	if cfg.Func == nil {
		spareProc(o.workers)
	}
	cfg.Bind, cfg.Retries, cfg.Timeout = o.bind, o.retries, o.timeout
	o.more.apply(&cfg)
	if before.skip != nil {
		cfg.Skip = func(i int) bool { return before.skip[i] }
	}
	prog := newProgress(os.Stderr, o.progress)
	fails := newFailures(prog)
	stray := &strays{pr: prog}
	var res *results
	cfg.OnStart = func() error {
		// -results DIR first: one that cannot be made stops the run
		// before any point, and before the results file is created.
		if err := o.more.makeResultsDir(); err != nil {
			return err
		}
		var err error
		if o.autoOut {
			res, o.out, err = createAuto("", time.Now(), m)
		} else {
			res, err = createResults(o.out, m, inFile)
		}
		if err != nil {
			return err
		}
		fails.path, stray.path = o.out, o.out
		for _, w := range warnings {
			prog.println(w)
		}
		switch {
		case before.failed > 0:
			prog.println(fmt.Sprintf("gridsearch: %s failed in the run resumed and %s not run again (-resume-failed runs them)", pointCount(before.failed), isAre(before.failed)))
		case before.rerun > 0:
			prog.println(fmt.Sprintf("gridsearch: running again %s that failed in the run resumed", pointCount(before.rerun)))
		}
		return nil
	}
	cfg.OnResult = func(rec gridsearch.Record) error {
		if !rec.OK() {
			fails.add(rec)
		}
		stray.add(rec)
		o.more.watchField(o, rec, prog.println)
		// The results file first: a point whose -results files cannot be
		// written stops the run, but is not lost from the results file.
		if err := res.write(rec); err != nil {
			return err
		}
		return o.more.perPoint(rec)
	}
	cfg.OnProgress = func(p gridsearch.Progress) {
		res.flush()
		prog.update(p)
	}
	if o.bind != "" {
		cfg.OnRefused = refusedWorkers(o.key != "", prog.println)
	}
	cfg.OnBound = func(ep string) {
		fmt.Fprintln(os.Stderr, workerHint(grid.Len(), ep))
	}
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	cfg, err := o.slurm.hook(ctx, o, cfg, prog.println, end)
	if err != nil {
		return err
	}
	sum, runErr := gridsearch.Run(ctx, cfg)
	o.slurm.stop(prog.println)
	prog.finish()
	fails.finish()
	stray.finish()
	switch {
	case errors.Is(runErr, gridsearch.ErrBind):
		runErr = bindError(o.bind, runErr)
	case errors.Is(runErr, gridsearch.ErrInterrupted) && errors.Is(context.Cause(ctx), errSlurmGone):
		runErr = fmt.Errorf("the run stopped: slurm job %s has no task left, and no other worker can join; -resume -out %s runs the rest", o.slurm.job.id, o.out)
	case errors.Is(runErr, gridsearch.ErrHalted):
		runErr = fmt.Errorf("halted after %s failed (-halt %s); -resume-failed -out %s runs them again and the rest", pointCount(sum.Failed), o.more.haltText(), o.out)
	}
	if res == nil { // the run did not start: nothing was written
		return runErr
	}
	if err := res.close(); err != nil && runErr == nil {
		runErr = err
	}
	if err := report(os.Stdout, o, grid, sum, before); err != nil && runErr == nil {
		runErr = err
	}
	switch {
	case runErr != nil:
		return runErr
	case sum.Failed > 0 || before.failed > 0:
		return errSilent
	}
	return nil
}

// bindError is the reason -bind ep failed, without the layers it came
// through.
func bindError(ep string, err error) error {
	if errors.Is(err, socket.ErrAddrInUse) || errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("-bind %s: address already in use (another master, or another program, has the port)", ep)
	}
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				err = next
				continue
			}
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				err = errs[len(errs)-1]
				continue
			}
		}
		return fmt.Errorf("-bind %s: %v", ep, err)
	}
}
