package collect

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/zmqflow/zmqflow/telemetry"
)

// View is what the HTML page draws, as JSON: per actor, messages in
// (handled) and out (sent) a second, handling-time percentiles and mailbox
// depth over time, and the tasks each worker slot ran. Times are unix
// seconds.
//
// An actor or Outbox has a line only for the series its process sends,
// never a line of zeros for one it does not: an actor has messages in and
// no messages out (it sends through an Outbox, a line of its own); an
// Outbox (package patterns' Push, Pub and the like) has messages out
// alone, with no handling time or mailbox. The lines of one actor share a
// name across the charts.
type View struct {
	Now       float64       `json:"now"`
	Processes []ProcessView `json:"processes"`
	// Throughput is messages in (handled) a second.
	Throughput []Line `json:"throughput"`
	// Out is messages out (sent) a second.
	Out     []Line     `json:"out"`
	Latency []Line     `json:"latency"`
	Depth   []Line     `json:"depth"`
	Tasks   []TaskView `json:"tasks"`
}

// ProcessView is a process in a View.
type ProcessView struct {
	Instance string  `json:"instance"`
	Service  string  `json:"service"`
	Host     string  `json:"host"`
	PID      int64   `json:"pid"`
	First    float64 `json:"first"`
	Last     float64 `json:"last"`
	Batches  uint64  `json:"batches"`
}

// Line is one series of a chart: [time, value] pairs, oldest first.
type Line struct {
	Name   string       `json:"name"`
	Points [][2]float64 `json:"points"`
}

// TaskView is a task in a View.
type TaskView struct {
	Worker string  `json:"worker"`
	Slot   int64   `json:"slot"`
	Task   int64   `json:"task"`
	Label  string  `json:"label"`
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	Error  string  `json:"error,omitempty"`
}

// The live page's limits (a Collector's Window): past MaxLines lines, or
// MaxWindowBytes of them, a point that would start a line or lengthen one
// is dropped and counted (Window.Dropped); past MaxProcesses, a process is
// not listed.
const (
	MaxLines       = 1 << 13
	MaxWindowBytes = 48 << 20
)

// lineCost is a line's fixed cost, beyond its name and points.
const lineCost = 160

// Window keeps what the live page shows: the samples of the charted
// metrics over the last span seconds, at most maxPoints a line, and the
// last maxTasks tasks. It is safe for concurrent use.
type Window struct {
	mu        sync.Mutex
	span      float64
	maxPoints int
	maxTasks  int
	limited   bool // MaxLines, MaxWindowBytes and MaxProcesses apply
	lines     map[lineKey]*Line
	bytes     int // of lines: lineCost, name and points' capacity each
	dropped   uint64
	procs     map[string]ProcessView
	tasks     []TaskView
}

// lineKey names a line: its chart ('t' messages in, 'o' messages out, 'l'
// or 'd') and its name, the Line's own.
type lineKey struct {
	chart byte
	name  string
}

// NewWindow returns a window of span seconds (0: unbounded), at most
// maxPoints a line and maxTasks tasks.
func NewWindow(span float64, maxPoints, maxTasks int) *Window {
	return &Window{span: span, maxPoints: maxPoints, maxTasks: maxTasks,
		lines: make(map[lineKey]*Line), procs: make(map[string]ProcessView)}
}

// SetProcess records a process's figures, for naming its lines.
func (w *Window) SetProcess(p ProcessView) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.procs[p.Instance]; !ok && w.limited && len(w.procs) >= MaxProcesses {
		return // its lines are named by its instance id
	}
	w.procs[p.Instance] = p
}

// Dropped returns the points dropped over MaxLines and MaxWindowBytes.
func (w *Window) Dropped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

func (w *Window) lineName(inst, actor string) string {
	p, ok := w.procs[inst]
	if !ok {
		return fmt.Sprintf("%s · %.8s", actor, inst)
	}
	return fmt.Sprintf("%s · %s[%d]", actor, p.Service, p.PID)
}

