package actor_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

var ctx = context.Background()

func TestSpawnTellInOrder(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	a, err := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		return probe.Ref().Tell(ctx, m*10)
	}), actor.WithName("times-ten"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Name() != "times-ten" || a.Ref().Name() != "times-ten" {
		t.Fatalf("name %q", a.Name())
	}
	for i := range 100 {
		if err := a.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		probe.ExpectMsg(t, i*10, wait)
	}
	probe.ExpectNone(t, 20*time.Millisecond)
	if st := a.Stats(); st.Handled != 100 || st.DeadLetters != 0 {
		t.Fatalf("stats %+v", st)
	}
}

type hooked struct {
	log      *[]string
	startErr error
}

func (h hooked) Start(ctx context.Context) error {
	*h.log = append(*h.log, "start")
	return h.startErr
}

func (h hooked) Receive(ctx context.Context, m string) error {
	*h.log = append(*h.log, m)
	return nil
}

func (h hooked) Stop() error {
	*h.log = append(*h.log, "stop")
	return nil
}

func TestStartAndStopHooks(t *testing.T) {
	var log []string // touched by the actor's goroutine only, read after it ended
	a, err := actor.Spawn[string](ctx, hooked{log: &log})
	if err != nil {
		t.Fatal(err)
	}
	a.Tell(ctx, "m1")
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "start,m1,stop" {
		t.Fatalf("hooks ran as %s", got)
	}
}

func TestStartFailureFailsSpawn(t *testing.T) {
	errNoDB := errors.New("no database")
	var log []string
	rec := actortest.NewRecorder()
	a, err := actor.Spawn[string](ctx, hooked{log: &log, startErr: errNoDB}, actor.WithObserver(rec))
	if a != nil || !errors.Is(err, actor.ErrStartFailed) || !errors.Is(err, errNoDB) {
		t.Fatalf("Spawn = %v, %v; want ErrStartFailed wrapping %v", a, err, errNoDB)
	}
	if got := strings.Join(log, ","); got != "start" { // Stop not called
		t.Fatalf("hooks ran as %s", got)
	}
	if rec.Count(actortest.Started, "") != 0 {
		t.Fatal("a failed start reported started")
	}
}

func TestStartBoundedBySpawnCtx(t *testing.T) {
	sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := actor.Spawn[int](sctx, blockingStart{})
	if !errors.Is(err, actor.ErrStartFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Spawn = %v", err)
	}
}

type blockingStart struct{ actor.BehaviorFunc[int] }

