package gridsearch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// A Go function over a 2-D grid on four local worker slots; the best point
// by the result's field "value".
func ExampleRun() {
	g, err := gridsearch.NewGrid("p=0:3:4", "q=0.1,1,10")
	if err != nil {
		fmt.Println(err)
		return
	}
	var recs []gridsearch.Record
	sum, err := gridsearch.Run(context.Background(), gridsearch.Config{
		Grid:    g,
		Workers: 4,
		Func: func(ctx context.Context, pt gridsearch.Point) (any, error) {
			return map[string]float64{"value": math.Sin(pt.Float("p") + 2*pt.Float("q"))}, nil
		},
		// Called from one goroutine at a time.
		OnResult: func(r gridsearch.Record) error { recs = append(recs, r); return nil },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	best := recs[gridsearch.Best(recs, "value", true)]
	v, _ := gridsearch.Field(best.Result, "value")
	fmt.Printf("%d done, %d failed\n", sum.Done, sum.Failed)
	params, _ := json.Marshal(best.Params)
	fmt.Printf("best: %s value %.3f\n", params, v)
	// Output:
	// 12 done, 0 failed
	// best: {"p":1,"q":0.1} value 0.932
}

// A command for each point, its stdout taken as the result when it is
// JSON; a failing command's exit code and stderr are in its record.
func ExampleRun_command() {
	g, _ := gridsearch.NewGrid("n=1..4")
	byN := map[int]string{}
	_, err := gridsearch.Run(context.Background(), gridsearch.Config{
		Grid:    g,
		Workers: 2,
		Command: []string{"sh", "-c", `[ $1 -ne 3 ] || { echo no three >&2; exit 3; }; echo "{\"sq\": $(($1*$1))}"`, "sh", "{n}"},
		OnResult: func(r gridsearch.Record) error {
			if r.OK() {
				byN[r.Point+1] = string(r.Result)
			} else {
				byN[r.Point+1] = fmt.Sprintf("exit %d: %q", r.Exit, r.Stderr)
			}
			return nil
		},
	})
	fmt.Println(err)
	var ns []int
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		fmt.Println(n, byN[n])
	}
	// Output:
	// <nil>
	// 1 {"sq":1}
	// 2 {"sq":4}
	// 3 exit 3: "no three\n"
	// 4 {"sq":16}
}

// A master that binds an endpoint for remote workers and has no slots of
// its own, and a worker process's Serve (here in the same process) that
// runs the same Go function.
func ExampleServe() {
	g, _ := gridsearch.NewGrid("x=1..5")
	square := func(ctx context.Context, pt gridsearch.Point) (any, error) {
		return pt.Float("x") * pt.Float("x"), nil
	}
	ctx, stopWorkers := context.WithCancel(context.Background())
	served := make(chan error, 1)
	total := 0.0
	sum, err := gridsearch.Run(context.Background(), gridsearch.Config{
		Grid:    g,
		Func:    square,
		Workers: -1, // remote workers only
		Bind:    "tcp://127.0.0.1:*",
		OnBound: func(endpoint string) {
			go func() { served <- gridsearch.Serve(ctx, endpoint, 2, square) }()
		},
		OnResult: func(r gridsearch.Record) error {
			v, _ := gridsearch.Field(r.Result, ".")
			total += v
			return nil
		},
	})
	stopWorkers()
	fmt.Println(sum.Done, total, err, <-served)
	// Output: 5 55 <nil> <nil>
}

// Points from a file, one a row, instead of the product of parameters:
// CSV with a header of names here, or JSON Lines of objects.
func ExampleReadPoints() {
	g, err := gridsearch.ReadPoints(strings.NewReader("lr,opt\n0.1,adam\n0.001,sgd\n0.1,sgd\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range g.Len() {
		fmt.Println(strings.Join(g.Point(i).Expand([]string{"train", "--lr={lr}", "--opt={opt}"}), " "))
	}
	// Output:
	// train --lr=0.1 --opt=adam
	// train --lr=0.001 --opt=sgd
	// train --lr=0.1 --opt=sgd
}

// A run that stops once half the points finished have failed, counted
// from 6 of them; on one slot no point runs after the halt.
func ExampleConfig_haltPercent() {
	g, _ := gridsearch.NewGrid("n=0..99")
	sum, err := gridsearch.Run(context.Background(), gridsearch.Config{
		Grid: g, Workers: 1, HaltPercent: 50, HaltMinPoints: 6,
		Func: func(_ context.Context, pt gridsearch.Point) (any, error) {
			if pt.Index%2 == 0 {
				return nil, fmt.Errorf("point %d failed", pt.Index)
			}
			return pt.Index, nil
		},
	})
	fmt.Println(errors.Is(err, gridsearch.ErrHalted), sum.Done, sum.Failed)
	// Output: true 3 3
}
