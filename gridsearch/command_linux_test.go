package gridsearch

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// waitDead waits for pid to be gone: at once, but a busy machine may take
// a second or more to get to it.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); alive(pid); {
		if time.Now().After(end) {
			syscall.Kill(pid, syscall.SIGKILL) // not to outlive the test
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc: there is no event to wait for
	}
}

// fifo is a named pipe through which a test's command tells the test what
// it has started, while it runs (its stdout is the point's, read when it
// ends).
type fifo struct {
	path string
	r    *bufio.Reader
	f    *os.File
}

func newFifo(t *testing.T) *fifo {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read and write: the open does not wait for a writer, and a read
	// waits for a line rather than ending at the first writer's close.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fifo{path: path, r: bufio.NewReader(f), f: f}
}

// pids reads a line of pids from the fifo, waiting as long as cmdCtx would.
func (f *fifo) pids(t *testing.T) []int {
	t.Helper()
	f.f.SetReadDeadline(time.Now().Add(20 * time.Second))
	l, err := f.r.ReadString('\n')
	if err != nil {
		t.Fatalf("command never said what it started: %v", err)
	}
	var pids []int
	for _, w := range strings.Fields(l) {
		pid, err := strconv.Atoi(w)
		if err != nil {
			t.Fatalf("fifo line %q", l)
		}
		pids = append(pids, pid)
	}
	return pids
}

// awaitOutcome waits for a runCommand started in a goroutine.
func awaitOutcome(t *testing.T, res <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-res:
		return o
	case <-time.After(time.Minute):
		t.Fatal("runCommand did not return")
		return outcome{}
	}
}

// ctx's end kills the command and what it started: a shell script's
// children do not outlive a timed-out point. The test ends ctx once the
// script has started its child: a fixed timeout could end before that on a
// busy machine.
func TestRunCommandKillsGroup(t *testing.T) { bothWays(t, testRunCommandKillsGroup) }

func testRunCommandKillsGroup(t *testing.T) {
	ff := newFifo(t)
	ctx, cancel := context.WithCancel(cmdCtx(t))
	defer cancel()
	res := make(chan outcome, 1)
	go func() {
		res <- runCommand(ctx, []string{"sh", "-c", `sleep 600 & echo $!; echo $! > "$1"; wait`, "sh", ff.path})
	}()
	pid := ff.pids(t)[0]
	cancel()
	start := time.Now()
	o := awaitOutcome(t, res)
	t.Logf("returned %v after ctx's end", time.Since(start).Round(time.Millisecond))
	if o.Exit != -1 || o.Error != "signal: killed" {
		t.Errorf("outcome %+v", o)
	}
	if got, err := strconv.Atoi(strings.TrimSpace(o.Stdout)); err != nil || got != pid {
		t.Errorf("stdout %q, want the child's pid %d", o.Stdout, pid)
	}
	waitDead(t, pid)
}

// A command that leaves a child holding its stdout is reported as it
// exited, marked stray, once its exit is seen and its output read: not
// after a fixed delay (WaitDelay, made an hour here, is only the other
// systems' bound), nor at ctx's end, nor the child's, which would outlast
// cmdCtx. The child is killed with the group.
func TestRunCommandStrayChild(t *testing.T) { bothWays(t, testRunCommandStrayChild) }

func testRunCommandStrayChild(t *testing.T) {
	defer func(d time.Duration) { waitDelay = d }(waitDelay)
	waitDelay = time.Hour
	ctx := cmdCtx(t)
	start := time.Now()
	o := runCommand(ctx, []string{"sh", "-c", `echo '{"a":1}'; sleep 600 & echo $! >&2`})
	t.Logf("took %v (strayGrace %v)", time.Since(start).Round(time.Millisecond), strayGrace)
	if ctx.Err() != nil {
		t.Errorf("the point ended only with its context: %v", ctx.Err())
	}
	if o.Exit != 0 || o.Error != "" || string(o.Result) != `{"a":1}` || !o.Stray {
		t.Errorf("outcome %+v, want exit 0, the result, stray", o)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(o.Stderr)); err != nil {
		t.Errorf("stderr %q, want the stray child's pid", o.Stderr)
	} else {
		waitDead(t, pid)
	}
}