func (blockingStart) Start(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

func TestStopDrains(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	g := newGate(probe.Ref())
	a, err := actor.Spawn[int](ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	a.Tell(ctx, 0)
	g.awaitEntered(t, 0)
	for i := 1; i <= 10; i++ {
		a.Tell(ctx, i)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(ctx) }()
	close(g.release)
	if err := recv(t, "Stop", stopped); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	for i := 0; i <= 10; i++ { // every message queued before Stop was handled
		probe.ExpectMsg(t, i, wait)
	}
	if err := a.Tell(ctx, 11); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Tell after Stop = %v", err)
	}
	if st := a.Stats(); st.Handled != 11 || st.DeadLetters != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStopCutShortByCtx(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	g := newGate(probe.Ref())
	a, _ := actor.Spawn[int](ctx, g)
	a.Tell(ctx, 0)
	g.awaitEntered(t, 0)
	a.Tell(ctx, 1)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err := a.Stop(sctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v", err)
	}
	awaitDone(t, "actor", a.Done()) // Stop returned after the goroutine ended
	if st := a.Stats(); st.DeadLetters != 1 {
		t.Fatalf("stats %+v, want message 1 a dead letter", st)
	}
}

func TestCloseNowIdempotent(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	rec := actortest.NewRecorder()
	g := newGate(probe.Ref())
	a, _ := actor.Spawn[int](ctx, g, actor.WithName("g"), actor.WithObserver(rec))
	a.Tell(ctx, 0)
	g.awaitEntered(t, 0)
	for i := 1; i <= 5; i++ {
		a.Tell(ctx, i)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := a.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
	wg.Wait()
	select {
	case <-a.Done():
	default:
		t.Fatal("Close returned before the goroutine ended")
	}
	if err := a.Close(); err != nil || a.Err() != nil {
		t.Fatalf("Close again = %v, Err = %v", err, a.Err())
	}
	// Message 0's Receive was cancelled mid-way; 1..5 never ran.
	probe.ExpectNone(t, 20*time.Millisecond)
	if st := a.Stats(); st.DeadLetters != 5 {
		t.Fatalf("stats %+v, want 5 dead letters", st)
	}
	for i := 1; i <= 5; i++ {
		e := rec.Await(t, actortest.DeadLetter, "g", wait)
		if e.Message != i || !errors.Is(e.Err, actor.ErrStopped) {
			t.Fatalf("dead letter %v, want %d ErrStopped", e, i)
		}
	}
	if e := rec.Await(t, actortest.Stopped, "g", wait); e.Err != nil {
		t.Fatalf("stopped event %v", e)
	}
}

func TestPanicRecovered(t *testing.T) {
	rec := actortest.NewRecorder()
	a, _ := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		if m == 13 {
			panic("unlucky")
		}
		return nil
	}), actor.WithName("p"), actor.WithObserver(rec))
	a.Tell(ctx, 1)
	a.Tell(ctx, 13)
	a.Tell(ctx, 14) // handled never: queued behind the panic, or told after it
	a.Tell(ctx, 15)
	awaitDone(t, "actor", a.Done())
	var pe *actor.PanicError
	if !errors.As(a.Err(), &pe) || pe.Value != "unlucky" || !strings.Contains(string(pe.Stack), "TestPanicRecovered") {
		t.Fatalf("Err = %v; want a PanicError with the stack", a.Err())
	}
	if !strings.Contains(a.Err().Error(), `"p"`) {
		t.Fatalf("Err %q does not name the actor", a.Err())
	}
	if err := a.Close(); err != a.Err() {
		t.Fatalf("Close = %v, want Err", err)
	}
	if st := a.Stats(); st.Handled != 2 || st.DeadLetters != 2 {
		t.Fatalf("stats %+v", st)
	}
	rec.Await(t, actortest.Failed, "p", wait)
	if e := rec.Await(t, actortest.Stopped, "p", wait); !errors.As(e.Err, &pe) {
		t.Fatalf("stopped event %v", e)
	}
}

func TestReceiveErrorFails(t *testing.T) {
	errBad := errors.New("bad input")
	a, _ := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error { return errBad }))
	a.Tell(ctx, 1)
	awaitDone(t, "actor", a.Done())
	if !errors.Is(a.Err(), errBad) {
		t.Fatalf("Err = %v", a.Err())
	}
	if err := a.Tell(ctx, 2); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Tell after failure = %v", err)
	}
}

func TestZeroRefIsStopped(t *testing.T) {
	var r actor.Ref[int]
	if err := r.Tell(ctx, 1); !errors.Is(err, actor.ErrStopped) {
		t.Fatal(err)
	}
	if err := r.TryTell(1); !errors.Is(err, actor.ErrStopped) {
		t.Fatal(err)
	}
}

func TestObserverTimings(t *testing.T) {
	const work = 20 * time.Millisecond
	rec := actortest.NewRecorder()
	entered, release := make(chan int, 2), make(chan struct{})
	a, _ := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		entered <- m
		<-release
		time.Sleep(work) // the handler's work, which the observer measures
		return nil
	}), actor.WithName("timed"), actor.WithObserver(rec))
	rec.Await(t, actortest.Started, "timed", wait)
	a.Tell(ctx, 0)
	recv(t, "entered", entered)
	a.Tell(ctx, 1) // waits in the mailbox for at least 0's work
	close(release)
	e0 := rec.Await(t, actortest.Handled, "timed", wait)
	e1 := rec.Await(t, actortest.Handled, "timed", wait)
	if e0.Handling < work || e1.Queued < work || e0.Err != nil {
		t.Fatalf("timings: first %+v, second %+v; want handling and queueing >= %v", e0, e1, work)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rec.Await(t, actortest.Stopped, "timed", wait)
}

func TestOptionsChecked(t *testing.T) {
	b := actor.BehaviorFunc[int](func(context.Context, int) error { return nil })
	for _, o := range []actor.Option{
		actor.WithMailbox(actor.Bounded(0)),
		actor.WithMailbox(actor.DropOldest(-1)),
		actor.WithIntensity(1, time.Second), // a supervisor option
		actor.WithName(""),
	} {
		if _, err := actor.Spawn[int](ctx, b, o); !errors.Is(err, actor.ErrBadOption) {
			t.Errorf("Spawn with a bad option = %v", err)
		}
	}
}
