package examples_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// Profiling end to end, with no change to the programs: ZMQFLOW_PROFILE
// names a real collector (zprof collect), the guide's pipeline runs across
// four processes and a grid search across two slots, and the collector's
// database then holds exactly what they did: the messages each program's
// sockets moved, added up across its processes from each one's last batch
// (the one its Flush sends at exit), and one task span per grid point.
func TestPipelineProfiled(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "prof.db")
	zprof := start(t, ctx, "zprof", "collect", "-bind", loopback, "-db", db, "-http", "127.0.0.1:0")
	env := []string{telemetry.EnvProfile + "=" + zprof.await(ctx, `collecting on (\S+),`)[1]}

	sink := startEnv(t, ctx, env, "tasksink", "-bind", loopback, "-kill", loopback)
	m := sink.await(ctx, sinkEndpoints)
	results, kill := m[1], m[2]
	vent := startEnv(t, ctx, env, "taskvent", "-bind", loopback, "-sink", results, "-workers", "2")
	tasks := vent.await(ctx, ventEndpoint)[1]
	var procs []*proc
	for i := range 2 {
		procs = append(procs, startEnv(t, ctx, env, "taskwork", "-name", fmt.Sprint("p", i), "-vent", tasks, "-sink", results, "-kill", kill))
	}
	const points = 20
	procs = append(procs, vent, sink, startEnv(t, ctx, env, "gridsearch", "run", "-workers", "2", "-progress", "none",
		"-out", filepath.Join(t.TempDir(), "grid.jsonl"), "-plot", "none", "-param", fmt.Sprintf("i=0..%d", points-1), "--", "/bin/true", "{i}"))
	for _, p := range procs {
		if code := p.exit(ctx); code != 0 {
			t.Fatalf("%s: exit code %d", p.name, code)
		}
	}

	want := map[string]float64{
		"taskwork PULL in": 100, "taskwork PUSH out": 100,
		"tasksink PULL in": 101, "taskvent PUSH out": 101, // the batch's start too
	}
	wantTasks := taskCount{points, points, 0, points - 1}
	// The collector writes a second at a time: wait for the last batches
	// to be stored, then stop it and look again at what it left.
	var got map[string]float64
	var gotTasks taskCount
	look := func() bool {
		r, err := collect.ReadStore(ctx, db)
		if err != nil {
			return false // not created yet
		}
		defer r.Close()
		got, gotTasks = socketTotals(t, ctx, r), gridTasks(t, ctx, r)
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return gotTasks == wantTasks
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !look() {
		select {
		case <-ctx.Done():
			t.Fatalf("stored totals %v, tasks %+v; want %v and %+v", got, gotTasks, want, wantTasks)
		case <-tick.C:
		}
	}
	zprof.cmd.Process.Signal(syscall.SIGTERM)
	if code := zprof.exit(ctx); code != 0 {
		t.Fatalf("zprof collect: exit code %d", code)
	}
	if !look() {
		t.Fatalf("after the collector stopped: totals %v, tasks %+v; want %v and %+v", got, gotTasks, want, wantTasks)
	}
}

// socketTotals adds up, by program, socket type and direction, the latest
// total of each process's socket message counts.
func socketTotals(t *testing.T, ctx context.Context, db *sql.DB) map[string]float64 {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT p.service, s.attrs, max(s.value) FROM samples s
		JOIN processes p ON p.instance = s.instance WHERE s.metric = ? GROUP BY s.instance, s.attrs`, telemetry.MetricSocketMessages)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]float64{}
	for rows.Next() {
		var service, attrs string
		var total float64
		if err := rows.Scan(&service, &attrs, &total); err != nil {
			t.Fatal(err)
		}
		var a map[string]any
		if err := json.Unmarshal([]byte(attrs), &a); err != nil {
			t.Fatalf("attrs %q: %v", attrs, err)
		}
		got[fmt.Sprint(service, " ", a[telemetry.AttrSocketType], " ", a[telemetry.AttrDirection])] += total
	}
	return got
}

// taskCount is what the database holds of the grid search's task spans.
type taskCount struct{ N, Distinct, Min, Max int }

func gridTasks(t *testing.T, ctx context.Context, db *sql.DB) taskCount {
	t.Helper()
	var c taskCount
	var lo, hi sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT t.task), min(t.task), max(t.task) FROM tasks t
		JOIN processes p ON p.instance = t.instance WHERE p.service = 'gridsearch' AND t.slot IN (0, 1) AND t.error IS NULL`).
		Scan(&c.N, &c.Distinct, &lo, &hi)
	if err != nil {
		t.Fatal(err)
	}
	c.Min, c.Max = int(lo.Int64), int(hi.Int64)
	return c
}
