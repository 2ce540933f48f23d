package distributor_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/distributor"
	"github.com/zmqflow/zmqflow/internal/proctest"
)

// TestWorkerProcess: a Worker in a process of its own
// (internal/distworker), with credit 4, takes four tasks (it works on the
// first and holds three) and is then killed or frozen. The distributor
// finds it dead (killed: its heartbeat to it fails at once; frozen: after
// steadyExpiry of silence), gives its four tasks to the workers in the
// test, and both batches complete: nothing lost (every result there,
// right), nothing duplicated (every task done once, no result twice),
// and Stats.Workers counts the live workers only.
func TestWorkerProcess(t *testing.T) {
	t.Parallel() // the frozen case waits out steadyExpiry
	bin := filepath.Join(t.TempDir(), "distworker")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	out, err := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin,
		"github.com/zmqflow/zmqflow/broker/distributor/internal/distworker").CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("go build distworker: %v\n%s", err, out)
	}
	for _, how := range []string{"killed", "frozen"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			d := newDist(t, "tcp")
			eps := d.Endpoints()
			p := proctest.Start(t, ctx, bin, eps.Tasks, eps.Results, eps.Control, "4")
			if l := p.Line(t, ctx); l != "STARTED" {
				t.Fatalf("worker process said %q", l)
			}
			waitStats(t, ctx, d, "the process worker", func(s distributor.Stats) bool { return s.Workers == 1 && s.Credit == 4 })
			// Tasks are pulled only as workers have credit: the process,
			// alone, takes the first four.
			const n = 30
			var hs []*distributor.BatchHandle
			for range 2 {
				hs = append(hs, must[*distributor.BatchHandle](t)(d.Submit(ctx, distributor.Batch{Size: n, Tasks: numbers(n, nil)})))
			}
			if l := p.Line(t, ctx); !strings.HasPrefix(l, "BUSY ") {
				t.Fatalf("worker process said %q", l)
			}
			waitStats(t, ctx, d, "4 tasks at the process", func(s distributor.Stats) bool { return s.InFlight == 4 && s.Credit == 0 })
			var calls atomic.Int64
			newWorkers(t, d, 3, countingDouble(&calls))
			waitStats(t, ctx, d, "4 workers", func(s distributor.Stats) bool { return s.Workers == 4 })
			sig := syscall.SIGKILL
			if how == "frozen" {
				sig = syscall.SIGSTOP // proctest.Start's cleanup kills it
			}
			if err := p.Cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for i, h := range hs {
				s, err := h.Wait(ctx)
				if err != nil {
					t.Fatalf("batch %d: %v; stats %+v", i, err, d.Stats())
				}
				checkDoubled(t, s, n)
			}
			waitStats(t, ctx, d, "the dead process out of Workers", func(s distributor.Stats) bool { return s.Workers == 3 })
			st := d.Stats()
			if calls.Load() != 2*n || st.Results != 2*n || st.Duplicates != 0 || st.Late != 0 || st.Forged != 0 {
				t.Fatalf("%s: handler calls %d, want %d; stats %+v", how, calls.Load(), 2*n, st)
			}
			if st.Dead != 1 || st.Requeued != 4 || st.Dispatched != 2*n+4 || st.Completed != 2 || st.InFlight != 0 {
				t.Fatalf("%s: stats %+v", how, st)
			}
		})
	}
}
