package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/internal/taskset"
)

// benchCmd runs the dispatch benchmark of package taskset (the seed article's
// dispatch): T1 and T2 on 32 sleeping workers (G/T), T0 no-op points per
// second, 2,000 /bin/true points against xargs -P2 and GNU parallel -j2, and
// 10,000 sleep points on worker processes over tcp (benchSleep).
func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	quick := fs.Bool("quick", false, "T1 and T2 durations scaled by 0.25, T0 with 2 workers only")
	runs := fs.Int("runs", 5, "runs of each measurement; medians are reported")
	truePoints := fs.Int("true-points", 2000, "points of the /bin/true measurement (the benchmark's is 2000)")
	t0Points := fs.Int("t0-points", 20000, "points of the T0 no-op measurement (the benchmark's is 20000)")
	only := fs.String("only", "T1,T2,T0,true,sleep", "the measurements to make, of T1, T2, T0 (no-op points), true (/bin/true points) and sleep (sleep points on worker processes over tcp)")
	sleepPoints := fs.Int("sleep-points", 10000, "points of the sleep measurement")
	sleepWorkers := fs.Int("sleep-workers", 4, "worker processes of the sleep measurement")
	sleepSlots := fs.Int("sleep-slots", 50, "slots of each worker process of the sleep measurement")
	sleepSecs := fs.Float64("sleep-secs", 0.05, "each point's sleep in the sleep measurement")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: gridsearch bench [-quick] [-only T1,T2,T0,true,sleep] [flags]\n" +
				"  the dispatch benchmark: T1 and T2 (G/T), T0 (no-op points/s), true (/bin/true against xargs and\n" +
				"  GNU parallel), sleep (sleep points on worker processes over tcp); run it on an idle machine.")
			fs.PrintDefaults()
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *runs < 1 {
		return fmt.Errorf("%w: -runs %d, want at least 1", errUsage, *runs)
	}
	if *truePoints < 1 {
		return fmt.Errorf("%w: -true-points %d, want at least 1", errUsage, *truePoints)
	}
	if *t0Points < 1 {
		return fmt.Errorf("%w: -t0-points %d, want at least 1", errUsage, *t0Points)
	}
	if *sleepPoints < 1 || *sleepWorkers < 1 || *sleepSlots < 1 || !(*sleepSecs > 0) {
		return fmt.Errorf("%w: -sleep-points, -sleep-workers and -sleep-slots want at least 1, -sleep-secs more than 0", errUsage)
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		switch s = strings.TrimSpace(s); s {
		case "T1", "T2", "T0", "true", "sleep":
			want[s] = true
		default:
			return fmt.Errorf("%w: -only %q: %q is none of T1, T2, T0, true, sleep", errUsage, *only, s)
		}
	}
	scale := 1.0
	if *quick {
		scale = 0.25
	}
	fmt.Printf("medians of %s; ratios are taken run by run, side by side\n", count(*runs, "run"))
	for _, set := range []string{"T1", "T2"} {
		if !want[set] {
			continue
		}
		ds := taskset.Durations(set, scale)
		g := taskset.Greedy(ds, 32).Seconds()
		// took is each point's sleep as it happened. A timer fires late,
		// by half a millisecond on average on the development VM (the
		// runtime waits in epoll, which counts whole milliseconds, and an
		// idle virtual CPU is slow to wake), so G of the sleeps as they
		// took, over T, is what dispatch alone costs.
		var ts, tookTs []float64
		for range *runs {
			took := make([]time.Duration, len(ds))
			sum, err := benchRun(ctx, len(ds), 32, func(ctx context.Context, p gridsearch.Point) (any, error) {
				start := time.Now()
				t := time.NewTimer(ds[p.Index])
				defer t.Stop()
				select {
				case <-t.C:
					took[p.Index] = time.Since(start)
					return nil, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}, nil)
			if err != nil {
				return err
			}
			ts = append(ts, sum.Elapsed.Seconds())
			tookTs = append(tookTs, taskset.Greedy(took, 32).Seconds()/sum.Elapsed.Seconds())
		}
		t := median(ts)
		fmt.Printf("%s x%.2g, 32 workers: T %.3fs, G %.3fs, G/T %.3f (target >= 0.98; runs %.3f-%.3f), RRsim %.3fs, sum %.2fs\n",
			set, scale, t, g, g/t, g/slices.Max(ts), g/slices.Min(ts), taskset.RoundRobin(ds, 32).Seconds(), taskset.Sum(ds).Seconds())
		fmt.Printf("  G of the sleeps as they took, over T: %.3f (dispatch alone)\n", median(tookTs))
	}
	ws := []int{1, 2, 8, 32}
	switch {
	case !want["T0"]:
		ws = nil
	case *quick:
		ws = []int{2}
	}
	for _, w := range ws {
		m := *t0Points
		var ts []float64
		for range *runs {
			sum, err := benchRun(ctx, m, w, func(context.Context, gridsearch.Point) (any, error) { return nil, nil }, nil)
			if err != nil {
				return err
			}
			ts = append(ts, sum.Elapsed.Seconds())
		}
		note := ""
		if w == 2 {
			note = " (target >= 80000/s)"
		}
		fmt.Printf("T0 %s, %s: %.3fs, %.0f points/s%s\n", count(m, "no-op point"), count(w, "worker"), median(ts), float64(m)/median(ts), note)
	}

	if want["sleep"] {
		if err := benchSleep(ctx, *runs, *sleepPoints, *sleepWorkers, *sleepSlots, *sleepSecs); err != nil {
			return err
		}
	}
	if !want["true"] {
		return nil
	}
	// 2,000 /bin/true points: gridsearch, xargs and GNU parallel take turns,
	// so that each ratio compares runs made side by side. Each runs true
	// with one argument, as xargs -n1 does.
	m := *truePoints
	input := strings.Repeat("x\n", m)
	tools := []struct {
		name, target string
		args         []string
	}{
		{"xargs -P2 -n1 /bin/true", "<= 1.05", []string{"xargs", "-P2", "-n1", "/bin/true"}},
		{"parallel -j2 /bin/true {}", "<= 0.3", []string{"parallel", "-j2", "/bin/true", "{}"}},
	}
	spareProc(2) // as gridsearch run does
	var ours []float64
	ratios := make([][]float64, len(tools))
	for range *runs {
		sum, err := benchRun(ctx, m, 2, nil, []string{"/bin/true", "{i}"})
		if err != nil {
			return err
		}
		ours = append(ours, sum.Elapsed.Seconds())
		for i, tool := range tools {
			if t, err := timeCmd(ctx, input, tool.args[0], tool.args[1:]...); err == nil {
				ratios[i] = append(ratios[i], sum.Elapsed.Seconds()/t)
			}
		}
	}
	fmt.Printf("T0 %s, 2 workers: gridsearch %.3fs\n", count(m, "/bin/true point"), median(ours))
	for i, tool := range tools {
		if len(ratios[i]) == 0 {
			fmt.Printf("  %s: not installed\n", tool.args[0])
			continue
		}
		fmt.Printf("  gridsearch / %s: %.2f (target %s; runs %.2f-%.2f)\n", tool.name, median(ratios[i]), tool.target, slices.Min(ratios[i]), slices.Max(ratios[i]))
	}
	return nil
}

