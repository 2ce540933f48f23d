// Command producer stands in for a zmqflow program with profiling on, for
// zprof's tests and bench: it sends, over PUSH, a batch every interval in
// telemetry's wire format, made with OTLP's generated types
// (internal/otlptest). Each actor "handles" -per messages a tick for
// -ticks ticks, and each Outbox (-outboxes) sends as many; then the totals
// stay as they are, and it keeps sending them until killed. It never
// waits on the collector: a
// batch it cannot hand over at once is dropped and counted, as the real
// exporter does. It prints "done INSTANCE HANDLED DROPPED TASKS" (messages
// each actor handled, batches dropped, task spans handed over) when its work is
// over. After the telemetry package's exporter lands, the tests can run a
// real zmqflow program instead.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

type config struct {
	connect, name string
	actors        []string
	outboxes      []string
	ticks, per    int
	slots         int
	interval      time.Duration
	procs         int
}

func main() {
	var c config
	var actors, outboxes string
	flag.StringVar(&c.connect, "connect", "", "the collector's endpoint")
	flag.StringVar(&c.name, "name", "producer", "service.name")
	flag.StringVar(&actors, "actors", "source,worker,sink", "comma-separated actor names")
	flag.StringVar(&outboxes, "outboxes", "", "comma-separated Outbox names: each sends -per messages a tick and reports messages out alone")
	flag.IntVar(&c.ticks, "ticks", 20, "ticks of work")
	flag.IntVar(&c.per, "per", 100, "messages each actor handles a tick")
	flag.IntVar(&c.slots, "slots", 2, "worker slots running a task a tick (0: no tasks)")
	flag.DurationVar(&c.interval, "interval", 50*time.Millisecond, "the batch interval")
	flag.IntVar(&c.procs, "procs", 1, "producers to run, each with its own socket and instance id (for load)")
	flag.Parse()
	c.actors = strings.Split(actors, ",")
	if outboxes != "" {
		c.outboxes = strings.Split(outboxes, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	for range c.procs {
		wg.Go(func() {
			if err := run(ctx, c); err != nil {
				fmt.Fprintln(os.Stderr, "producer:", err)
				os.Exit(1)
			}
		})
	}
	wg.Wait()
}

// state is what the producer has "done" so far: cumulative, as on the wire.
type state struct {
	proc     otlptest.Process
	start    time.Time
	handled  int64
	hists    map[string]*otlptest.Hist
	dropped  int64
	task     int64
	sent     int64 // task spans handed over to the socket
	newTasks []*tracepb.Span
}

func run(ctx context.Context, c config) error {
	push, err := socket.New(socket.Push, socket.WithSendHWM(4), socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer push.Close()
	if err := push.Connect(c.connect); err != nil {
		return err
	}
	id := make([]byte, 8)
	rand.Read(id)
	host, _ := os.Hostname()
	s := &state{proc: otlptest.Process{Service: c.name, Instance: hex.EncodeToString(id), Host: host, PID: int64(os.Getpid())},
		start: time.Now(), hists: make(map[string]*otlptest.Hist)}
	for _, a := range c.actors {
		s.hists[a] = otlptest.NewHist(4)
	}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for tick := 0; ; tick++ {
		if tick < c.ticks {
			s.work(c, tick)
		}
		tasks := int64(len(s.newTasks))
		if err := push.TrySend(s.batch(c, tick)); err != nil {
			s.dropped++ // a slow or absent collector: drop, count, go on
		} else {
			s.sent += tasks
		}
		if tick == c.ticks-1 {
			fmt.Printf("done %s %d %d %d\n", s.proc.Instance, s.handled, s.dropped, s.sent)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// work is one tick's "work": per messages through each actor, and a task
// on each worker slot.
func (s *state) work(c config, tick int) {
	s.handled += int64(c.per)
	for i, a := range c.actors {
		for k := range c.per {
			s.hists[a].Add(float64(1+(k+i)%20) * 1e-4) // 0.1 to 2 ms
		}
	}
	now := time.Now()
	for slot := range c.slots {
		s.task++
		label := []string{"square", "cube"}[s.task%2]
		errText := ""
		if s.task%17 == 0 {
			errText = "task failed"
		}
		s.newTasks = append(s.newTasks, otlptest.Span(s.proc.Service+"-w", int64(slot), s.task, label,
			now.Add(-c.interval*time.Duration(1+slot)/4), now, errText))
	}
}

func (s *state) batch(c config, tick int) socket.Msg {
	now := time.Now()
	var ms []*metricspb.Metric
	for i, a := range c.actors {
		attr := otlptest.Str(telemetry.AttrActor, a)
		ms = append(ms,
			// Messages in only: an actor's messages out are its
			// Outboxes' (patterns), as the next loop's.
			otlptest.Counter(telemetry.MetricActorMessages, "{message}", s.start, now, s.handled, attr, otlptest.Str(telemetry.AttrDirection, "in")),
			otlptest.Gauge(telemetry.MetricActorMailboxDepth, "{message}", now, float64((tick+i)%7), attr),
			s.hists[a].Metric(telemetry.MetricActorHandling, s.start, now, attr),
			otlptest.Counter(telemetry.MetricActorErrors, "{error}", s.start, now, 0, attr))
	}
	// An Outbox only sends: messages out, and no figure of an actor's.
	for _, o := range c.outboxes {
		ms = append(ms, otlptest.Counter(telemetry.MetricActorMessages, "{message}", s.start, now, s.handled,
			otlptest.Str(telemetry.AttrActor, o), otlptest.Str(telemetry.AttrDirection, "out")))
	}
	ms = append(ms,
		otlptest.Gauge(telemetry.MetricGoroutines, "{goroutine}", now, 10),
		otlptest.Counter(telemetry.MetricBatchesDropped, "{batch}", s.start, now, s.dropped, []*commonpb.KeyValue{}...))
	frames := otlptest.Batch(s.proc, ms, s.newTasks)
	s.newTasks = nil // sent or dropped: a task's span goes once
	return socket.Msg(frames)
}
