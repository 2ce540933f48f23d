package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// topCmd subscribes to a collector's PUB (zprof collect -pub) and shows,
// every interval, a table of the actors of every process it hears of.
// Reading the collector's re-published batches, not the programs' PUSH,
// leaves the collector the only PULL: PUSH would deal batches out between
// the two, and each would see half.
func topCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("top", "-connect EP", stdout)
	ep := fs.String("connect", "", "the collector's PUB `EP` (its -pub), for example tcp://host:5582")
	n := fs.Int("n", 0, "stop after `N` refreshes (0: until Ctrl-C)")
	every := fs.Duration("interval", time.Second, "the refresh interval `D`")
	if err := parse(fs, args, "connect"); err != nil {
		return err
	}
	if *every <= 0 || *n < 0 {
		return fmt.Errorf("%w: top: -interval must be positive and -n not negative", errUsage)
	}
	sub, err := socket.New(socket.Sub, socket.WithMaxMsgSize(telemetry.MaxBatchBytes), socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer sub.Close()
	if err := sub.Subscribe(nil); err != nil {
		return err
	}
	if err := sub.Connect(*ep); err != nil {
		if errors.Is(err, socket.ErrBadEndpoint) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	t := &top{agg: collect.NewAggregator(), latest: make(map[string]collect.Sample), ep: *ep, tty: isTerminal(stdout)}
	return t.run(ctx, sub, *n, *every, stdout)
}

// top is the state of zprof top: the latest sample of every series.
type top struct {
	agg    *collect.Aggregator
	latest map[string]collect.Sample
	ep     string
	tty    bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (t *top) run(ctx context.Context, sub *socket.Socket, n int, every time.Duration, out io.Writer) error {
	next := time.Now().Add(every)
	for shown := 0; n == 0 || shown < n; {
		rctx, cancel := context.WithDeadline(ctx, next)
		m, err := sub.Recv(rctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			t.add(m)
			continue
		case !errors.Is(err, context.DeadlineExceeded):
			return err
		}
		t.forget(time.Now().Add(-forgetAfter))
		t.render(out)
		shown++
		next = next.Add(every)
	}
	return nil
}

func (t *top) add(m [][]byte) {
	b, err := collect.Decode(m)
	if err != nil {
		return // the collector re-publishes only what it decoded
	}
	for _, s := range t.agg.Add(b, time.Now()) {
		k := collect.SeriesKey(s.Instance, s.Metric, s.AttrsJSON)
		if old, ok := t.latest[k]; ok && s.Kind == collect.Counter && math.IsNaN(s.Rate) {
			s.Rate = old.Rate // keep the last rate known when two batches came at once
		}
		t.latest[k] = s
	}
}

// forget drops the processes silent since before.
func (t *top) forget(before time.Time) {
	t.agg.Forget(before)
	for k, s := range t.latest {
		if _, ok := t.agg.Process(s.Instance); !ok {
			delete(t.latest, k)
		}
	}
}

// row is one actor of one process. A figure whose series the process did
// not send is NaN, shown "-": an Outbox (patterns.Push and the like) only
// sends, so it has no messages in, no mailbox and no errors, and its count
// is its messages out; an actor has no messages out but through one.
type row struct {
	proc, actor           string
	in, out               float64 // a second
	inTotal, outTotal     float64
	p50, p99, depth, errs float64
}

func (t *top) rows() (map[string]*row, []string) {
	names := map[string]string{}
	for _, p := range t.agg.Processes() {
		names[p.Instance] = fmt.Sprintf("%s[%d]@%s", p.Service, p.PID, p.Host)
	}
	rows := map[string]*row{}
	for _, s := range t.latest {
		actor := s.Attrs.Get(telemetry.AttrActor)
		if actor == "" {
			continue
		}
		k := s.Instance + "\x00" + actor
		r := rows[k]
		if r == nil {
			nan := math.NaN()
			r = &row{proc: names[s.Instance], actor: actor, in: nan, out: nan, inTotal: nan, outTotal: nan,
				p50: nan, p99: nan, depth: nan, errs: nan}
			rows[k] = r
		}
		fillRow(r, s)
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := rows[keys[i]], rows[keys[j]]
		return a.proc+"\x00"+a.actor < b.proc+"\x00"+b.actor
	})
	return rows, keys
}

func fillRow(r *row, s collect.Sample) {
	switch s.Metric {
	case telemetry.MetricActorMessages:
		if s.Attrs.Get(telemetry.AttrDirection) == "in" {
			r.in, r.inTotal = s.Rate, s.Value
		} else {
			r.out, r.outTotal = s.Rate, s.Value
		}
	case telemetry.MetricActorHandling:
		r.p50, r.p99 = s.P50*1e3, s.P99*1e3
	case telemetry.MetricActorMailboxDepth:
		r.depth = s.Value
	case telemetry.MetricActorErrors:
		r.errs = s.Value
	}
}

func (t *top) render(out io.Writer) {
	var b strings.Builder
	if t.tty {
		b.WriteString("\x1b[H\x1b[2J") // home, clear screen
	}
	rows, keys := t.rows()
	fmt.Fprintf(&b, "zprof top  %s  %d processes  %s\n\n", t.ep, len(t.agg.Processes()), time.Now().Format("15:04:05"))
	// The name columns are as wide as their longest name, up to a bound:
	// names often differ only at the end (worker-1, worker-2), so a longer
	// one loses its middle, not its end.
	pw, aw := len("PROCESS"), len("ACTOR")
	for _, r := range rows {
		pw = max(pw, min(utf8.RuneCountInString(r.proc), maxProcWidth))
		aw = max(aw, min(utf8.RuneCountInString(r.actor), maxActorWidth))
	}
	// The totals are shown from the first table on; the rates only from a
	// process's second batch, so OUT TOTAL is the first sign of an
	// Outbox's traffic.
	fmt.Fprintf(&b, "%-*s %-*s %9s %9s %11s %11s %9s %9s %6s %6s\n", pw, "PROCESS", aw, "ACTOR",
		"IN/s", "OUT/s", "IN TOTAL", "OUT TOTAL", "P50 ms", "P99 ms", "DEPTH", "ERRORS")
	for _, k := range keys {
		r := rows[k]
		fmt.Fprintf(&b, "%-*s %-*s %9s %9s %11s %11s %9s %9s %6s %6s\n",
			pw, elide(r.proc, pw), aw, elide(r.actor, aw), num(r.in), num(r.out), count(r.inTotal), count(r.outTotal),
			num(r.p50), num(r.p99), count(r.depth), count(r.errs))
	}
	if !t.tty {
		b.WriteString("\n")
	}
	io.WriteString(out, b.String())
}

// The widest the name columns of zprof top get.
const (
	maxProcWidth  = 40
	maxActorWidth = 40
)

// elide is s in at most w runes: with its middle replaced by "…" if it is
// longer.
func elide(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	head := (w - 1) / 2
	return string(r[:head]) + "…" + string(r[len(r)-(w-1-head):])
}

// num is a figure, or "-" when it is not known.
func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// count is a whole figure, or "-" when it is not known.
func count(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}
