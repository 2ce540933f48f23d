package actor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/telemetry"
)

type discarded struct{}

func (discarded) TrySend([][]byte) error      { return nil }
func (discarded) Close(context.Context) error { return nil }

type startFails struct{ BehaviorFunc[int] }

func (startFails) Start(context.Context) error { return errors.New("no config") }

// released says whether obs is the profiler and has let its series go.
func released(obs Observer) bool {
	po, ok := obs.(*profObserver)
	return ok && po.released.Load()
}

// A Supervise that fails lets go of the series of every actor it made: the
// children it started and closed, the one that failed, and those after it
// that never started, in a subtree too; and so does one whose children
// fail to prepare. Otherwise a program that retries a failing Supervise
// would fill the registry (telemetry.MaxSeries) with series no one feeds.
func TestFailedSuperviseLetsSeriesGo(t *testing.T) {
	telemetry.SetTransport(func(string) (telemetry.Sender, error) { return discarded{}, nil })
	if err := telemetry.Start(context.Background(), "inproc://collector", telemetry.WithInterval(time.Hour)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = telemetry.Stop(context.Background())
		telemetry.SetTransport(nil)
	})
	ok := func() Behavior[int] { return BehaviorFunc[int](func(context.Context, int) error { return nil }) }
	a := NewChild("a", ok)
	b := NewChild("b", func() Behavior[int] { return startFails{} })
	c := NewChild("c", ok)
	e := NewChild("e", ok)
	d := NewSupervisor("d", OneForOne, []ChildSpec{e})
	if _, err := Supervise(context.Background(), OneForOne, []ChildSpec{a, b, c, d}); !errors.Is(err, ErrStartFailed) {
		t.Fatalf("Supervise = %v", err)
	}
	for _, ch := range []*Child[int]{a, b, c, e} {
		if !released(ch.cell.Load().obs) {
			t.Errorf("child %q keeps its series", ch.name)
		}
	}
	if !released(d.cfg.observer) {
		t.Error("subtree d keeps its series")
	}

	f := NewChild("f", ok)
	if _, err := Supervise(context.Background(), OneForOne, []ChildSpec{f, nil}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("Supervise with a nil child = %v", err)
	}
	if !released(f.cell.Load().obs) {
		t.Error("child f, prepared before the nil one, keeps its series")
	}
}

// capturedBatches is a telemetry transport that keeps every batch.
type capturedBatches struct {
	mu      sync.Mutex
	batches [][][]byte
}

func (c *capturedBatches) TrySend(frames [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, frames)
	return nil
}

func (c *capturedBatches) Close(context.Context) error { return nil }

// A profiled actor's totals reach its series exactly once, whenever they
// come: before release, between its removals and its mark (each added by
// a sender that then stops), and after it (late).
func TestProfileTotalsExactAcrossRelease(t *testing.T) {
	c := &capturedBatches{}
	telemetry.SetTransport(func(string) (telemetry.Sender, error) { return c, nil })
	if err := telemetry.Start(context.Background(), "inproc://collector", telemetry.WithInterval(time.Hour)); err != nil {
		t.Fatal(err)
	}
	defer telemetry.SetTransport(nil)
	name := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	o := newProfObserver(name)
	for range 3 {
		o.DeadLetter(DeadLetter{})
	}
	o.ActorFailed(name, nil)
	o.addBlocked(uint64(time.Second))
	if !o.letGo() || o.letGo() {
		t.Fatal("letGo did not remove once")
	}
	for range 2 {
		o.DeadLetter(DeadLetter{}) // between: nobody adds after, release must give them
	}
	o.ActorRestarted(name, 1, nil)
	o.addBlocked(uint64(time.Second))
	o.settle()
	o.DeadLetter(DeadLetter{}) // after: given by its adder
	o.release()                // a later call gives nothing twice
	if err := telemetry.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	frames := c.batches[len(c.batches)-1]
	c.mu.Unlock()
	rms, err := otlptest.Metrics(frames[1])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, rm := range rms {
		for _, m := range rm.ScopeMetrics[0].Metrics {
			if s, ok := m.Data.(*metricspb.Metric_Sum); ok {
				for _, p := range s.Sum.DataPoints {
					if len(p.Attributes) == 1 && p.Attributes[0].Value.GetStringValue() == name {
						got[m.Name] = float64(p.GetAsInt()) + p.GetAsDouble()
					}
				}
			}
		}
	}
	want := map[string]float64{
		telemetry.MetricActorDeadLetters: 6,
		telemetry.MetricActorErrors:      1,
		telemetry.MetricActorRestarts:    1,
		telemetry.MetricActorBlocked:     2, // seconds
	}
	for m, v := range want {
		if got[m] != v {
			t.Errorf("%s = %v, want %v", m, got[m], v)
		}
	}
}
