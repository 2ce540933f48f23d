package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/zmqflow/zmqflow/gridsearch"
	"github.com/zmqflow/zmqflow/internal/cputime"
)

// benchSleep runs points of `sleep secs` on worker processes of this very
// binary (`gridsearch worker`) joined over tcp loopback, as remote workers
// join a master, and reports the run's time against the ideal (points x
// secs / slots) and the master's CPU time per point. It is the measure of
// dispatch at scale: 10,000 points over 200 slots by default.
func benchSleep(ctx context.Context, runs, points, workers, slots int, secs float64) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	grid, err := gridsearch.NewGrid(fmt.Sprintf("i=0..%d", points-1))
	if err != nil {
		return err
	}
	ideal := float64(points) * secs / float64(workers*slots)
	// xargs running the same sleeps as many at a time on this machine
	// alone is the anchor: where it is far from the ideal, starting
	// processes is what limits both.
	secText := strconv.FormatFloat(secs, 'g', -1, 64)
	input := strings.Repeat(secText+"\n", points)
	var ratios, cpus, anchor []float64
	for range runs {
		if t, err := timeCmd(ctx, input, "xargs", "-P", strconv.Itoa(workers*slots), "-n1", "sleep"); err == nil {
			anchor = append(anchor, t)
		}
		var procs []*exec.Cmd
		stop := func() {
			for _, p := range procs {
				p.Process.Signal(os.Interrupt)
			}
			for _, p := range procs {
				p.Wait()
			}
		}
		seen := make([]int, points)
		// A worker that does not start ends the run: with no slots of its
		// own the master would wait for it for ever.
		rctx, cancel := context.WithCancelCause(ctx)
		before := cputime.Process()
		sum, err := gridsearch.Run(rctx, gridsearch.Config{
			Grid: grid, Command: []string{"sleep", secText},
			Workers: -1, Bind: "tcp://127.0.0.1:*",
			OnBound: func(ep string) {
				for range workers {
					cmd := exec.CommandContext(ctx, exe, "worker", "-connect", ep, "-slots", strconv.Itoa(slots), "-lost", "0")
					cmd.Stderr = os.Stderr
					if err := cmd.Start(); err != nil {
						cancel(fmt.Errorf("bench: a worker process did not start: %w", err))
						return
					}
					procs = append(procs, cmd)
				}
			},
			OnResult: func(r gridsearch.Record) error {
				seen[r.Point]++
				if !r.OK() {
					return fmt.Errorf("point %d failed: %s %s", r.Point, r.Error, r.Stderr)
				}
				return nil
			},
		})
		cpu := cputime.Process() - before
		stop()
		if cause := context.Cause(rctx); cause != nil && ctx.Err() == nil {
			cancel(nil)
			return cause
		}
		cancel(nil)
		if err != nil {
			return err
		}
		for i, n := range seen {
			if n != 1 {
				return fmt.Errorf("bench: point %d reported %d times", i, n)
			}
		}
		ratios = append(ratios, sum.Elapsed.Seconds()/ideal)
		if len(anchor) == len(ratios) {
			anchor[len(anchor)-1] = sum.Elapsed.Seconds() / anchor[len(anchor)-1]
		}
		cpus = append(cpus, cpu.Seconds()/float64(points))
	}
	fmt.Printf("%s of sleep %g, %s of %s over tcp: %.3fs against the ideal %.3fs, %.3fx (target <= 1.05); master CPU %.0f µs per point\n",
		count(points, "point"), secs, count(workers, "worker"), count(slots, "slot"), median(ratios)*ideal, ideal, median(ratios), median(cpus)*1e6)
	if len(anchor) == len(ratios) {
		fmt.Printf("  gridsearch / xargs -P%d -n1 sleep on this machine alone: %.2f\n", workers*slots, median(anchor))
	} else {
		fmt.Println("  xargs: not run")
	}
	return nil
}
