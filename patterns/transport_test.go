package patterns_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/patterns/internal/squares"
)

const nTasks = 200

// wantSquares is what every run of the squares pipeline must give, sorted.
func wantSquares() []squares.Result {
	r := make([]squares.Result, nTasks)
	for i := range r {
		r[i] = squares.Result{N: i, Square: i * i}
	}
	return r
}

// bySquare sorts results and forgets who computed them.
func bySquare(got []squares.Result) []squares.Result {
	r := make([]squares.Result, len(got))
	for i, g := range got {
		r[i] = squares.Result{N: g.N, Square: g.Square}
	}
	slices.SortFunc(r, func(a, b squares.Result) int { return a.N - b.N })
	return r
}

// workersOf counts results per worker.
func workersOf(got []squares.Result) map[string]int {
	m := map[string]int{}
	for _, g := range got {
		m[g.Worker]++
	}
	return m
}

// One pipeline definition (package squares), three transports: only the
// endpoints change, and so must nothing else.
func TestSamePipelineOverEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			var p patterns.Pipeline
			vent := must[*patterns.Push[squares.Task]](t)(squares.Ventilator(&p, endpoint(t, tr), nTasks))
			var got []squares.Result
			sink := must[*patterns.Pull[squares.Result]](t)(squares.Sink(&p, endpoint(t, tr), nTasks, &got))
			for i := range 3 {
				if err := squares.Worker(&p, fmt.Sprint("w", i), vent.Endpoint(), sink.Endpoint(), 2); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(bySquare(got), wantSquares()) {
				t.Fatalf("got %v", bySquare(got))
			}
			t.Logf("%s: results per worker %v", tr, workersOf(got))
		})
	}
}

// The same pipeline with its workers in other processes: multiprocessing
// where the queue is a ZeroMQ socket.
func TestPipelineAcrossProcesses(t *testing.T) {
	bin := buildTestproc(t)
	for _, tr := range []string{"ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			var p patterns.Pipeline
			vent := must[*patterns.Push[squares.Task]](t)(squares.Ventilator(&p, endpoint(t, tr), nTasks))
			var got []squares.Result
			sink := must[*patterns.Pull[squares.Result]](t)(squares.Sink(&p, endpoint(t, tr), nTasks, &got))
			var workers []*proc
			for i := range 2 {
				w := startProc(t, bin, "worker", "-name", fmt.Sprint("pw", i),
					"-tasks", vent.Endpoint(), "-results", sink.Endpoint())
				w.expect(t, "ready")
				workers = append(workers, w)
			}
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(bySquare(got), wantSquares()) {
				t.Fatalf("got %v", bySquare(got))
			}
			for _, w := range workers {
				w.stop(t) // SIGTERM cancels the worker's pipeline; it must exit 0
			}
			t.Logf("%s: results per worker process %v", tr, workersOf(got))
		})
	}
}
