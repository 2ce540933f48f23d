package main

import (
	"container/heap"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/zmqflow/zmqflow/examples/gridsearch/gridsearch"
)

// benchCmd reproduces benchmarks.md section 3 (the seed article's
// dispatch): T1 and T2 on 32 sleeping workers (G/T), T0 no-op points per
// second, and 2,000 /bin/true points against xargs -P2 and GNU parallel -j2.
func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	quick := fs.Bool("quick", false, "T1 and T2 durations scaled by 0.25, T0 with 2 workers only")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	scale := 1.0
	if *quick {
		scale = 0.25
	}
	for _, set := range []string{"T1", "T2"} {
		ds := taskSet(set, scale)
		sum, err := benchRun(ctx, len(ds), 32, func(ctx context.Context, p gridsearch.Point) (any, error) {
			t := time.NewTimer(ds[p.Index])
			defer t.Stop()
			select {
			case <-t.C:
				return nil, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}, nil)
		if err != nil {
			return err
		}
		g := greedy(ds, 32)
		fmt.Printf("%s x%.2g, 32 workers: T %.3fs, G %.3fs, G/T %.3f (target >= 0.98), RRsim %.3fs, sum %.2fs\n",
			set, scale, sum.Elapsed.Seconds(), g.Seconds(), g.Seconds()/sum.Elapsed.Seconds(),
			roundRobin(ds, 32).Seconds(), total(ds).Seconds())
	}
	ws := []int{1, 2, 8, 32}
	if *quick {
		ws = []int{2}
	}
	for _, w := range ws {
		const m = 20000
		sum, err := benchRun(ctx, m, w, func(context.Context, gridsearch.Point) (any, error) { return nil, nil }, nil)
		if err != nil {
			return err
		}
		note := ""
		if w == 2 {
			note = " (target >= 20000/s)"
		}
		fmt.Printf("T0 %d no-op points, %d workers: %.3fs, %.0f points/s%s\n", m, w, sum.Elapsed.Seconds(), m/sum.Elapsed.Seconds(), note)
	}

	const m = 2000
	sum, err := benchRun(ctx, m, 2, nil, []string{"/bin/true", "{i}"})
	if err != nil {
		return err
	}
	ours := sum.Elapsed.Seconds()
	fmt.Printf("T0 %d /bin/true points, 2 workers: gridsearch %.3fs\n", m, ours)
	input := strings.Repeat("x\n", m)
	if t, err := timeCmd(ctx, input, "xargs", "-P2", "-n1", "/bin/true"); err == nil {
		fmt.Printf("  xargs -P2 -n1 /bin/true: %.3fs, gridsearch/xargs %.2f (target <= 1.1)\n", t, ours/t)
	} else {
		fmt.Printf("  xargs: %v\n", err)
	}
	if t, err := timeCmd(ctx, input, "parallel", "-j2", "/bin/true", "{}"); err == nil {
		fmt.Printf("  parallel -j2 /bin/true {}: %.3fs, gridsearch/parallel %.2f (target <= 0.5)\n", t, ours/t)
	} else {
		fmt.Printf("  GNU parallel: %v (apt-get install parallel to compare)\n", err)
	}
	return nil
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
		return sum, fmt.Errorf("%d points missing, %d duplicated", missing, dups)
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

// The task sets of benchmarks.md section 3: deterministic durations.

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	z := (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func taskSet(name string, scale float64) []time.Duration {
	d := make([]time.Duration, 1000)
	for i := range d {
		u := float64(splitmix64(1*1000003+uint64(i))>>11) / (1 << 53)
		switch {
		case name == "T1" && u < 0.05:
			d[i] = time.Second
		case name == "T1" && u < 0.25:
			d[i] = 200 * time.Millisecond
		case name == "T1":
			d[i] = 20 * time.Millisecond
		case u < 0.02:
			d[i] = 1200 * time.Millisecond
		default:
			d[i] = 10 * time.Millisecond
		}
		d[i] = time.Duration(float64(d[i]) * scale)
	}
	return d
}

type durHeap []time.Duration

func (h durHeap) Len() int           { return len(h) }
func (h durHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h durHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *durHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *durHeap) Pop() any          { x := (*h)[len(*h)-1]; *h = (*h)[:len(*h)-1]; return x }

// greedy is G: the list schedule of ds in order on w workers, no overhead.
func greedy(ds []time.Duration, w int) time.Duration {
	h := make(durHeap, w)
	for _, d := range ds {
		h[0] += d
		heap.Fix(&h, 0)
	}
	var m time.Duration
	for _, t := range h {
		m = max(m, t)
	}
	return m
}

// roundRobin is RRsim: what PUSH round-robin gives.
func roundRobin(ds []time.Duration, w int) time.Duration {
	sums := make([]time.Duration, w)
	for i, d := range ds {
		sums[i%w] += d
	}
	var m time.Duration
	for _, s := range sums {
		m = max(m, s)
	}
	return m
}

func total(ds []time.Duration) (t time.Duration) {
	for _, d := range ds {
		t += d
	}
	return t
}
