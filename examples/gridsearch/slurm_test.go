package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireSlurm skips the test, with the reason, unless a SLURM cluster
// answers here with a node up: internal/slurmtest/setup.sh makes one, as
// test.sh runs it. With ZMQFLOW_REQUIRE_INTEROP=1 (test.sh) a missing or
// silent cluster fails the test instead.
func requireSlurm(t *testing.T) {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("ZMQFLOW_REQUIRE_INTEROP") != "" {
		fail = t.Fatalf
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		fail("no SLURM here (sbatch: %v); internal/slurmtest/setup.sh, run as root, makes a one-node cluster", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-o", "%T").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^(idle|mixed|allocated|completing)`).Match(out) {
		fail("SLURM does not answer with a node up: sinfo: %v: %q (internal/slurmtest/setup.sh starts it)", err, out)
	}
}

// squeueTasks lists the tasks of job id that SLURM still runs or will run.
func squeueTasks(id string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "squeue", "-h", "-r", "-j", id, "-o", "%i %T").CombinedOutput()
	if err != nil && strings.Contains(string(out), "Invalid job id") {
		return "", nil // purged already
	}
	return strings.TrimSpace(string(out)), err
}

// A grid through workers that SLURM starts (-slurm 2, a job array, with
// -key): one task is cancelled with scancel while it holds a point, which
// another worker then runs; every point is written once, and no task of
// the array is left in squeue after the run.
func TestSlurmRealCluster(t *testing.T) {
	requireSlurm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	key := keygen(t, dir, "cluster")
	const n, free = 24, 6
	out := filepath.Join(dir, "r.jsonl")
	// Points past free wait for the test, saying which task and worker
	// process hold them (running.TASK.PID.i): the test cancels a task that
	// surely holds one.
	gated := []string{"--", "sh", "-c", fmt.Sprintf(`if [ $1 -gt %d ]; then : > "$2/running.$SLURM_ARRAY_TASK_ID.$PPID.$1"; `+
		`while [ ! -e "$2/release" ]; do sleep 0.02; done; fi; sleep 0.03; echo "{\"v\": $(($1 * $1))}"`, free), "sh", "{i}", dir}
	master := start(t, ctx, dir, append([]string{"run", "-slurm", "2", "-slurm-poll", "1s", "-key", key,
		"-bind", "tcp://127.0.0.1:*", "-out", out, "-progress", "none", "-param", fmt.Sprintf("i=1..%d", n)}, gated...)...)
	id := master.expect(t, ctx, `^gridsearch: submitted slurm job (\d+), 2 worker tasks`)[1]
	t.Cleanup(func() { exec.Command("scancel", id).Run() })

	var task, pid, point int
	waitFor(t, ctx, "a worker task holding a point", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "running.*"))
		for _, f := range m {
			if p := strings.Split(filepath.Base(f), "."); len(p) == 4 {
				task, _ = strconv.Atoi(p[1])
				pid, _ = strconv.Atoi(p[2])
				point, _ = strconv.Atoi(p[3])
				return pid > 0
			}
		}
		return false
	})
	if out, err := exec.CommandContext(ctx, "scancel", fmt.Sprintf("%s_%d", id, task)).CombinedOutput(); err != nil {
		t.Fatalf("scancel %s_%d: %v: %s", id, task, err, out)
	}
	waitFor(t, ctx, fmt.Sprintf("worker %d of task %d gone", pid, task), func() bool { return !alive(pid) })
	release(t, dir)
	if code := master.wait(); code != 0 {
		t.Fatalf("master exit %d: %s\n%s", code, master.stdout.String(), strings.Join(master.stderr, "\n"))
	}
	recs := readResults(t, out)
	checkSquares(t, recs, n)
	for _, r := range recs {
		if r.Params["i"] == point && strings.HasSuffix(strings.Split(r.Worker, "/")[0], fmt.Sprintf(":%d", pid)) {
			t.Errorf("point i=%d done by the cancelled worker %s", point, r.Worker)
		}
	}
	if last := master.stderr[len(master.stderr)-1]; last != fmt.Sprintf("gridsearch: slurm job %s cancelled (the run is over)", id) {
		t.Errorf("last stderr line %q", last)
	}
	waitFor(t, ctx, "no task of job "+id+" in squeue", func() bool {
		left, err := squeueTasks(id)
		return err == nil && left == ""
	})
	t.Logf("job %s: task %d (worker %d) cancelled holding point i=%d; master stderr:\n%s", id, task, pid, point, strings.Join(master.stderr, "\n"))
}

// A run whose only workers are SLURM's (-slurm without -bind or -workers)
// stops when the array has no task left, rather than wait for workers that
// cannot come: exit status 1, -resume named, and nothing written for the
// point the cancelled worker held.
func TestSlurmAllTasksGone(t *testing.T) {
	requireSlurm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	dir := t.TempDir()
	key := keygen(t, dir, "cluster")
	out := filepath.Join(dir, "r.jsonl")
	master := start(t, ctx, dir, append([]string{"run", "-slurm", "1", "-slurm-poll", "1s", "-key", key,
		"-out", out, "-progress", "none", "-param", "i=1..6"}, gatedSquare(dir, 0)...)...)
	id := master.expect(t, ctx, `^gridsearch: submitted slurm job (\d+), 1 worker task`)[1]
	t.Cleanup(func() { exec.Command("scancel", id).Run() })
	waitFor(t, ctx, "the worker holding a point", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "running.*"))
		return len(m) > 0
	})
	if out, err := exec.CommandContext(ctx, "scancel", id).CombinedOutput(); err != nil {
		t.Fatalf("scancel %s: %v: %s", id, err, out)
	}
	code := master.wait()
	want := fmt.Sprintf("gridsearch: the run stopped: slurm job %s has no task left, and no other worker can join; -resume -out %s runs the rest", id, out)
	if code != 1 || master.stderr[len(master.stderr)-1] != want {
		t.Fatalf("master exit %d, stderr %q; want 1 and %q", code, master.stderr, want)
	}
	if recs := readResults(t, out); len(recs) != 0 {
		t.Errorf("records %+v, want none: every point waited for the test", recs)
	}
}
