package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/internal/shell"
)

// -slurm N: the master submits its workers to SLURM as one job array of N
// tasks, each "gridsearch worker -connect MASTER" with this very binary
// (os.Executable, so it must be at the same path on the nodes: a shared
// file system, as clusters have), -key if given, and the task's CPUs as
// slots. The workers serve until the run ends, when the master cancels the
// array with scancel, Ctrl-C and -halt included; a worker whose master was
// killed outright ends by itself after workerIdle. A job that dies or is
// preempted needs nothing more: the broker hands its points to other
// workers (pirate heartbeats). While the run goes, squeue is polled and
// each task's change of state is said on stderr (pending with its reason,
// failed, cancelled...), as is an array with no task left, which ends a
// run that has no other workers.

// slurmFlags are run's SLURM flags, and the array once submitted.
type slurmFlags struct {
	n     int
	args  string
	poll  time.Duration
	alone bool // SLURM's workers are the run's only ones: no -bind or -workers given
	job   *slurmJob
}

// errSlurmGone ends a run whose only workers were SLURM's once the array
// has no task left: no worker can come, and the master would wait forever.
var errSlurmGone = errors.New("slurm: no task left")

// Bounds on the SLURM commands: a slurmctld that does not answer must not
// hang the run, nor its end.
const (
	sbatchTimeout  = time.Minute
	squeueTimeout  = 30 * time.Second
	scancelTimeout = 30 * time.Second
	maxCmdOutput   = 1 << 20 // squeue of a large array: a line per task
	minSlurmPoll   = time.Second
	workerIdle     = 2 * time.Minute
)

func (f *slurmFlags) flags(fs *flag.FlagSet) {
	fs.IntVar(&f.n, "slurm", 0, "submit this many worker jobs to SLURM (an sbatch job array); they end with the run. Implies -bind tcp://*:* and -workers 0 unless given")
	fs.StringVar(&f.args, "slurm-args", "", "more sbatch options for the worker jobs, split at spaces, e.g. '--partition=cpu --time=2:00:00 --account=lab --cpus-per-task=8'")
	fs.DurationVar(&f.poll, "slurm-poll", 10*time.Second, "how often squeue is asked about the worker jobs")
}

// defaults checks the SLURM flags, and gives -bind and -workers the values
// a run on SLURM wants unless the user set them.
func (f *slurmFlags) defaults(fs *flag.FlagSet, o *options) error {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case f.n < 0:
		return fmt.Errorf("%w: -slurm %d: want the number of worker jobs to submit, at least 1 (0: none)", errUsage, f.n)
	case f.n == 0 && (set["slurm-args"] || set["slurm-poll"]):
		return fmt.Errorf("%w: -slurm-args and -slurm-poll need -slurm N", errUsage)
	case f.n == 0:
		return nil
	case f.poll < minSlurmPoll:
		return fmt.Errorf("%w: -slurm-poll %v: want at least %v", errUsage, f.poll, minSlurmPoll)
	}
	for _, c := range []string{"sbatch", "squeue", "scancel"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%w: -slurm: %s not found in PATH (run the master where SLURM's commands are, a login node)", errUsage, c)
		}
	}
	if !set["bind"] {
		o.bind = "tcp://*:*"
	}
	if !set["workers"] {
		o.workers = 0
	}
	// A port picked here is known to no worker but SLURM's.
	f.alone = !set["bind"] && o.workers == 0
	if o.key != "" {
		abs, err := filepath.Abs(o.key)
		if err != nil {
			return fmt.Errorf("%w: -key: %v", errUsage, err)
		}
		o.key = abs
	}
	return nil
}

