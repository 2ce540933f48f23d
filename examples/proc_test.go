package examples_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/proctest"
	"github.com/zmqflow/zmqflow/internal/pyzmq"
)

// The tests run the programs as real processes talking over loopback. They
// are built once for the package, with -race when the tests have it.

// programs is the directory the programs are built into.
var programs string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zmqflow-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	programs = dir
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, "./taskvent", "./taskwork", "./tasksink", "./squares",
		"./lbbroker", "./ppqueue", "./ppworker", "./lpclient", "./mdbroker", "./mdworker", "./mdclient", "./peering",
		"./mspoller", "./rrbroker", "./rrclient", "./rrworker", "./lvcache", "./gridsearch", "../cmd/zprof")
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return true
			}
		}
	}
	return false
}

// testTimeout bounds each test: its processes are killed then, and every
// wait gives up. TestWorkerKilledMidBatch waits out a sink's 10 s -timeout.
const testTimeout = 60 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// proc is one of our programs, running. Its standard output and error are
// kept together, whole, so that a test can wait for progress dots as well as
// lines. A proc is used from its test's goroutine only.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    output
	exited chan struct{}
	code   int // exit code, once exited is closed
}

// output is what a process wrote so far; changed ticks on each write.
type output struct {
	mu      sync.Mutex
	b       []byte
	changed chan struct{}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.b = append(o.b, p...)
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.b)
}

// start runs one of the programs with args until it
// exits or ctx ends. Its output is logged if the test fails.
func start(t *testing.T, ctx context.Context, program string, args ...string) *proc {
	t.Helper()
	return startEnv(t, ctx, nil, program, args...)
}

// startEnv is start with env added to the program's environment.
func startEnv(t *testing.T, ctx context.Context, env []string, program string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: program + " " + strings.Join(args, " "), exited: make(chan struct{})}
	p.out.changed = make(chan struct{}, 1)
	p.cmd = exec.CommandContext(ctx, filepath.Join(programs, program), args...)
	proctest.DieWithTest(p.cmd)
	p.cmd.WaitDelay = 5 * time.Second
	// A -race binary sleeps a second at exit unless told not to.
	p.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1 // an I/O error after a clean exit: not clean
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // if it is still running
		<-p.exited
		if t.Failed() {
			t.Logf("%s (exit code %d) wrote:\n%s", p.name, p.code, p.out.String())
		}
	})
	return p
}

// await waits until the output matches pattern, and returns the submatches
// of its first match.
func (p *proc) await(ctx context.Context, pattern string) []string {
	p.t.Helper()
	re := regexp.MustCompile(pattern)
	var m []string
	p.wait(ctx, "`"+pattern+"`", func(out string) bool {
		m = re.FindStringSubmatch(out)
		return m != nil
	})
	return m
}

// awaitCount waits until pattern matches n times in the output.
func (p *proc) awaitCount(ctx context.Context, pattern string, n int) {
	p.t.Helper()
	re := regexp.MustCompile(pattern)
	p.wait(ctx, fmt.Sprintf("%d times `%s`", n, pattern), func(out string) bool {
		return len(re.FindAllStringIndex(out, -1)) >= n
	})
}

func (p *proc) wait(ctx context.Context, what string, done func(string) bool) {
	p.t.Helper()
	for {
		if done(p.out.String()) {
			return
		}
		select {
		case <-p.out.changed:
		case <-p.exited:
			if !done(p.out.String()) { // its last words are in by now
				p.t.Fatalf("%s exited (code %d) before it wrote %s", p.name, p.code, what)
			}
			return
		case <-ctx.Done():
			p.t.Fatalf("%s: waiting for %s: %v", p.name, what, ctx.Err())
		}
	}
}

// enter presses Enter.
func (p *proc) enter() {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, "\n"); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// exit waits for the process to exit and returns its exit code.
func (p *proc) exit(ctx context.Context) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-ctx.Done():
		p.t.Fatalf("%s: waiting for it to exit: %v", p.name, ctx.Err())
		return -1
	}
}

// kill ends the process at once, as a crash or a pulled plug would.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// awaitLine reads a libzmq peer's lines until one matches pattern, and
// returns its submatches.
func awaitLine(t *testing.T, ctx context.Context, peer *pyzmq.Peer, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for {
		l, err := peer.Line(ctx)
		if err != nil {
			t.Fatalf("waiting for `%s`: %v", pattern, err)
		}
		if m := re.FindStringSubmatch(l); m != nil {
			return m
		}
	}
}

// awaitExit waits until a libzmq peer has exited, after reading what is
// left of its output.
func awaitExit(t *testing.T, ctx context.Context, peer *pyzmq.Peer) {
	t.Helper()
	for {
		_, err := peer.Line(ctx)
		if errors.Is(err, pyzmq.ErrExited) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
