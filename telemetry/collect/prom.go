package collect

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// classicBuckets bounds the buckets of a histogram on /metrics.
const classicBuckets = 32

// promCollector exposes the aggregator's latest series in Prometheus's
// types: monotonic sums as counters, other sums and gauges as gauges,
// histograms as classic histograms. It describes nothing in advance (an
// unchecked collector): the series come and go with the processes.
type promCollector struct{ c *Collector }

func (promCollector) Describe(chan<- *prometheus.Desc) {}

// family is the series of one Prometheus metric: each must have the same
// label names, so those a series lacks are given empty values.
type family struct {
	kind   Kind
	help   string
	labels []string
	series []promSeries
}

type promSeries struct {
	labels map[string]string
	pt     Point
}

func (pc promCollector) Collect(ch chan<- prometheus.Metric) {
	fams := make(map[string]*family)
	pc.c.Agg.Each(func(p *ProcessInfo, pt *Point) {
		name := promName(pt)
		f := fams[name]
		if f == nil {
			f = &family{kind: pt.Kind, help: fmt.Sprintf("%s (%s), OTLP %s", pt.Metric, pt.Unit, pt.Kind)}
			fams[name] = f
		}
		if f.kind != pt.Kind {
			return // the same name with another kind: keep the first
		}
		labels := map[string]string{"service_name": p.Service, "service_instance_id": p.Instance, "host_name": p.Host}
		for _, a := range pt.Attrs {
			labels[promLabel(a.Key)] = a.Value
		}
		// A copy: its Hist, never changed once decoded, may be read
		// outside the lock.
		f.series = append(f.series, promSeries{labels, *pt})
	})
	for name, f := range fams {
		f.collect(name, ch)
	}
	b, r, n := pc.c.Stats()
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_batches_total", "Batches the collector took in, by result.", []string{"result"}, nil), prometheus.CounterValue, float64(b), "ok")
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_batches_total", "Batches the collector took in, by result.", []string{"result"}, nil), prometheus.CounterValue, float64(r), "rejected")
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_received_bytes_total", "Bytes of batches received.", nil, nil), prometheus.CounterValue, float64(n))
	d := pc.c.Dropped()
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_points_dropped_total", "Points dropped over the collector's limits on series, processes and memory.", nil, nil), prometheus.CounterValue, float64(d.Points))
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_processes_dropped_total", "Processes refused over the collector's limits on processes and memory.", nil, nil), prometheus.CounterValue, float64(d.Processes))
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_window_dropped_total", "Points left off the live page over its limits on lines and memory.", nil, nil), prometheus.CounterValue, float64(d.Window))
	if st := pc.c.store; st != nil {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_store_dropped_total", "Samples and tasks dropped because the database fell behind or a write failed.", nil, nil), prometheus.CounterValue, float64(d.Store))
		failed := 0.0
		if st.Err() != nil {
			failed = 1
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("zprof_store_failed", "1 once a write to the database has failed.", nil, nil), prometheus.GaugeValue, failed)
	}
}

func (f *family) collect(name string, ch chan<- prometheus.Metric) {
	set := map[string]bool{}
	for _, s := range f.series {
		for k := range s.labels {
			set[k] = true
		}
	}
	for k := range set {
		f.labels = append(f.labels, k)
	}
	slices.Sort(f.labels)
	desc := prometheus.NewDesc(name, f.help, f.labels, nil)
	for _, s := range f.series {
		vals := make([]string, len(f.labels))
		for i, k := range f.labels {
			vals[i] = s.labels[k]
		}
		var m prometheus.Metric
		var err error
		switch f.kind {
		case Counter:
			m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, s.pt.Value, vals...)
		case Histogram:
			m, err = prometheus.NewConstHistogram(desc, s.pt.Hist.Count, s.pt.Hist.Sum, s.pt.Hist.Classic(classicBuckets), vals...)
		default:
			m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, s.pt.Value, vals...)
		}
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	}
}

// promName is OTLP's metric name in Prometheus's conventions: dots to
// underscores, the unit as a suffix, _total on counters.
func promName(pt *Point) string {
	name := promLabel(pt.Metric)
	switch pt.Unit {
	case "s":
		name = suffix(name, "_seconds")
	case "By":
		name = suffix(name, "_bytes")
	}
	if pt.Kind == Counter {
		name = suffix(name, "_total")
	}
	return name
}

func suffix(name, s string) string {
	if strings.HasSuffix(name, s) {
		return name
	}
	return name + s
}

// promLabel turns a name into Prometheus's [a-zA-Z_][a-zA-Z0-9_]*.
func promLabel(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