// median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// benchRun runs m points i = 0..m-1 on w local workers and checks that
// each was reported once.
func benchRun(ctx context.Context, m, w int, fn gridsearch.Func, command []string) (gridsearch.Summary, error) {
	grid, err := gridsearch.NewGrid(fmt.Sprintf("i=0..%d", m-1))
	if err != nil {
		return gridsearch.Summary{}, err
	}
	seen := make([]int, m)
	sum, err := gridsearch.Run(ctx, gridsearch.Config{Grid: grid, Func: fn, Command: command, Workers: w,
		OnResult: func(r gridsearch.Record) error {
			seen[r.Point]++
			if !r.OK() {
				return fmt.Errorf("point %d failed: %s %s", r.Point, r.Error, r.Stderr)
			}
			return nil
		}})
	if err != nil {
		return sum, err
	}
	missing, dups := 0, 0
	for _, n := range seen {
		if n == 0 {
			missing++
		}
		dups += max(n-1, 0)
	}
	if missing+dups > 0 {
		return sum, fmt.Errorf("%s missing, %d duplicated", count(missing, "point"), dups)
	}
	return sum, nil
}

func timeCmd(ctx context.Context, input string, name string, args ...string) (float64, error) {
	if _, err := exec.LookPath(name); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(input)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	return time.Since(start).Seconds(), err
}
