package gridsearch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// Config is one grid search. Grid and one of Command and Func are required;
// the zero value of every other field is a sensible default.
type Config struct {
	Grid Grid
	// Command is run for each point with {name} replaced by the point's
	// value of parameter name, without a shell. Its stdout is the point's
	// result when it is JSON. (Go's fork holds a scheduler P until the
	// child has called exec: for quick commands on as many slots as
	// GOMAXPROCS, a GOMAXPROCS of Workers+1 keeps dispatch from stalling
	// behind them, as the gridsearch command sets it.)
	Command []string
	// Func is called for each point instead of a command, by local
	// workers (and by remote ones that Serve the same Func).
	Func Func

	// Workers is the number of local worker slots: 0 means
	// runtime.NumCPU(), a negative number none (remote workers only, which
	// needs Bind).
	Workers int
	// Bind is the endpoint remote workers connect to (gridsearch worker
	// -connect, or Serve), e.g. "tcp://*:5555". Empty: local workers only,
	// over inproc.
	Bind string

	// Retries is how many times a failed point (non-zero exit, error,
	// timeout) is run again before it counts as failed.
	Retries int
	// Timeout bounds each attempt at a point: the command is killed, the
	// Func's ctx ends. 0 means no limit.
	Timeout time.Duration
	// Halt stops the run after this many failed points: no new points
	// start, running ones finish (unless HaltNow). 0 never stops.
	Halt int
	// HaltPercent, more than 0, stops the run as Halt does once this
	// percentage of the points finished so far have failed, counted from
	// HaltMinPoints finished points (DefaultHaltMinPoints when 0).
	HaltPercent   float64
	HaltMinPoints int
	// HaltNow makes a halt give up the running points too, as ctx's end
	// does: the local workers' commands are killed, and the points are
	// not reported, so a resumed run does them. (Remote workers finish
	// theirs; the results are dropped.)
	HaltNow bool

	// Skip reports points that are done already (a resumed run); they are
	// neither run nor reported.
	Skip func(point int) bool
	// OnResult is called with each finished point's record, done or failed,
	// as it arrives, from one goroutine at a time. An error stops the run
	// as Halt does and Run returns it.
	OnResult func(Record) error
	// OnProgress is called with the run's progress every ProgressEvery
	// (default 250 ms) and once at the end, from one goroutine at a time.
	OnProgress    func(Progress)
	ProgressEvery time.Duration

	// OnBound is called with the endpoint remote workers connect to, as
	// bound (a port of 0 or * resolved), before any work starts.
	OnBound func(endpoint string)
	// OnStart is called once the load balancer is bound and the local
	// workers are started, before any point is handed out: the place to
	// create output files, so that a run that cannot start (a port in
	// use) leaves none. An error ends Run with it, nothing run.
	OnStart func() error

	// OnRefused is called when a connection to Bind fails its handshake,
	// with the peer's address and why: with KeyOptions, a worker that has
	// another key or none, which otherwise only finds no work. A peer that
	// hangs up during the handshake is not told of. It is
	// called from one goroutine at a time, until Run returns; it should
	// return quickly (events that come while it runs wait in a buffer,
	// and are dropped when it is full).
	OnRefused func(remote string, err error)

	// BrokerOptions go to the load balancer (heartbeats, max deliveries,
	// a logger: the options of pirate.NewLoadBalancer). Run adds a
	// pirate.WithAbandoned and a pirate.WithRequeued of its own, in place
	// of any given here.
	BrokerOptions []pirate.Option
	// WorkerOptions go to the local workers (heartbeats, which should be
	// the load balancer's, reconnects, a logger: the options of
	// pirate.NewWorker).
	WorkerOptions []pirate.Option
}

