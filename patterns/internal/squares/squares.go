// Package squares is the pipeline the patterns tests run over every
// transport, in goroutines and in processes: the guide's ventilator, workers
// and sink (ch. 1, "Divide and Conquer"), squaring numbers. One definition,
// whatever the endpoints are.
package squares

import (
	"context"

	"github.com/zmqflow/zmqflow/patterns"
)

// Task is one number to square.
type Task struct{ N int }

// Result is a squared number and who squared it.
type Result struct {
	N, Square int
	Worker    string
}

// Ventilator adds to p a source of the tasks 0..n-1 and a Push stage bound
// on endpoint that hands them out. It returns the stage, whose Endpoint the
// workers connect to.
func Ventilator(p *patterns.Pipeline, endpoint string, n int) (*patterns.Push[Task], error) {
	push, err := patterns.NewPush(patterns.JSON[Task]{}, patterns.Bind(endpoint))
	if err != nil {
		return nil, err
	}
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = Task{N: i}
	}
	patterns.To(p, patterns.From(p, patterns.Values(tasks...)), push)
	return push, nil
}

// Worker adds to p a worker named name: it pulls tasks from the ventilator
// at tasks, squares them on threads goroutines, and pushes the results to the
// sink at results.
func Worker(p *patterns.Pipeline, name, tasks, results string, threads int) error {
	pull, err := patterns.NewPull(patterns.JSON[Task]{}, patterns.Connect(tasks))
	if err != nil {
		return err
	}
	push, err := patterns.NewPush(patterns.JSON[Result]{}, patterns.Connect(results))
	if err != nil {
		pull.Close()
		return err
	}
	squared := patterns.Map(p, patterns.From(p, pull), threads, func(_ context.Context, t Task) (Result, error) {
		return Result{N: t.N, Square: t.N * t.N, Worker: name}, nil
	})
	patterns.To(p, squared, push)
	return nil
}

// Sink adds to p a Pull stage bound on endpoint that collects n results into
// *got, then ends the pipeline (ErrStop). *got may be read once p.Run
// returned. It returns the stage, whose Endpoint the workers connect to.
func Sink(p *patterns.Pipeline, endpoint string, n int, got *[]Result) (*patterns.Pull[Result], error) {
	pull, err := patterns.NewPull(patterns.JSON[Result]{}, patterns.Bind(endpoint))
	if err != nil {
		return nil, err
	}
	patterns.Each(p, patterns.From(p, pull), func(_ context.Context, r Result) error {
		*got = append(*got, r)
		if len(*got) == n {
			return patterns.ErrStop
		}
		return nil
	})
	return pull, nil
}
