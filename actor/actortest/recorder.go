package actortest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
)

// Kind is the kind of an observed Event.
type Kind string

// The kinds, one per actor.Observer method.
const (
	Started    Kind = "started"
	Failed     Kind = "failed"
	Restarted  Kind = "restarted"
	Stopped    Kind = "stopped"
	DeadLetter Kind = "dead-letter"
	Handled    Kind = "handled"
)

// Event is one call of an actor.Observer method.
type Event struct {
	Kind  Kind
	Actor string
	// Err is the error of Failed, Stopped and Handled, the cause of
	// Restarted, and the reason of DeadLetter.
	Err error
	// Restarts is Restarted's count.
	Restarts int
	// Message is DeadLetter's message.
	Message any
	// Queued and Handling are Handled's times.
	Queued, Handling time.Duration
}

func (e Event) String() string {
	return fmt.Sprintf("%s %s err=%v msg=%v", e.Actor, e.Kind, e.Err, e.Message)
}

// Recorder is an actor.Observer that records every event, for a test to
// await with Await or inspect with Events. It is safe for concurrent use, as
// an Observer must be. Give it to actors with actor.WithObserver.
type Recorder struct {
	mu       sync.Mutex
	events   []Event
	consumed []bool
	arrived  chan struct{}
	once     sync.Once
	figures  map[[2]string]int64 // latest Counter and Level values by actor and name
}

var (
	_ actor.Observer = (*Recorder)(nil)
	_ actor.Figures  = (*Recorder)(nil)
)

// Counter records an actor's counter (actor.Figures).
func (r *Recorder) Counter(actorName, name string, total uint64) {
	r.figure(actorName, name, int64(total))
}

// Level records an actor's level (actor.Figures).
func (r *Recorder) Level(actorName, name string, value int64) { r.figure(actorName, name, value) }

func (r *Recorder) figure(actorName, name string, v int64) {
	r.init()
	r.mu.Lock()
	if r.figures == nil {
		r.figures = map[[2]string]int64{}
	}
	r.figures[[2]string{actorName, name}] = v
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// Figure returns the latest value an actor reported for a counter or level,
// and whether it reported one.
func (r *Recorder) Figure(actorName, name string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.figures[[2]string{actorName, name}]
	return v, ok
}

// NewRecorder returns an empty Recorder. The zero Recorder is usable too.
func NewRecorder() *Recorder { return &Recorder{} }

func (r *Recorder) init() { r.once.Do(func() { r.arrived = make(chan struct{}, 1) }) }

func (r *Recorder) add(e Event) {
	r.init()
	r.mu.Lock()
	r.events = append(r.events, e)
	r.consumed = append(r.consumed, false)
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

func (r *Recorder) ActorStarted(name string) { r.add(Event{Kind: Started, Actor: name}) }
func (r *Recorder) ActorFailed(name string, err error) {
	r.add(Event{Kind: Failed, Actor: name, Err: err})
}
func (r *Recorder) ActorRestarted(name string, n int, cause error) {
	r.add(Event{Kind: Restarted, Actor: name, Restarts: n, Err: cause})
}
func (r *Recorder) ActorStopped(name string, err error) {
	r.add(Event{Kind: Stopped, Actor: name, Err: err})
}
func (r *Recorder) DeadLetter(d actor.DeadLetter) {
	r.add(Event{Kind: DeadLetter, Actor: d.Actor, Message: d.Message, Err: d.Reason})
}
func (r *Recorder) MessageHandled(name string, queued, handling time.Duration, err error) {
	r.add(Event{Kind: Handled, Actor: name, Queued: queued, Handling: handling, Err: err})
}

// Events returns a copy of every event so far, in the order recorded.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Count returns how many events of kind for actor were recorded so far
// (actor "" counts every actor's).
func (r *Recorder) Count(kind Kind, actorName string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind && (actorName == "" || e.Actor == actorName) {
			n++
		}
	}
	return n
}

// Await returns the first event of kind for actor ("" for any actor) that no
// earlier Await returned, waiting at most timeout; it fails the test if none
// comes in time.
func (r *Recorder) Await(t testing.TB, kind Kind, actorName string, timeout time.Duration) Event {
	t.Helper()
	r.init()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		for i, e := range r.events {
			if !r.consumed[i] && e.Kind == kind && (actorName == "" || e.Actor == actorName) {
				r.consumed[i] = true
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-timer.C:
			t.Fatalf("actortest: no %s event for %q within %v; events: %v", kind, actorName, timeout, r.Events())
			return Event{}
		}
	}
}

// AwaitFigure waits at most timeout until the latest value of an actor's
// counter or level satisfies cond, and returns it; it fails the test if
// none does in time.
func (r *Recorder) AwaitFigure(t testing.TB, actorName, name string, cond func(int64) bool, timeout time.Duration) int64 {
	t.Helper()
	r.init()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if v, ok := r.Figure(actorName, name); ok && cond(v) {
			return v
		}
		select {
		case <-r.arrived:
		case <-timer.C:
			v, ok := r.Figure(actorName, name)
			t.Fatalf("actortest: %s %s is %d (reported: %v) after %v", actorName, name, v, ok, timeout)
			return v
		}
	}
}