// A stray that writes as fast as it can does not keep its point past the
// grace: drain, read faster than poll's turns would allow, still sees the
// command's exit and its deadline. Here the stray's pipe never empties
// (readPipe always has more), which on the old drain kept it reading for
// ever.
func TestDrainChattyStray(t *testing.T) {
	defer func(d time.Duration, r func(int, []byte) (int, error)) { strayGrace, readPipe = d, r }(strayGrace, readPipe)
	strayGrace = 50 * time.Millisecond
	var out, errp, exit [2]int
	for _, p := range []*[2]int{&out, &errp, &exit} {
		if err := newPipe(p); err != nil {
			t.Fatal(err)
		}
	}
	// The stray holds both write ends; the command has exited.
	defer unix.Close(out[1])
	defer unix.Close(errp[1])
	defer unix.Close(exit[0])
	unix.Close(exit[1])
	if _, err := unix.Write(out[1], []byte("score: 1\n")); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool // set if drain is stuck, to let it end
	chatty := errp[0]
	readPipe = func(fd int, p []byte) (int, error) {
		if fd == chatty && !stop.Load() {
			return len(p), nil
		}
		return unix.Read(fd, p)
	}
	stdout, stderr := capped{max: 1 << 10}, capped{max: 1 << 10, tail: true}
	type result struct {
		held bool
		err  error
	}
	done := make(chan result, 1)
	go func() {
		held, err := drain(out[0], errp[0], exit[0], &stdout, &stderr)
		done <- result{held, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || !r.held {
			t.Errorf("drain: held %v, error %v; want held, no error", r.held, r.err)
		}
		if got := string(stdout.buf); got != "score: 1\n" {
			t.Errorf("stdout %q, want the command's line", got)
		}
	case <-time.After(100 * strayGrace):
		stop.Store(true)
		<-done
		t.Fatalf("drain still reading the stray %v after the command's exit (grace %v)", 100*strayGrace, strayGrace)
	}
}

// Strays writing on the command's stderr as fast as they can: the point
// ends with the command's result, marked stray, and the strays die.
func TestRunCommandChattyStrays(t *testing.T) { bothWays(t, testRunCommandChattyStrays) }

func testRunCommandChattyStrays(t *testing.T) {
	ctx := cmdCtx(t)
	o := runCommand(ctx, []string{"sh", "-c", `yes >&2 & yes >&2 & yes >&2 & echo '{"a":1}'`})
	if ctx.Err() != nil {
		t.Errorf("the point ended only with its context: %v", ctx.Err())
	}
	if o.Exit != 0 || o.Error != "" || string(o.Result) != `{"a":1}` || !o.Stray {
		t.Errorf("outcome exit %d, error %q, result %q, stray %v; want exit 0, the result, stray", o.Exit, o.Error, o.Result, o.Stray)
	}
}

// What a command wrote before it exited is read whole though no time is
// left for its output after the exit (strayGrace 0): by a command that
// ends alone, and by one that leaves a child holding its output. Many
// times over, with output near the pipe's size on both pipes, so that the
// exit and the last of the output come to the reader in every order.
func TestRunCommandLastOutput(t *testing.T) { bothWays(t, testRunCommandLastOutput) }

func testRunCommandLastOutput(t *testing.T) {
	defer func(d time.Duration) { strayGrace = d }(strayGrace)
	strayGrace = 0
	ctx := cmdCtx(t)
	var want strings.Builder
	for i := 1; i <= 9000; i++ {
		want.WriteString(strconv.Itoa(i) + "\n")
	}
	const out = `seq 1 9000; seq 1 2000 >&2`
	for i := 0; i < 40; i++ {
		o := runCommand(ctx, []string{"sh", "-c", out})
		if o.Exit != 0 || o.Stray || o.Stdout != want.String() || !strings.HasSuffix(o.Stderr, "\n1999\n2000\n") {
			t.Fatalf("run %d: exit %d, stray %v, %d bytes of stdout, want %d; stderr ends %q",
				i, o.Exit, o.Stray, len(o.Stdout), want.Len(), o.Stderr[max(len(o.Stderr)-20, 0):])
		}
	}
	for i := 0; i < 5; i++ {
		o := runCommand(ctx, []string{"sh", "-c", out + `; sleep 600 & echo $! > /dev/null`})
		if o.Exit != 0 || !o.Stray || o.Stdout != want.String() || !strings.HasSuffix(o.Stderr, "\n1999\n2000\n") {
			t.Fatalf("stray run %d: exit %d, stray %v, %d bytes of stdout, want %d; stderr ends %q",
				i, o.Exit, o.Stray, len(o.Stdout), want.Len(), o.Stderr[max(len(o.Stderr)-20, 0):])
		}
	}
}

// A child that ends by itself soon after its command, within strayGrace
// (made a minute here, so that a busy machine does not tell), is heard
// whole and makes no stray: as bash's >(tee log) is.
func TestRunCommandLateChild(t *testing.T) { bothWays(t, testRunCommandLateChild) }

func testRunCommandLateChild(t *testing.T) {
	defer func(d time.Duration) { strayGrace = d }(strayGrace)
	strayGrace = time.Minute
	o := runCommand(cmdCtx(t), []string{"sh", "-c", `(sleep 0.1; echo late) & echo early`})
	if o.Exit != 0 || o.Stray || o.Stdout != "early\nlate\n" {
		t.Errorf("outcome %+v, want exit 0, not stray, both lines", o)
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
// the group, and the point returns at once rather than after strayGrace.
// The test ends ctx once the command has exited (a fixed timeout could end
// before that on a busy machine), and makes strayGrace a minute, so that
// "at once" is told from it with room for any stall.
func TestRunCommandStrayChildKilled(t *testing.T) { bothWays(t, testRunCommandStrayChildKilled) }

func testRunCommandStrayChildKilled(t *testing.T) {
	defer func(d time.Duration) { strayGrace = d }(strayGrace)
	strayGrace = time.Minute
	ff := newFifo(t)
	ctx, cancel := context.WithCancel(cmdCtx(t))
	defer cancel()
	res := make(chan outcome, 1)
	go func() {
		res <- runCommand(ctx, []string{"sh", "-c", `sleep 600 & echo $! >&2; echo $! $$ > "$1"`, "sh", ff.path})
	}()
	pids := ff.pids(t)
	child, sh := pids[0], pids[1]
	for end := time.Now().Add(20 * time.Second); alive(sh); {
		if time.Now().After(end) {
			t.Fatalf("the command (pid %d) did not exit", sh)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc: there is no event to wait for
	}
	cancel()
	start := time.Now()
	o := awaitOutcome(t, res)
	if d := time.Since(start); d > strayGrace/2 {
		t.Errorf("took %v after ctx's end: the stray child was waited for", d)
	}
	if got, err := strconv.Atoi(strings.TrimSpace(o.Stderr)); err != nil || got != child {
		t.Errorf("stderr %q, want the child's pid %d", o.Stderr, child)
	}
	waitDead(t, child)
}

// A command that exited by itself before its timeout, leaving a child
// that holds its output, is reported as it exited: the timeout ended only
// the reading of that output (and killed the child with the group), not
// the command. It is marked stray, as it is when strayGrace ends the
// reading. strayGrace is made a minute so that the timeout comes first;
// the timeout is far longer than sh takes to exit, on a busy machine too.
func TestTimeoutAfterCommandExited(t *testing.T) {
	defer func(d time.Duration) { strayGrace = d }(strayGrace)
	strayGrace = time.Minute
	body, _ := json.Marshal(task{Point: 0, Attempt: 1, Timeout: int64(10 * time.Second),
		Argv: []string{"sh", "-c", `sleep 600 & echo $! >&2; echo '{"v":1}'`}})
	rep, err := handler("test/0", "host", 0, nil)(cmdCtx(t), [][]byte{body})
	if err != nil || len(rep) != 1 {
		t.Fatalf("reply %q, %v", rep, err)
	}
	var o outcome
	if err := json.Unmarshal(rep[0], &o); err != nil {
		t.Fatal(err)
	}
	if o.Exit != 0 || o.Error != "" || string(o.Result) != `{"v":1}` || !o.Stray {
		t.Errorf("outcome %+v, want exit 0, the result, stray (the child killed, its output cut short)", o)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(o.Stderr)); err != nil {
		t.Errorf("stderr %q, want the child's pid", o.Stderr)
	} else {
		waitDead(t, pid)
	}
}
