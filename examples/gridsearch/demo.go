package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// demo is "gridsearch" with no arguments: the seed article's think(p, q),
// sin(p + 2q), over a 16 x 16 grid, as a Go function on local workers.
// Its durations are uneven on purpose, as real jobs are: most points take
// 5 ms, one in seven 60 ms. Flags are run's (-workers, -out, ...).
func demo(ctx context.Context, args []string) error {
	var o options
	fs, err := o.parse("demo", args)
	if err != nil {
		return err
	}
	if o.maximize == "" && o.minimize == "" {
		o.maximize = "value"
	}
	if f, _ := o.field(); f != "value" {
		return fmt.Errorf("%w: -maximize or -minimize %s: the demo's result has one field, value", errUsage, f)
	}
	if fs.NArg() > 0 || o.more.points != "" || o.more.dryRun {
		return fmt.Errorf("%w: the demo takes no command, -points or -dry-run (gridsearch run does)", errUsage)
	}
	if len(o.params) == 0 {
		o.params = []string{"p=0:3:16", "q=0:3:16"}
	}
	grid, err := gridsearch.NewGrid(o.params...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fmt.Printf("demo: think(p, q) = sin(p + 2q) on %d points, %s\n", grid.Len(), o.params)
	return execute(ctx, &o, gridsearch.Config{Grid: grid, Func: think}, []string{"(demo think)"})
}

func think(ctx context.Context, pt gridsearch.Point) (any, error) {
	p, q := pt.Float("p"), pt.Float("q")
	d := 5 * time.Millisecond
	if pt.Index%7 == 3 {
		d = 60 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return map[string]float64{"value": math.Sin(p + 2*q)}, nil
}
