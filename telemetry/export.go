package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/internal/shell"
)

// Errors.
var (
	// ErrRunning is Start's error when profiling is already on.
	ErrRunning = errors.New("telemetry: already started")
	// ErrNoTransport is Start's error in a program that links no transport:
	// package socket registers one when it is imported.
	ErrNoTransport = errors.New("telemetry: no transport registered (import github.com/zmqflow/zmqflow/socket)")
	// ErrEndpoint is the error for an endpoint that is not
	// transport://address.
	ErrEndpoint = errors.New("telemetry: bad endpoint")
	// ErrNoCollector is in a Sender's error when no collector was
	// connected: the endpoint refused the connection, or did not answer,
	// or the connection was lost.
	ErrNoCollector = errors.New("telemetry: no collector connected")
)

// Sender is the transport's sending end, made by a Transport for one
// endpoint. It belongs to the exporter's goroutine, which alone calls it.
type Sender interface {
	// TrySend sends one batch, its frames in order, without waiting: when
	// the way to the collector has no room it returns an error at once and
	// the batch is not sent. The error wraps ErrNoCollector when no
	// collector is connected.
	TrySend(frames [][]byte) error
	// Close delivers what TrySend took, for as long as ctx allows, then
	// releases the transport. Its error wraps ErrNoCollector when what
	// was not delivered found no collector connected.
	Close(ctx context.Context) error
}

// Transport makes the Sender for an endpoint. Package socket registers
// one: a PUSH socket connected to the endpoint with a small high-water
// mark, so that a slow or absent collector costs dropped batches, never a
// blocked program.
type Transport func(endpoint string) (Sender, error)

var transport atomic.Pointer[Transport]

// SetTransport registers the transport batches go out by. Package socket
// calls it at init; a program that has no socket has no transport.
func SetTransport(t Transport) { transport.Store(&t) }

// Option configures Start.
type Option func(*config)

type config struct {
	interval time.Duration
	name     string
}

// DefaultInterval is how often a batch goes out.
const DefaultInterval = time.Second

// WithInterval sets how often a batch goes out; the default is
// DefaultInterval. Shorter than 10 ms is taken as 10 ms.
func WithInterval(d time.Duration) Option {
	return func(c *config) { c.interval = max(d, 10*time.Millisecond) }
}

// WithName sets service.name, the program's name in the collector. The
// default is the executable's base name.
func WithName(name string) Option { return func(c *config) { c.name = name } }

var (
	on  atomic.Bool // profiling is on: instruments are worth making
	mu  sync.Mutex  // guards cur
	cur *exporter   // the running exporter, if any
	env sync.Once   // ZMQFLOW_PROFILE looked at
)

var processStart = time.Now()

// Enabled reports whether profiling is on: sockets and actors made while
// it is on are measured. Its first call in a program looks at
// ZMQFLOW_PROFILE and starts profiling when it names an endpoint (a bad
// value is reported on stderr and profiling stays off). After that it is
// one atomic load. Safe for concurrent use.
func Enabled() bool {
	env.Do(startFromEnv)
	return on.Load()
}

func startFromEnv() {
	v, ok := os.LookupEnv(EnvProfile)
	if !ok || v == "" {
		return
	}
	if err := parseEndpoint(v); err != nil {
		fmt.Fprintf(os.Stderr, "zmqflow: %s=%q: %v; profiling stays off\n", EnvProfile, v, err)
		return
	}
	if err := start(context.Background(), v); err != nil {
		fmt.Fprintf(os.Stderr, "zmqflow: %s=%q: %v; profiling stays off\n", EnvProfile, v, err)
	}
}

// parseEndpoint checks that s is transport://address with a transport a
// socket knows; the transport itself checks the address when it connects.
func parseEndpoint(s string) error {
	scheme, addr, ok := strings.Cut(s, "://")
	if !ok || addr == "" {
		return fmt.Errorf("%w %q: want transport://address, as tcp://host:5580", ErrEndpoint, s)
	}
	switch scheme {
	case "tcp", "ipc", "inproc":
	default:
		return fmt.Errorf("%w %q: transport %q, want tcp, ipc or inproc", ErrEndpoint, s, scheme)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("%w %q: control character or space", ErrEndpoint, s)
		}
	}
	return nil
}

// Start turns profiling on: sockets and actors made from now on are
// measured, and a batch goes to endpoint every interval from a goroutine
// of the package, until Stop or until ctx ends (then the last batch is sent
// without waiting for it to be delivered). It returns at once; a collector
// that is not there yet is no error. It returns ErrRunning if profiling is
// on already (ZMQFLOW_PROFILE, or an earlier Start), ErrEndpoint for an
// endpoint that is not transport://address, and ErrNoTransport in a
// program without package socket. Safe for concurrent use.
func Start(ctx context.Context, endpoint string, opts ...Option) error {
	env.Do(startFromEnv) // the environment first, so that it cannot start a second exporter
	if err := parseEndpoint(endpoint); err != nil {
		return err
	}
	return start(ctx, endpoint, opts...)
}

