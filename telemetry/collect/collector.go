package collect

import (
	_ "embed"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Collector is the collector's engine: it decodes each batch, merges it
// into its Aggregator, keeps the live page's Window and queues what it
// stores. Ingest may be called from any goroutine, as may its HTTP
// handler's requests; it starts no goroutine of its own.
type Collector struct {
	Agg   *Aggregator
	Win   *Window
	store *Store

	batches  atomic.Uint64
	rejected atomic.Uint64
	bytes    atomic.Uint64
}

// The live page's window: the last 10 minutes, 2000 tasks.
const (
	liveSpan  = 600
	livePts   = 1200
	liveTasks = 2000
)

// NewCollector returns a collector that stores into store, or stores
// nothing when store is nil.
func NewCollector(store *Store) *Collector {
	w := NewWindow(liveSpan, livePts, liveTasks)
	w.limited = true
	return &Collector{Agg: NewAggregator(), Win: w, store: store}
}

// Ingest decodes and takes in one batch received at now. A batch that does
// not decode changes nothing and is counted as rejected; its error is
// returned for the caller to report, with the batches rejected so far,
// counting it, as Reject returns them: the count this rejection made,
// where Stats may already hold another goroutine's.
func (c *Collector) Ingest(frames [][]byte, now time.Time) (rejected uint64, err error) {
	for _, f := range frames {
		c.bytes.Add(uint64(len(f)))
	}
	b, err := Decode(frames)
	if err != nil {
		return c.rejected.Add(1), err
	}
	c.batches.Add(1)
	samples := c.Agg.Add(b, now)
	procs := make([]ProcessInfo, 0, len(b.Processes))
	for _, p := range b.Processes {
		if pi, ok := c.Agg.Process(p.Instance); ok {
			procs = append(procs, pi)
			c.Win.SetProcess(processView(pi))
		}
	}
	c.Win.Add(samples, b.Tasks)
	if c.store != nil {
		for i := range samples {
			samples[i].Hist = nil // the Aggregator's, not stored, not to be queued
		}
		c.store.Add(samples, b.Tasks, procs)
	}
	return 0, nil
}

// Forget drops the processes not heard from since before, with their
// series and their lines on the live page, and lets the store forget
// their series' ids: processes that ended, and room for new ones under
// the limits.
func (c *Collector) Forget(before time.Time) {
	kept := c.Agg.forget(before, c.store != nil)
	c.Win.Forget(secs(before.UnixNano()))
	if c.store != nil {
		c.store.forget(func(inst string) bool {
			_, ok := kept[inst]
			return ok
		})
	}
}

// Drops is what a Collector dropped over its limits, by where: a value,
// which Dropped returns a copy of.
type Drops struct {
	// Points is the points of new series over MaxSeries or MaxBytes, and
	// of processes refused (Aggregator.Dropped).
	Points uint64
	// Processes is the processes refused over MaxProcesses or MaxBytes
	// (Aggregator.DroppedProcesses).
	Processes uint64
	// Window is the points left off the live page over MaxLines or
	// MaxWindowBytes (Window.Dropped).
	Window uint64
	// Store is the samples and tasks not stored, over MaxPendingBytes or
	// for a failed write (Store.Dropped).
	Store uint64
}

// Dropped returns what the collector dropped over its limits.
func (c *Collector) Dropped() Drops {
	d := Drops{Points: c.Agg.Dropped(), Processes: c.Agg.DroppedProcesses(), Window: c.Win.Dropped()}
	if c.store != nil {
		d.Store = c.store.Dropped()
	}
	return d
}

func processView(p ProcessInfo) ProcessView {
	return ProcessView{Instance: p.Instance, Service: p.Service, Host: p.Host, PID: p.PID,
		First: secs(p.First.UnixNano()), Last: secs(p.Last.UnixNano()), Batches: p.Batches}
}

// Reject counts a batch rejected before it could be decoded (its sender's
// connection failed on it, over telemetry.MaxBatchBytes), and returns the
// batches rejected so far.
func (c *Collector) Reject() uint64 { return c.rejected.Add(1) }

// Stats returns the batches taken in and rejected, and the bytes received.
func (c *Collector) Stats() (batches, rejected, bytes uint64) {
	return c.batches.Load(), c.rejected.Load(), c.bytes.Load()
}

// Handler serves the live page on /, its data as JSON on /api/view, and
// Prometheus's exposition of the latest series on /metrics.
func (c *Collector) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(promCollector{c})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /api/view", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(c.Win.View())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		WritePage(w, nil)
	})
	return mux
}

//go:embed page.html
var page string

const dataMark = "/*DATA*/null"

// WritePage writes the HTML page: self-contained, drawing its charts with
// inline script. With v nil it polls api/view beside it every second (the
// live page); otherwise it shows v, held inline (the static report).
func WritePage(w io.Writer, v *View) error {
	if v == nil {
		_, err := io.WriteString(w, page)
		return err
	}
	data, err := json.Marshal(v) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	before, after, _ := strings.Cut(page, dataMark)
	for _, s := range []string{before, string(data), after} {
		if _, err := io.WriteString(w, s); err != nil {
			return err
		}
	}
	return nil
}