// hook has cfg submit the array once the master is bound, before any file
// is written, and watch it; stop cancels it. When the array has no task
// left and its workers were the run's only ones, end(errSlurmGone) ends
// the run.
func (f *slurmFlags) hook(ctx context.Context, o *options, cfg gridsearch.Config, say func(string), end context.CancelCauseFunc) (gridsearch.Config, error) {
	if f.n == 0 {
		return cfg, nil
	}
	if cfg.Func != nil {
		return cfg, fmt.Errorf("%w: -slurm starts command workers; a Go function (the demo) needs its own", errUsage)
	}
	bin, err := os.Executable()
	if err != nil {
		return cfg, fmt.Errorf("-slurm: this program's path: %w", err)
	}
	var ep string
	onBound, onStart := cfg.OnBound, cfg.OnStart
	cfg.OnBound = func(bound string) {
		ep = connectTo(bound)
		if onBound != nil {
			onBound(bound)
		}
	}
	cfg.OnStart = func() error {
		script := workerScript(bin, ep, o.key)
		// Not cut short by Ctrl-C: slurmctld may have taken the array
		// already, and only its id lets the end of the run cancel it.
		id, err := sbatch(context.WithoutCancel(ctx), sbatchArgs(f.n, strings.Fields(f.args), script))
		if err != nil {
			return err
		}
		var gone func() // none
		if f.alone {
			gone = func() { end(errSlurmGone) }
		}
		f.job = startWatch(id, f.poll, say, gone)
		say(fmt.Sprintf("gridsearch: submitted slurm job %s, %s: %s", id, count(f.n, "worker task"), script))
		if onStart != nil {
			return onStart()
		}
		return nil
	}
	return cfg, nil
}

// stop ends the watch and cancels the array, whatever its tasks are doing.
func (f *slurmFlags) stop(say func(string)) {
	if f.job == nil {
		return
	}
	f.job.stopWatch()
	if err := scancel(f.job.id); err != nil {
		say(fmt.Sprintf("gridsearch: slurm job %s: %v; cancel it with: scancel %s", f.job.id, err, f.job.id))
		return
	}
	say(fmt.Sprintf("gridsearch: slurm job %s cancelled (the run is over)", f.job.id))
}

// connectTo is where workers on other nodes reach a master bound at ep:
// this host's name for a wildcard bind.
func connectTo(ep string) string {
	if host, port, ok := wildcard(ep); ok {
		return "tcp://" + net.JoinHostPort(host, port)
	}
	return ep
}

// workerScript is the job's shell script (sbatch --wrap): the worker with
// the task's CPUs as slots, exec'd so that scancel's SIGTERM reaches it.
func workerScript(bin, ep, key string) string {
	s := fmt.Sprintf("exec %s worker -connect %s -slots \"${SLURM_CPUS_PER_TASK:-1}\" -idle %v", shell.Quote(bin), shell.Quote(ep), workerIdle)
	if key != "" {
		s += " -key " + shell.Quote(key)
	}
	return s
}

// sbatchArgs is sbatch's command line for n worker tasks. The user's
// options come after ours, so that theirs win (--job-name, --output...).
func sbatchArgs(n int, user []string, script string) []string {
	args := []string{"--parsable", "--job-name=gridsearch", fmt.Sprintf("--array=0-%d", n-1)}
	args = append(args, user...)
	return append(args, "--wrap="+script)
}

// errSlurm is a SLURM command that failed or answered what we cannot read.
var errSlurm = errors.New("slurm")

// sbatch submits and returns the job's id.
func sbatch(ctx context.Context, args []string) (string, error) {
	out, err := slurmCmd(ctx, sbatchTimeout, "sbatch", args...)
	if err != nil {
		return "", fmt.Errorf("-slurm: %w", err)
	}
	return parseSbatch(out)
}

// parseSbatch reads sbatch --parsable's answer: "ID" or "ID;CLUSTER" on
// the last line (a site's job_submit plugin may print more before it).
func parseSbatch(out []byte) (string, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	id, _, _ := strings.Cut(last, ";")
	if id == "" || len(id) > 20 || strings.Trim(id, "0123456789") != "" {
		return "", fmt.Errorf("-slurm: %w: sbatch printed no job id: %q", errSlurm, trimOutput(out))
	}
	return id, nil
}