// Record is what the results file holds for one point.
type Record struct {
	Point    int             `json:"point"`
	Params   Params          `json:"params"`
	Result   json.RawMessage `json:"result"` // the command's stdout as JSON, or the Func's result; null otherwise
	Exit     int             `json:"exit"`
	Error    string          `json:"error,omitempty"`
	Attempts int             `json:"attempts"`        // runs begun on a worker: retries, and runs again after a worker died or gave the point back
	Start    string          `json:"start,omitempty"` // of the last attempt, by its worker's clock, in StartFormat
	Duration float64         `json:"duration"`        // seconds, of the last attempt
	Worker   string          `json:"worker"`
	Host     string          `json:"host"`
	Stdout   string          `json:"stdout"`
	Stderr   string          `json:"stderr"` // the tail, MaxStderr bytes at most
	// StdoutTruncated and StderrTruncated mark an output longer than its
	// cap: Stdout is then its first MaxStdout bytes (and not a result),
	// Stderr its last MaxStderr.
	StdoutTruncated bool `json:"stdout_truncated,omitempty"`
	StderrTruncated bool `json:"stderr_truncated,omitempty"`
	// Stray marks a command that exited leaving a process (a child, or
	// its child) that still held its stdout or stderr open once the
	// command's own output was read (on Linux, half a second after
	// the exit; elsewhere WaitDelay), or when the point's Timeout came
	// sooner: the output was read until then, that process's group was
	// killed (on Linux; a process that left it with setsid lives on), and
	// the point is reported as the command exited.
	Stray bool `json:"stray,omitempty"`
}

// StartFormat is Record.Start's layout: RFC 3339 with milliseconds, in UTC.
const StartFormat = "2006-01-02T15:04:05.000Z07:00"

// OK reports whether the point succeeded: exit code 0 and no error.
func (r Record) OK() bool { return r.Exit == 0 && r.Error == "" }

// Progress is a snapshot of a run.
type Progress struct {
	Total   int           // points in the grid
	Skipped int           // points skipped (done by an earlier run)
	Done    int           // points that succeeded
	Failed  int           // points that failed, retries included
	Running int           // points a worker slot has taken and not finished
	Queued  int           // points handed out that wait for a free slot
	Slots   int           // worker slots connected now
	Elapsed time.Duration // since the run started
}

// Summary is how a run went.
type Summary struct {
	Progress
	Busy        time.Duration // the sum of every attempt's duration
	PeakSlots   int           // the most worker slots connected at once
	Efficiency  float64       // Busy / (Elapsed * PeakSlots)
	Interrupted bool          // ctx ended before every point was done
	Halted      bool          // Halt failures stopped the run
}

// Errors of Run, besides those of NewGrid and CheckCommand.
var (
	ErrConfig      = errors.New("gridsearch: bad config")
	ErrInterrupted = errors.New("gridsearch: interrupted")
	ErrHalted      = errors.New("gridsearch: halted after too many failures")
	// ErrBind wraps the reason Bind could not be bound (socket.ErrAddrInUse, say).
	ErrBind = errors.New("gridsearch: cannot bind")
)

// clientTimeout is how long the master waits for one attempt before it
// resends the request. The broker hands the point of a dead worker to
// another one by itself, drops resends of a point it still holds, and
// reports a point it gives up on (pirate.WithAbandoned), which then fails
// at once; so this is only a last resort, for a request or reply lost
// between master and broker, which share a process.
func clientTimeout(perPoint time.Duration) time.Duration {
	if perPoint > 0 {
		return 2*perPoint + time.Minute
	}
	return time.Hour
}