func start(ctx context.Context, endpoint string, opts ...Option) error {
	c := config{interval: DefaultInterval, name: filepath.Base(os.Args[0])}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	t := transport.Load()
	if t == nil || *t == nil {
		return ErrNoTransport
	}
	mu.Lock()
	defer mu.Unlock()
	if cur != nil {
		return ErrRunning
	}
	e := newExporter(c, *t, endpoint)
	cur = e
	on.Store(true)
	go e.run(ctx)
	return nil
}

// Stop turns profiling off: it sends the last batch, so that the totals
// the collector holds are those of the whole run, and waits for it to be
// delivered until ctx ends, or not at all when the collector is known to
// be away (its endpoint refused the connection, or the connection was
// lost).
// It returns an error if the batch was perhaps not delivered (ctx's,
// if that is why), and nil at once if profiling was off. Every
// goroutine of the package has ended when it returns. Safe for concurrent
// use.
func Stop(ctx context.Context) error {
	mu.Lock()
	e := cur
	cur = nil
	on.Store(false)
	mu.Unlock()
	if e == nil {
		return nil
	}
	e.stop <- ctx
	<-e.done
	return e.err
}

// children is set once ChildEnv has been asked for: this process reports
// an absent collector for its child processes too.
var children atomic.Bool

// ChildEnv returns what to add to the environment of a child process that
// this program starts (exec.Cmd's Env, after os.Environ()), when the
// child is a zmqflow program that inherits ZMQFLOW_PROFILE and writes to
// the same stderr: an absent collector (ErrNoCollector), which is the
// same news for the child as for its parent, is then said once, by the
// parent, for both. Other losses (a slow collector, a batch too big, a
// dial that failed) the child still reports itself. It returns nil when
// profiling is off in this process: the child then speaks for itself.
// Safe for concurrent use.
func ChildEnv() []string {
	if !Enabled() {
		return nil
	}
	children.Store(true)
	return []string{EnvProfileChild + "=1"}
}

// FlushTimeout bounds Flush's wait for the collector.
const FlushTimeout = 2 * time.Second

// Flush is Stop within FlushTimeout, for the end of a program's main
// (defer telemetry.Flush() as its first line, so that it runs after the
// sockets have closed): the collector then has the whole run's exact
// totals. A collector that is absent (its endpoint refuses connections,
// or it went away) does not delay the exit; one that cannot be reached
// (a host that does not answer) or does not read delays it by
// FlushTimeout at most. It does nothing when profiling is off.
func Flush() {
	ctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
	defer cancel()
	_ = Stop(ctx)
}

// exporter is the goroutine that reads the registry every interval and
// ships a batch.
type exporter struct {
	cfg      config
	dial     Transport
	endpoint string
	res      resource
	trace    [16]byte
	stop     chan context.Context
	done     chan struct{}
	err      error // Close's, for Stop
	lastSize int   // the last batch's metrics frame, to size the next
	child    bool  // EnvProfileChild: the parent says that the collector is absent
}

// Figures of the exporter itself, shipped in every batch.
var (
	batchesDropped = NewCounter(MetricBatchesDropped, "{batch}")
	tasksDropped   = NewCounter(MetricTasksDropped, "{task}")
	batchesSent    atomic.Uint64
)

// Stats are the exporter's own counters since the process started, a
// plain value.
type Stats struct {
	Sent           uint64 // batches the transport took
	BatchesDropped uint64 // batches dropped: the collector slow or absent, or too big
	TasksDropped   uint64 // finished tasks not shipped (over MaxTasks, or in a dropped batch)
	SeriesDropped  uint64 // instruments beyond MaxSeries with no room to make, not shipped
}

// ReadStats returns the exporter's counters. Safe for concurrent use.
func ReadStats() Stats {
	return Stats{Sent: batchesSent.Load(), BatchesDropped: batchesDropped.Load(),
		TasksDropped: tasksDropped.Load(), SeriesDropped: reg.dropped.Load()}
}

func newExporter(c config, t Transport, endpoint string) *exporter {
	e := &exporter{cfg: c, dial: t, endpoint: endpoint,
		stop: make(chan context.Context, 1), done: make(chan struct{}),
		child: os.Getenv(EnvProfileChild) != ""}
	_, _ = rand.Read(e.trace[:])
	host, _ := os.Hostname()
	e.res.attrs = []Attr{
		String("service.name", c.name),
		String("service.instance.id", hex.EncodeToString(e.trace[:])),
		String("host.name", host),
		Int("process.pid", int64(os.Getpid())),
	}
	return e
}

func (e *exporter) run(ctx context.Context) {
	defer close(e.done)
	// Dialled here, not in Start: the transport makes a socket, and a
	// socket's constructor may be what called Start.
	snd, err := e.dial(e.endpoint)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zmqflow: profiling to %s: %v; profiling stays off\n", e.endpoint, err)
		e.err = err
		e.detach()
		return
	}
	tick := time.NewTicker(e.cfg.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			e.ship(snd)
		case sctx := <-e.stop:
			e.ship(snd)
			if e.err = snd.Close(sctx); e.err != nil {
				e.lost(e.err, true)
			}
			return
		case <-ctx.Done():
			e.ship(snd)
			_ = snd.Close(ctx) // ended: nothing waits for delivery
			e.detach()
			return
		}
	}
}