// slurmCmd runs a SLURM command for at most d, and returns its stdout
// (at most maxCmdOutput bytes), or an error with its stderr's first line.
func slurmCmd(ctx context.Context, d time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	stdout, stderr := &capped{max: maxCmdOutput}, &capped{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && err != nil:
		return nil, fmt.Errorf("%w: %s: no answer in %v", errSlurm, name, d)
	case ctx.Err() != nil && err != nil:
		return nil, fmt.Errorf("%w: %s: %w", errSlurm, name, ctx.Err())
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v: %s", errSlurm, name, err, trimOutput(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// capped is a bytes.Buffer that keeps the first max bytes written.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// trimOutput is a command's output for a message: its first line, short.
func trimOutput(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// scancel cancels the job (every task of an array), with a context of its
// own: the run's has often ended (Ctrl-C).
func scancel(id string) error {
	_, err := slurmCmd(context.Background(), scancelTimeout, "scancel", id)
	return err
}

// slurmTask is a task of the array as squeue shows it.
type slurmTask struct {
	id, state, reason string
}

// squeueArgs asks for every task of job id, one line each (-r), finished
// ones too while slurmctld remembers them (-t all).
func squeueArgs(id string) []string {
	return []string{"-h", "-r", "-t", "all", "-j", id, "-o", "%i|%T|%r"}
}

// parseSqueue reads squeueArgs' output; lines it cannot read are skipped.
func parseSqueue(out []byte) []slurmTask {
	var tasks []slurmTask
	for l := range strings.Lines(string(out)) {
		f := strings.SplitN(strings.TrimSpace(l), "|", 3)
		if len(f) != 3 || f[0] == "" || f[1] == "" || len(l) > 1024 {
			continue
		}
		tasks = append(tasks, slurmTask{id: f[0], state: f[1], reason: f[2]})
	}
	return tasks
}

// slurmJob is a submitted array and the goroutine that watches it.
type slurmJob struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

// startWatch polls squeue about job id every poll until stopWatch, and
// says each change.
func startWatch(id string, poll time.Duration, say func(string), gone func()) *slurmJob {
	ctx, cancel := context.WithCancel(context.Background())
	j := &slurmJob{id: id, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		w := &watch{id: id, say: say, gone: gone, seen: map[string]string{}}
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for {
			out, err := slurmCmd(ctx, squeueTimeout, "squeue", squeueArgs(id)...)
			if ctx.Err() != nil {
				return
			}
			w.update(parseSqueue(out), err)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return j
}

func (j *slurmJob) stopWatch() {
	j.cancel()
	<-j.done
}

// watch is what the poller has said so far about each task.
type watch struct {
	mu      sync.Mutex
	id      string
	say     func(string)
	gone    func()            // called once with allGone's line; nil for none
	seen    map[string]string // task: its last state as said
	errSaid string
	allGone bool
}

// update says what changed since the last poll: a task pending (with its
// reason), ended or suspended; squeue's failures, once each; and an array
// with no task left to run.
func (w *watch) update(tasks []slurmTask, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if err.Error() != w.errSaid {
			w.errSaid = err.Error()
			w.say(fmt.Sprintf("gridsearch: slurm job %s: %v", w.id, err))
		}
		return
	}
	w.errSaid = ""
	live := 0
	for _, t := range tasks {
		said := strings.ToLower(t.state)
		switch t.state {
		case "PENDING":
			said += ": (" + t.reason + ")"
			live++
		case "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING":
			live++
		}
		// A task just submitted is pending for no reason yet: not news.
		if w.seen[t.id] == said || t.state == "PENDING" && t.reason == "None" {
			continue
		}
		w.seen[t.id] = said
		switch t.state {
		case "RUNNING", "CONFIGURING", "COMPLETING":
		default:
			w.say(fmt.Sprintf("gridsearch: slurm job %s %s", t.id, said))
		}
	}
	if live == 0 && len(w.seen) > 0 && !w.allGone {
		w.allGone = true
		w.say(fmt.Sprintf("gridsearch: slurm job %s has no task left: no worker will come from SLURM (their output: slurm-%s_*.out)", w.id, w.id))
		if w.gone != nil {
			w.gone()
		}
	}
}