// Run runs every point of cfg.Grid (but those cfg.Skip names) on the local
// workers and any remote ones, and returns when each is done or failed, or
// when ctx ends (ErrInterrupted: running points are abandoned and not
// reported, so that a resumed run does them), or after cfg.Halt failures
// (ErrHalted). Each point is reported to OnResult exactly once.
//
// Dispatch is the broker's: a LoadBalancer (guide ch. 3 and 4) hands each
// point to the least recently used idle worker slot, and a point held by a
// worker that dies goes to another. A point that every worker given it died
// running or gave back, closing (pirate.DefaultMaxDeliveries of them, or as
// BrokerOptions say), fails at once and is not retried: it may be what
// kills them. The master keeps as many points in flight as there are
// slots, plus a few, so that points wait in the master rather than in a
// queue where a slow worker could hold them. Run returns after every
// goroutine, socket and local worker it started has ended.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	g := cfg.Grid
	n := g.Len()
	if n == 0 {
		return Summary{}, ErrEmptyGrid
	}
	if (cfg.Func == nil) == (len(cfg.Command) == 0) {
		return Summary{}, fmt.Errorf("%w: want a Command or a Func, one of them", ErrConfig)
	}
	if cfg.Func == nil {
		if err := g.CheckCommand(cfg.Command); err != nil {
			return Summary{}, err
		}
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	if workers < 0 && cfg.Bind == "" {
		return Summary{}, fmt.Errorf("%w: no local workers and no Bind for remote ones", ErrConfig)
	}
	if cfg.Retries < 0 || cfg.Timeout < 0 || cfg.Halt < 0 || cfg.HaltMinPoints < 0 || !(cfg.HaltPercent >= 0 && cfg.HaltPercent <= 100) {
		return Summary{}, fmt.Errorf("%w: Retries, Timeout, Halt and HaltMinPoints must not be negative, HaltPercent within 0 to 100", ErrConfig)
	}

	id := make([]byte, 6)
	rand.Read(id)
	base := "inproc://gridsearch-" + hex.EncodeToString(id)
	back := cfg.Bind
	if back == "" {
		back = base + "-workers"
	}
	r := &run{cfg: cfg, n: n, every: cfg.ProgressEvery, results: make(chan reply), wake: make(chan struct{}, 1)}
	if r.every <= 0 {
		r.every = 250 * time.Millisecond
	}
	lb, err := pirate.NewLoadBalancer(base+"-points", back,
		append(append([]pirate.Option(nil), cfg.BrokerOptions...), pirate.WithAbandoned(r.abandon), pirate.WithRequeued(r.requeue))...)
	if err != nil {
		return Summary{}, fmt.Errorf("%w %s: %w", ErrBind, back, err)
	}
	defer lb.Close()
	if cfg.Bind != "" && cfg.OnRefused != nil {
		done := make(chan struct{})
		go refused(lb.BackendEvents(), cfg.OnRefused, done)
		// The events end when the load balancer closes.
		defer func() { lb.Close(); <-done }()
	}
	if cfg.Bind != "" && cfg.OnBound != nil {
		cfg.OnBound(lb.Backend())
	}
	client, err := pirate.NewClient(lb.Frontend(), pirate.WithTimeout(clientTimeout(cfg.Timeout)), pirate.WithRetries(1<<20))
	if err != nil {
		return Summary{}, err
	}
	defer client.Close()
	local := localEndpoint(lb.Backend())
	host := Hostname()
	for i := range max(workers, 0) {
		w, err := pirate.NewWorker(local, handler(fmt.Sprintf("local/%d", i), host, i, cfg.Func), ownSpans(cfg.WorkerOptions)...)
		if err != nil {
			return Summary{}, err
		}
		// Workers close before the client and the load balancer (defers
		// run last first), which kills their running commands.
		defer w.Close()
	}
	if cfg.OnStart != nil {
		if err := cfg.OnStart(); err != nil {
			return Summary{}, err
		}
	}

	r.lb, r.client, r.start = lb, client, time.Now()
	return r.loop(ctx)
}

// refused calls f with each failed handshake among events, until they end.
// A peer that hung up during the handshake was not refused: a worker
// that closes a connection it no longer needs (its reconnects, a probe)
// does that.
func refused(events <-chan socket.Event, f func(string, error), done chan<- struct{}) {
	defer close(done)
	for ev := range events {
		if ev.Kind == socket.EventHandshakeFailed && !hungUp(ev.Err) {
			f(ev.Remote, ev.Err)
		}
	}
}

func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// localEndpoint is where local workers reach a backend bound at ep: the
// loopback address for a wildcard.
func localEndpoint(ep string) string {
	for _, wild := range []string{"://*:", "://0.0.0.0:", "://[::]:"} {
		if strings.Contains(ep, wild) {
			return strings.Replace(ep, wild, "://127.0.0.1:", 1)
		}
	}
	return ep
}