// Forget drops the processes last heard from before the given unix
// seconds, and the lines whose newest point is older: a restarted process
// draws new lines, and the old ones must not stay for ever.
func (w *Window) Forget(before float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, p := range w.procs {
		if p.Last < before {
			delete(w.procs, k)
		}
	}
	for k, l := range w.lines {
		if n := len(l.Points); n == 0 || l.Points[n-1][0] < before {
			delete(w.lines, k)
			w.bytes -= lineBytes(l)
		}
	}
}

// Add records the samples of the charted metrics and the tasks.
func (w *Window) Add(samples []Sample, tasks []Task) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range samples {
		s := &samples[i]
		actor := s.Attrs.Get(telemetry.AttrActor)
		if actor == "" {
			continue
		}
		t := secs(s.Time)
		switch s.Metric {
		case telemetry.MetricActorMessages:
			switch s.Attrs.Get(telemetry.AttrDirection) {
			case "in":
				w.point('t', w.lineName(s.Instance, actor), t, s.Rate)
			case "out":
				w.point('o', w.lineName(s.Instance, actor), t, s.Rate)
			}
		case telemetry.MetricActorHandling:
			name := w.lineName(s.Instance, actor)
			w.point('l', name+" p50", t, s.P50)
			w.point('l', name+" p90", t, s.P90)
			w.point('l', name+" p99", t, s.P99)
		case telemetry.MetricActorMailboxDepth:
			w.point('d', w.lineName(s.Instance, actor), t, s.Value)
		}
	}
	for _, t := range tasks {
		w.tasks = append(w.tasks, TaskView{Worker: t.Worker, Slot: t.Slot, Task: t.Task, Label: t.Label,
			Start: secs(t.Start), End: secs(t.End), Error: t.Error})
	}
	if w.maxTasks > 0 && len(w.tasks) > w.maxTasks {
		w.tasks = slices.Delete(w.tasks, 0, len(w.tasks)-w.maxTasks)
	}
}

// pointBytes is a point's size in a line, [2]float64.
const pointBytes = 16

func lineBytes(l *Line) int { return lineCost + len(l.Name) + pointBytes*cap(l.Points) }

func (w *Window) point(chart byte, name string, t, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	key := lineKey{chart, name}
	l := w.lines[key]
	if w.limited {
		// The room the point may take: a new line's cost, and a full
		// line's growth (a quarter or more, four points at least). A line
		// is made with its first point, or not at all: one with no
		// points would be drawn empty, and kept until Forget.
		need, points := 0, 0
		if l == nil {
			need = lineCost + len(name)
		} else {
			points = cap(l.Points)
		}
		if l == nil || len(l.Points) == points {
			need += pointBytes * max(4, points)
		}
		if need > 0 && (l == nil && len(w.lines) >= MaxLines || w.bytes+need > MaxWindowBytes) {
			w.dropped++
			return
		}
	}
	if l == nil {
		l = &Line{Name: name}
		w.lines[key] = l
		w.bytes += lineCost + len(name)
	}
	c := cap(l.Points)
	l.Points = append(l.Points, [2]float64{t, v})
	w.bytes += pointBytes * (cap(l.Points) - c)
	cut := 0
	if w.maxPoints > 0 && len(l.Points) > w.maxPoints {
		cut = len(l.Points) - w.maxPoints
	}
	for w.span > 0 && cut < len(l.Points) && l.Points[cut][0] < t-w.span {
		cut++
	}
	if cut > 0 {
		l.Points = slices.Delete(l.Points, 0, cut)
	}
}

