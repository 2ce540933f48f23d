package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var batchesOK = regexp.MustCompile(`zprof_batches_total\{result="ok"\} (\d+)`)

// The collector killed (SIGKILL: no flush) and restarted on the same
// endpoint and database mid-run: the producers never wait for it, finish
// their work while it is down, and the restarted collector stores their
// exact totals, since every batch carries them.
func TestCollectorRestart(t *testing.T) {
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "z.db")
	c := startCollector(t, ctx, "tcp://127.0.0.1:0", db)
	var ps []*producer
	for i := range 3 {
		ps = append(ps, startProducer(t, ctx, c.pull, fmt.Sprintf("r%d", i), 60, 50))
	}
	waitBatches(t, ctx, c, 6)
	if err := c.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.Cmd.Process.Wait() // reaped: its port is free again
	for _, p := range ps {
		p.wait(t, ctx) // all their work done with no collector
	}
	c2 := startCollector(t, ctx, c.pull, db)
	waitTotals(t, ctx, c2, ps)
	c2.stop(t, ctx)
	checkStore(t, ctx, db, ps, false)
}

// waitBatches waits until the collector has taken in n batches.
func waitBatches(t *testing.T, ctx context.Context, c *collectorProc, n int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := batchesOK.FindStringSubmatch(get(t, c.http+"metrics")); m != nil {
			if got, _ := strconv.Atoi(m[1]); got >= n {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the collector never took in %d batches", n)
		case <-tick.C:
		}
	}
}
