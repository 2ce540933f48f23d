package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
)

// demoUsage heads gridsearch demo -h, before run's flags.
const demoUsage = `usage: gridsearch [demo] [flags]
  the built-in demo: think(p, q) = sin(p + 2q) as a Go function on local workers, over
  -param p and q (numbers; default p=0:3:16 q=0:3:16); no command, -points or -dry-run.
`

// demoParams are the demo's grid of think's p and q.
var demoParams = []string{"p=0:3:16", "q=0:3:16"}

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
	// A -param of p or q replaces its default, the other keeps it.
	for _, d := range demoParams {
		if !slices.ContainsFunc(o.params, func(s string) bool { return strings.HasPrefix(s, d[:2]) }) {
			o.params = append(o.params, d)
		}
	}
	grid, err := gridsearch.NewGrid(o.params...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := checkDemoGrid(grid); err != nil {
		return err
	}
	fmt.Printf("demo: think(p, q) = sin(p + 2q) on %s, %s\n", pointCount(grid.Len()), o.params)
	return execute(ctx, &o, gridsearch.Config{Grid: grid, Func: think}, []string{"(demo think)"})
}

// checkDemoGrid refuses what think cannot take: any parameter but p and
// q, or a value that is not a finite number. Each point would fail, its
// NaN result not being JSON.
func checkDemoGrid(grid gridsearch.Grid) error {
	for _, par := range grid.Params {
		if par.Name != "p" && par.Name != "q" {
			return fmt.Errorf("%w: -param %s: the demo's think(p, q) has parameters p and q only", errUsage, par.Name)
		}
		for _, v := range par.Values {
			if !v.IsNum || math.IsInf(v.Num, 0) || math.IsNaN(v.Num) {
				return fmt.Errorf("%w: -param %s=%s: the demo's think(p, q) takes finite numbers", errUsage, par.Name, par.Spec)
			}
		}
	}
	return nil
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
