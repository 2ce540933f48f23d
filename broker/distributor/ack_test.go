package distributor_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/distributor"
	"github.com/zmqflow/zmqflow/socket"
)

// TestWorkerAckResultsFull: round-robin, a Worker's results channel is at
// its high-water mark (the sink reads nothing) while tasks come. The
// Worker does not wait for room to say ACK for each: the session goes on
// hearing the distributor, and each ACK that could not go is counted in
// WorkerStats.AcksDelayed and logged at warn (late, it may cost a task run
// twice).
//
// The distributor is raw sockets; the worker's heartbeat interval, the
// bound of a send that waits for room, is ten times the test's wait, so
// that a session held up by an ACK's send would be held past the test.
func TestWorkerAckResultsFull(t *testing.T) {
	ctx := testCtx(t)
	eps := distributor.Endpoints{Tasks: inproc(), Results: inproc(), Control: inproc(), Dispatch: distributor.RoundRobin}
	tasks := newSocket(t, socket.Push)
	results := newSocket(t, socket.Pull, socket.WithRecvHWM(1))
	control := newSocket(t, socket.Pub)
	for _, b := range []struct {
		s  *socket.Socket
		ep string
	}{{tasks, eps.Tasks}, {results, eps.Results}, {control, eps.Control}} {
		if _, err := b.s.Bind(b.ep); err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zapcore.WarnLevel)
	figs := &figureLog{}
	started := make(chan struct{}, 1)
	w := must[*distributor.Worker](t)(distributor.NewWorker(eps, func(ctx context.Context, task []byte) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done() // holds the first task: no result takes room
		return nil, ctx.Err()
	}, distributor.WithHeartbeat(10*wait, 3), distributor.WithSocketOptions(socket.WithSendHWM(1)),
		distributor.WithLogger(zap.New(core)), distributor.WithObserver(figs)))
	t.Cleanup(func() { w.Close() })

	recv := func(ctx context.Context) socket.Msg {
		t.Helper()
		m, err := results.Recv(ctx)
		if err != nil {
			t.Fatalf("the sink: %v", err)
		}
		return m
	}
	for _, word := range []string{"HELLO", "HEARTBEAT"} {
		if m := recv(ctx); len(m) != 2 || string(m[0]) != word || string(m[1]) != w.ID() {
			t.Fatalf("got %q, want %s", m, word)
		}
	}
	// Ask for ACK until the worker says it (PUB drops what it sends
	// before the worker's subscription is in).
	for said := false; !said; {
		if err := control.Send(ctx, socket.Msg{[]byte("ACK")}); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		m, err := results.Recv(rctx)
		cancel()
		switch {
		case err == nil:
			if len(m) != 3 || string(m[0]) != "ACK" || len(m[2]) != 0 {
				t.Fatalf("got %q, want the first ACK, with no ticket", m)
			}
			said = true
		case ctx.Err() != nil:
			t.Fatal("the worker did not say ACK")
		}
	}
	// The sink reads no more. Tasks come: the first goes to the handler,
	// the others wait; their ACKs fill the results channel, and then find
	// it full.
	const n = 20
	for i := range n {
		task := append(socket.Msg{u64(1), u64(uint64(i)), u64(uint64(1000 + i))}, []byte(strconv.Itoa(i)))
		if err := tasks.Send(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the handler got no task")
	}
	if err := w.Wait(ctx, func(s distributor.WorkerStats) bool { return s.AcksDelayed > 0 }); err != nil {
		t.Fatalf("no ACK counted as delayed: %v; worker stats %+v", err, w.Stats())
	}
	if n := figs.counter("distributor worker", "AcksDelayed"); n == 0 {
		t.Fatalf("the observer's figures have no ACK delayed; worker stats %+v", w.Stats())
	}
	if logs.FilterMessageSnippet("ACK not sent").Len() == 0 {
		t.Fatalf("no warning of the ACK not sent; logs %v", logs.All())
	}
	// The session is not held up by the full results channel: it hears
	// the distributor's HEARTBEAT.
	if err := control.Send(ctx, socket.Msg{[]byte("HEARTBEAT")}); err != nil {
		t.Fatal(err)
	}
	heard(t, ctx, w)

	// The sink reads again: the tickets of the ACKs that could not go
	// come with a later one, none left out. The worker's next tick, which
	// would send them, is far away: the next task's ACK takes them.
	acked := map[uint64]bool{}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	got := make(chan socket.Msg)
	go func() {
		for {
			m, err := results.Recv(rctx)
			if err != nil {
				close(got)
				return
			}
			got <- m
		}
	}()
	// More tasks: each ACK that goes out now names the held-back tickets.
	all := func() bool {
		for i := range n {
			if !acked[uint64(1000+i)] {
				return false
			}
		}
		return true
	}
	for i := n; !all(); i++ {
		task := append(socket.Msg{u64(1), u64(uint64(i)), u64(uint64(1000 + i))}, []byte(strconv.Itoa(i)))
		if err := tasks.Send(ctx, task); err != nil {
			t.Fatal(err)
		}
		m, ok := <-got
		if !ok {
			t.Fatalf("the sink: %v; tickets said ACK for: %v", ctx.Err(), acked)
		}
		if len(m) != 3 || !bytes.Equal(m[0], []byte("ACK")) || len(m[2])%8 != 0 {
			continue // HEARTBEAT, when the queue held one
		}
		for f := m[2]; len(f) >= 8; f = f[8:] {
			acked[binary.BigEndian.Uint64(f)] = true
		}
	}
	stop()
	for range got {
	}
}

// figureLog is an observer that keeps the last figures reported to it
// (actor.Figures).
type figureLog struct {
	actor.NopObserver
	mu       sync.Mutex
	counters map[[2]string]uint64
}

func (f *figureLog) Counter(actor, name string, total uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counters == nil {
		f.counters = map[[2]string]uint64{}
	}
	f.counters[[2]string{actor, name}] = total
}

func (f *figureLog) Level(string, string, int64) {}

func (f *figureLog) counter(actor, name string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counters[[2]string{actor, name}]
}