// detach turns profiling off when the exporter ends by itself, unless a
// Stop already did.
func (e *exporter) detach() {
	mu.Lock()
	defer mu.Unlock()
	if cur == e {
		cur = nil
		on.Store(false)
	}
}

// ship reads the figures and sends them as one batch; a batch that cannot
// be sent at once, or is too big, is dropped and counted.
func (e *exporter) ship(snd Sender) {
	frames, tasks, read := e.batch()
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	var err error
	if size <= MaxBatchBytes {
		if err = snd.TrySend(frames); err == nil {
			batchesSent.Add(1)
			reg.wasShipped(read)
			return
		}
	}
	batchesDropped.Add(1)
	tasksDropped.Add(uint64(tasks))
	if size > MaxBatchBytes {
		e.warn(fmt.Sprintf("a batch of %d bytes, over %d, was dropped", size, MaxBatchBytes))
	} else {
		e.lost(err, false)
	}
}

// lost says that figures did not reach the collector (see warn): err is
// the transport's, last whether it is Stop's batch. An absent collector is
// the same news for every process of a run that sends to it, so a child
// process (ChildEnv) leaves it to its parent, which says it for both;
// what else goes wrong is the process's own to report.
func (e *exporter) lost(err error, last bool) {
	if !errors.Is(err, ErrNoCollector) {
		if last {
			e.warn(fmt.Sprintf("the last batch was not delivered: %v", err))
		} else {
			e.warn("the collector is absent or slow: batches are dropped, and counted, until it takes them")
		}
		return
	}
	if e.child {
		return
	}
	if warnedAbsent.Swap(true) {
		return
	}
	whose := "this process"
	if children.Load() {
		whose = "this process and its child processes"
	}
	what := "the profile of " + whose + " was not delivered"
	if !last {
		what = "the profile of " + whose + " is not delivered (batches are dropped, and counted, until one takes them)"
	}
	// Said even when another loss was said before: the children, quiet
	// about it, count on this line.
	warned.Store(true)
	e.say(fmt.Sprintf("no collector there: %s; start one with: zprof collect -bind %s -db profile.db", what, shell.Quote(bindHint(e.endpoint))))
}

// bindHint is the endpoint a collector binds to take what is sent to
// endpoint: a TCP port on every interface, or the same ipc path.
func bindHint(endpoint string) string {
	if rest, ok := strings.CutPrefix(endpoint, "tcp://"); ok {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			return "tcp://*" + rest[i:]
		}
	}
	return endpoint
}

// warnOut is where the exporter says that figures are lost.
var warnOut io.Writer = os.Stderr

// warned is set once the process has said that figures are lost: one
// line, not one a batch. warnedAbsent is set once it has said that no
// collector is there, which it says whatever it said before (the
// children of a parent leave that line to it), and after which it says
// nothing more.
var warned, warnedAbsent atomic.Bool

// warn says once a process, on stderr, why figures do not reach the
// collector.
func (e *exporter) warn(why string) {
	if !warned.Swap(true) {
		e.say(why)
	}
}

// say writes one line about the profile on stderr.
func (e *exporter) say(why string) {
	fmt.Fprintf(warnOut, "zmqflow: profiling to %s: %s\n", e.endpoint, why)
}

// batch builds the frames of one batch, and returns the number of its read
// of the registry. Every frame is a fresh slice: the transport may still
// hold the last batch's.
func (e *exporter) batch() (frames [][]byte, tasks int, read uint64) {
	start := uint64(processStart.UnixNano())
	// The points are made for each batch, at their number, not kept:
	// in a program whose heap is small, what is kept live between
	// batches costs more GC cycles than what a batch leaves behind.
	series, read := reg.read()
	now := uint64(time.Now().UnixNano()) // after every series' start (see appendMetric)
	pts := readRegistry(readProcess(make([]point, 0, len(series)+processPoints+1)), series)
	metrics := appendMetrics(make([]byte, 0, e.lastSize+1024), &e.res, start, now, pts)
	e.lastSize = len(metrics) // the next one's guess; the batch itself is the transport's
	frames = [][]byte{[]byte(Version), metrics}
	spans := takeTasks()
	if len(spans) > 0 {
		frames = append(frames, appendTrace(nil, &e.res, e.trace, spans))
	}
	return frames, len(spans), read
}

// readRegistry appends the figures of the series ss.
func readRegistry(pts []point, ss []*series) []point {
	for _, s := range ss {
		p := point{name: s.name, unit: s.unit, kind: s.kind, attrs: s.attrs, start: s.start}
		switch s.kind {
		case kindHist:
			p.hist = s.histogram()
		case kindDuration:
			p.f, p.isFloat = float64(s.value())*1e-9, true
		default:
			p.i = s.value()
		}
		pts = append(pts, p)
	}
	if n := reg.dropped.Load(); n > 0 {
		pts = append(pts, point{name: MetricSeriesDropped, unit: "{series}", kind: kindSum, i: int64(n)})
	}
	return pts
}