// View returns a copy of what the window holds, now being the time of its
// latest point.
func (w *Window) View() View {
	w.mu.Lock()
	defer w.mu.Unlock()
	var v View
	for key, l := range w.lines {
		c := Line{Name: l.Name, Points: slices.Clone(l.Points)}
		if n := len(c.Points); n > 0 {
			v.Now = math.Max(v.Now, c.Points[n-1][0])
		}
		switch key.chart {
		case 't':
			v.Throughput = append(v.Throughput, c)
		case 'o':
			v.Out = append(v.Out, c)
		case 'l':
			v.Latency = append(v.Latency, c)
		case 'd':
			v.Depth = append(v.Depth, c)
		}
	}
	for _, ls := range [][]Line{v.Throughput, v.Out, v.Latency, v.Depth} {
		sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	}
	v.Tasks = slices.Clone(w.tasks)
	for _, p := range w.procs {
		v.Processes = append(v.Processes, p)
		v.Now = math.Max(v.Now, p.Last)
	}
	sort.Slice(v.Processes, func(i, j int) bool { return v.Processes[i].First < v.Processes[j].First })
	if v.Tasks == nil {
		v.Tasks = []TaskView{}
	}
	return v
}

// LoadView reads a whole database written by a Store into a View, for the
// static report.
func LoadView(ctx context.Context, db *sql.DB) (View, error) {
	w := NewWindow(0, 0, 0)
	rows, err := db.QueryContext(ctx, `SELECT instance, service, host, pid, first_seen, last_seen, batches FROM processes`)
	if err != nil {
		return View{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	for rows.Next() {
		var p ProcessView
		var service, host sql.NullString
		if err := rows.Scan(&p.Instance, &service, &host, &p.PID, &p.First, &p.Last, &p.Batches); err != nil {
			rows.Close()
			return View{}, fmt.Errorf("%w: %v", ErrStore, err)
		}
		p.Service, p.Host = service.String, host.String
		w.procs[p.Instance] = p
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return View{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if err := loadSamples(ctx, db, w); err != nil {
		return View{}, err
	}
	if err := loadTasks(ctx, db, w); err != nil {
		return View{}, err
	}
	return w.View(), nil
}

func loadSamples(ctx context.Context, db *sql.DB, w *Window) error {
	metrics := []string{telemetry.MetricActorMessages, telemetry.MetricActorHandling, telemetry.MetricActorMailboxDepth}
	rows, err := db.QueryContext(ctx, `SELECT time, instance, metric, attrs, actor, value, rate, p50, p90, p99
		FROM samples WHERE metric IN (?,?,?) AND actor IS NOT NULL ORDER BY time`, metrics[0], metrics[1], metrics[2])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t float64
		var s Sample
		var attrs, actor string
		var value, rate, p50, p90, p99 sql.NullFloat64
		if err := rows.Scan(&t, &s.Instance, &s.Metric, &attrs, &actor, &value, &rate, &p50, &p90, &p99); err != nil {
			return fmt.Errorf("%w: %v", ErrStore, err)
		}
		s.Time = int64(t * 1e9)
		var m map[string]string
		if json.Unmarshal([]byte(attrs), &m) != nil {
			continue // not written by a Store
		}
		s.Attrs = Attrs{{telemetry.AttrActor, actor}, {telemetry.AttrDirection, m[telemetry.AttrDirection]}}
		s.Value, s.Rate, s.P50, s.P90, s.P99 = nan(value), nan(rate), nan(p50), nan(p90), nan(p99)
		w.Add([]Sample{s}, nil)
	}
	return rows.Err()
}

func nan(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

func loadTasks(ctx context.Context, db *sql.DB, w *Window) error {
	rows, err := db.QueryContext(ctx, `SELECT worker, slot, task, label, start, "end", error FROM tasks ORDER BY start`)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t TaskView
		var e sql.NullString
		if err := rows.Scan(&t.Worker, &t.Slot, &t.Task, &t.Label, &t.Start, &t.End, &e); err != nil {
			return fmt.Errorf("%w: %v", ErrStore, err)
		}
		t.Error = e.String
		w.tasks = append(w.tasks, t)
	}
	return rows.Err()
}
