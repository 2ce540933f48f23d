package gridsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/telemetry"
)

// Limits on what a point's output keeps: the head of stdout (the result) and
// the tail of stderr (where the error usually is).
const (
	MaxStdout = 1 << 20
	MaxStderr = 4 << 10
)

// task is a request on the wire: one point, and the command to run for it
// (empty for a Func). Its params let a worker with a Func rebuild the point
// without the grid.
type task struct {
	Point   int         `json:"point"`
	Attempt int         `json:"attempt"` // 1 for the first; matches a WithAbandoned report to its request
	Params  [][2]string `json:"params"`
	Argv    []string    `json:"argv,omitempty"`
	Slots   []slotArg   `json:"slots,omitempty"`   // the arguments with {%}, in pieces
	Timeout int64       `json:"timeout,omitempty"` // ns; 0 for none
}

// outcome is a reply on the wire: what one attempt at a point gave.
type outcome struct {
	Result    json.RawMessage `json:"result,omitempty"`
	Stdout    string          `json:"stdout,omitempty"`
	Stderr    string          `json:"stderr,omitempty"`
	Exit      int             `json:"exit"`
	Error     string          `json:"error,omitempty"`
	Start     int64           `json:"start,omitempty"` // ns since 1970, by the worker's clock
	Duration  int64           `json:"duration"`        // ns
	StdoutCut bool            `json:"stdout_cut,omitempty"`
	StderrCut bool            `json:"stderr_cut,omitempty"`
	Stray     bool            `json:"stray,omitempty"` // a child held the output open after the command exited
	Worker    string          `json:"worker"`
	Host      string          `json:"host"`
}

func (t task) point() Point {
	g := &Grid{Params: make([]Param, len(t.Params))}
	for i, nv := range t.Params {
		g.Params[i] = Param{Name: nv[0], Values: []Value{textValue(nv[1])}}
	}
	return Point{Index: t.Point, grid: g, idx: make([]int, len(t.Params))}
}

// Func is the Go form of a command: it computes one point and returns a
// result that encoding/json can marshal (a map or struct whose fields
// -maximize and -minimize can name), or an error, which fails the point.
// It is called from many goroutines at once, one per worker slot; ctx ends
// when the point's Timeout passes or the run is interrupted.
type Func func(ctx context.Context, p Point) (any, error)

// handler returns a pirate.Handler for slot number slot, named name. With
// fn nil it runs the task's command, {%} in it replaced by slot.
func handler(name, host string, slot int, fn Func) pirate.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if len(req) != 1 {
			return nil, fmt.Errorf("gridsearch: request of %d frames, want 1", len(req))
		}
		var t task
		if err := json.Unmarshal(req[0], &t); err != nil {
			return nil, fmt.Errorf("gridsearch: bad task: %w", err)
		}
		if t.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(t.Timeout))
			defer cancel()
		}
		start := time.Now()
		var o outcome
		switch {
		case fn != nil:
			o = callFunc(ctx, fn, t.point())
		case len(t.Argv) > 0:
			o = runCommand(ctx, withSlot(t.Argv, t.Slots, slot))
			awaitTerminated(ctx, o)
		default:
			o = outcome{Exit: -1, Error: "this worker runs commands and the task has none (a Go function runs only on workers started with it)"}
		}
		if ctx.Err() != nil {
			switch {
			case errors.Is(context.Cause(ctx), context.DeadlineExceeded) && t.Timeout > 0:
				// A command that exited by itself (an exit code, not a
				// signal's -1) was not ended by the timeout, which only
				// cut short the reading of output that a child it left
				// held open: it is reported as it exited.
				if fn != nil || o.Exit < 0 {
					o.Exit, o.Error = -1, fmt.Sprintf("timeout after %v", time.Duration(t.Timeout))
				}
			default:
				// The worker is closing: give the point back to the
				// broker, which hands it to another worker.
				return nil, ctx.Err()
			}
		}
		o.Start, o.Duration = start.UnixNano(), int64(time.Since(start))
		o.Worker, o.Host = name, host
		if telemetry.Enabled() { // the point on the profile's timeline of tasks
			span := telemetry.TaskSpan{Label: "point", Worker: name, Slot: slot, Index: t.Point, Start: start, End: start.Add(time.Duration(o.Duration))}
			if o.Error != "" {
				span.Err = errors.New(o.Error)
			}
			telemetry.Task(span)
		}
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	}
}

// ownSpans adds to a Worker's options that its requests are not put on
// the profile's timeline: the handler puts each point there itself, named
// and numbered as the grid's.
func ownSpans(opts []pirate.Option) []pirate.Option {
	return append(append([]pirate.Option(nil), opts...), pirate.WithoutTaskSpans())
}

func callFunc(ctx context.Context, fn Func, p Point) (o outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = outcome{Exit: 2, Error: fmt.Sprintf("panic: %v", r)}
		}
	}()
	v, err := fn(ctx, p)
	if err != nil {
		return outcome{Exit: 1, Error: err.Error()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return outcome{Exit: 1, Error: "result: " + err.Error()}
	}
	return outcome{Result: b}
}

// Hostname is os.Hostname, or "unknown".
func Hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// Serve runs slots workers for the master whose workers' endpoint is
// endpoint (gridsearch run's -bind, e.g. "tcp://master:5555") until ctx
// ends, then closes them and returns. Each slot runs one point at a time:
// fn when it is not nil (its master must have been given the same Func),
// the point's command otherwise. Options are passed to each pirate.Worker.
// A master that goes away is waited for: the slots reconnect, with
// back-off, to the next master on the same endpoint.
func Serve(ctx context.Context, endpoint string, slots int, fn Func, opts ...pirate.Option) error {
	return ServeIdle(ctx, endpoint, slots, fn, 0, opts...)
}

// ErrIdle is ServeIdle's return when no master has been heard for its idle
// time.
var ErrIdle = errors.New("gridsearch: no master")

// ErrNeverHeard is wrapped, beside ErrIdle, by ServeIdle's return when no
// slot heard any master from the start: none was reached, or each refused
// the slots (another key, or none). A worker that served a master and
// then lost it, as at the end of a grid, returns ErrIdle alone.
var ErrNeverHeard = errors.New("gridsearch: no master heard since the start")

// idleError is ServeWith's ErrIdle, with ErrNeverHeard when never is set.
type idleError struct {
	idle  time.Duration
	never bool
}

func (e idleError) Error() string {
	if e.never {
		return fmt.Sprintf("gridsearch: no master for %v, none heard since the start", e.idle)
	}
	return fmt.Sprintf("gridsearch: no master for %v", e.idle)
}

func (e idleError) Unwrap() []error {
	if e.never {
		return []error{ErrIdle, ErrNeverHeard}
	}
	return []error{ErrIdle}
}

// ServeIdle is Serve that also stops, returning ErrIdle, once no slot has
// heard from a master for idle: from the start, or since the last
// heartbeat of a master that finished or died. 0 waits for ever. A master
// sends heartbeats every second (pirate.DefaultHeartbeatInterval), and a
// slot hears a new master only after it has given up the old one and
// reconnected, so idle should be several seconds at least. The slots'
// reconnect back-off is capped at a quarter of idle, so that a master that
// comes up within idle is found (an option of opts may set another).
func ServeIdle(ctx context.Context, endpoint string, slots int, fn Func, idle time.Duration, opts ...pirate.Option) error {
	return ServeWith(ctx, ServeConfig{Endpoint: endpoint, Slots: slots, Func: fn, Idle: idle, Options: opts})
}
