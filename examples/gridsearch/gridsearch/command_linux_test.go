package gridsearch

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func cmdCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// bothWays runs test with pidfds, and again without them, as on a kernel
// before 5.3 (exitPipe).
func bothWays(t *testing.T, test func(t *testing.T)) {
	t.Run("pidfd", test)
	t.Run("waiter", func(t *testing.T) {
		was := pidfds.Swap(-1)
		defer pidfds.Store(was)
		test(t)
	})
}

func TestRunCommandOutput(t *testing.T) { bothWays(t, testRunCommandOutput) }

func testRunCommandOutput(t *testing.T) {
	ctx := cmdCtx(t)
	for _, c := range []struct {
		name string
		argv []string
		want func(outcome) bool
	}{
		{"JSON result and exit 0", []string{"echo", ` {"v": 1} `}, func(o outcome) bool {
			return o.Exit == 0 && o.Error == "" && string(o.Result) == `{"v": 1}`
		}},
		{"exit code, no result when failing", []string{"sh", "-c", `echo 7; echo why >&2; exit 3`}, func(o outcome) bool {
			return o.Exit == 3 && o.Result == nil && o.Stdout == "7\n" && o.Stderr == "why\n"
		}},
		{"text is no result", []string{"echo", "hello"}, func(o outcome) bool {
			return o.Exit == 0 && o.Result == nil && o.Stdout == "hello\n"
		}},
		// Far more than a pipe holds (64 KiB): read while the command runs.
		{"300 KB of stdout", []string{"head", "-c", "300000", "/dev/zero"}, func(o outcome) bool {
			return o.Exit == 0 && len(o.Stdout) == 300000
		}},
		{"stdout capped at its head, no result", []string{"sh", "-c", `echo 1; head -c 2000000 /dev/zero`}, func(o outcome) bool {
			return o.Exit == 0 && len(o.Stdout) == MaxStdout && strings.HasPrefix(o.Stdout, "1\n") && o.Result == nil
		}},
		{"stderr keeps its tail", []string{"sh", "-c", `seq 1 20000 >&2`}, func(o outcome) bool {
			return o.Exit == 0 && len(o.Stderr) == MaxStderr && strings.HasSuffix(o.Stderr, "\n19999\n20000\n")
		}},
		{"stdin is empty", []string{"cat"}, func(o outcome) bool { return o.Exit == 0 && o.Stdout == "" }},
		{"no such command", []string{"no-such-command-gridsearch"}, func(o outcome) bool {
			return o.Exit == -1 && strings.Contains(o.Error, "executable file not found")
		}},
		{"not executable", []string{"/dev/null"}, func(o outcome) bool {
			return o.Exit == -1 && strings.Contains(o.Error, "permission denied")
		}},
		{"killed by a signal", []string{"sh", "-c", `kill -9 $$`}, func(o outcome) bool {
			return o.Exit == -1 && o.Error == "signal: killed"
		}},
		// Output that continues after the command has closed its pipes.
		{"pipes closed early", []string{"sh", "-c", `echo '[1]'; exec >&- 2>&-; sleep 0.2`}, func(o outcome) bool {
			return o.Exit == 0 && string(o.Result) == "[1]"
		}},
	} {
		if o := runCommand(ctx, c.argv); !c.want(o) {
			o.Stdout = o.Stdout[:min(len(o.Stdout), 80)]
			o.Stderr = o.Stderr[:min(len(o.Stderr), 80)]
			t.Errorf("%s: %+v", c.name, o)
		}
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// waitDead waits up to 5 s for pid to be gone.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); alive(pid); {
		if time.Now().After(end) {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctx's end kills the command and what it started: a shell script's
// children do not outlive a timed-out point.
func TestRunCommandKillsGroup(t *testing.T) { bothWays(t, testRunCommandKillsGroup) }

func testRunCommandKillsGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(cmdCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	o := runCommand(ctx, []string{"sh", "-c", `sleep 30 & echo $!; wait`})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v after the timeout", d)
	}
	if o.Exit != -1 || o.Error != "signal: killed" {
		t.Errorf("outcome %+v", o)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(o.Stdout))
	if err != nil {
		t.Fatalf("stdout %q", o.Stdout)
	}
	waitDead(t, pid)
}

// A command that leaves a child holding its stdout is waited for no longer
// than waitDelay after it exits.
func TestRunCommandStrayChild(t *testing.T) { bothWays(t, testRunCommandStrayChild) }

func testRunCommandStrayChild(t *testing.T) {
	defer func(d time.Duration) { waitDelay = d }(waitDelay)
	waitDelay = 200 * time.Millisecond
	start := time.Now()
	o := runCommand(cmdCtx(t), []string{"sh", "-c", `echo '{"a":1}'; sleep 30 & echo $! >&2`})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	if o.Exit != 0 || string(o.Result) != `{"a":1}` {
		t.Errorf("outcome %+v", o)
	}
	// The stray sleep is not the point's to kill: it was left running.
	if pid, err := strconv.Atoi(strings.TrimSpace(o.Stderr)); err == nil && alive(pid) {
		p, _ := os.FindProcess(pid)
		p.Kill()
	} else {
		t.Errorf("stderr %q: the stray child's pid, still running", o.Stderr)
	}
}

// A command is not started for a context that has ended.
func TestRunCommandEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	o := runCommand(ctx, []string{"touch", dir + "/ran"})
	if _, err := os.Stat(dir + "/ran"); err == nil || o.Exit != -1 {
		t.Errorf("command ran for an ended context: %+v", o)
	}
}

// A point that ends (timeout, or its worker closing) while its command has
// exited but left a child holding its output: the child is killed with
// the group, and the point returns at once rather than after waitDelay.
func TestRunCommandStrayChildKilled(t *testing.T) { bothWays(t, testRunCommandStrayChildKilled) }

func testRunCommandStrayChildKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(cmdCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	o := runCommand(ctx, []string{"sh", "-c", `sleep 30 & echo $! >&2`})
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v: the stray child was waited for", d)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(o.Stderr))
	if err != nil {
		t.Fatalf("stderr %q", o.Stderr)
	}
	waitDead(t, pid)
}