type reply struct {
	point     int
	attempts  int
	out       outcome
	err       error
	abandoned bool // the broker gave up on it: not to be retried
}

// errAbandoned ends the request for a point the broker gave up on.
var errAbandoned = errors.New("abandoned by the broker")

type run struct {
	cfg     Config
	n       int
	lb      *pirate.LoadBalancer
	client  *pirate.Client
	start   time.Time
	every   time.Duration // between progress reports
	results chan reply
	wake    chan struct{}

	mu        sync.Mutex
	slots     int // workers connected, as last seen
	peak      int
	abandoned [][2]int // point and attempt the broker gave up on, for the loop
	requeued  [][2]int // point and attempt the broker took from a worker for another, for the loop
}

// abandon is the load balancer's WithAbandoned: it hands the point to the
// loop, which ends its request, and returns at once.
func (r *run) abandon(body [][]byte) {
	var t task
	if len(body) != 1 || json.Unmarshal(body[0], &t) != nil {
		return // not ours
	}
	r.mu.Lock()
	r.abandoned = append(r.abandoned, [2]int{t.Point, t.Attempt})
	r.mu.Unlock()
	r.poke()
}

// requeue is the load balancer's WithRequeued: the worker that held the
// point died or gave it back, and the broker hands it to another. That is
// a run of the point that the master did not ask for, and the record's
// attempts count it; the loop takes the note when it collects a result
// (the note is made before the next worker can reply).
func (r *run) requeue(body [][]byte) {
	var t task
	if len(body) != 1 || json.Unmarshal(body[0], &t) != nil {
		return // not ours
	}
	r.mu.Lock()
	r.requeued = append(r.requeued, [2]int{t.Point, t.Attempt})
	r.mu.Unlock()
}

func (r *run) request(ctx context.Context, wg *sync.WaitGroup, pt, attempt int) {
	defer wg.Done()
	point := r.cfg.Grid.Point(pt)
	t := task{Point: pt, Attempt: attempt, Timeout: int64(r.cfg.Timeout)}
	for _, nv := range point.Params() {
		t.Params = append(t.Params, [2]string{nv.Name, nv.Value.Text})
	}
	if r.cfg.Func == nil {
		t.Argv, t.Slots = point.expandTask(r.cfg.Command)
	}
	body, _ := json.Marshal(t)
	rep := reply{point: pt, attempts: attempt}
	frames, err := r.client.Request(ctx, body)
	switch {
	case errors.Is(context.Cause(ctx), errAbandoned):
		rep.abandoned = true
		rep.out = outcome{Exit: -1, Error: "abandoned: each worker given it died or gave it back (pirate.WithMaxDeliveries times); not retried"}
	case err != nil:
		rep.err = err
	case len(frames) != 1:
		rep.out = outcome{Exit: -1, Error: fmt.Sprintf("reply of %d frames", len(frames))}
	default:
		if err := json.Unmarshal(frames[0], &rep.out); err != nil {
			rep.out = outcome{Exit: -1, Error: "bad reply: " + err.Error()}
		}
	}
	// The loop reads results until every request has reported.
	r.results <- rep
}

func (r *run) record(rep reply) Record {
	o := rep.out
	res := o.Result
	if len(res) == 0 {
		res = nil
	}
	rec := Record{
		Point: rep.point, Params: r.cfg.Grid.Point(rep.point).Params(), Result: res,
		Exit: o.Exit, Error: o.Error, Attempts: rep.attempts,
		Duration: time.Duration(o.Duration).Seconds(), Worker: o.Worker, Host: o.Host,
		Stdout: o.Stdout, Stderr: o.Stderr, StdoutTruncated: o.StdoutCut, StderrTruncated: o.StderrCut,
		Stray: o.Stray,
	}
	if o.Start != 0 {
		rec.Start = time.Unix(0, o.Start).UTC().Format(StartFormat)
	}
	return rec
}
