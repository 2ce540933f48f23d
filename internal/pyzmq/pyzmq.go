// Package pyzmq runs libzmq peers for interop tests: Python scripts using
// pyzmq, as subprocesses whose lifetime is bounded by the test.
//
// Start runs any script and hands its standard output back line by line;
// Socket runs the bundled driver (testdata/peer.py), one libzmq socket that
// the test commands over standard input; Proxy runs testdata/proxy.py, a
// libzmq XSUB/XPUB proxy.
//
// The interpreter must be able to import zmq. On Debian that is the system
// /usr/bin/python3 with the python3-zmq package. Without one, tests skip;
// with ZMQFLOW_REQUIRE_INTEROP=1 in the environment they fail instead.
package pyzmq

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/proctest"
)

// RequireEnv names the environment variable that turns a missing interpreter
// from a skip into a failure (set it to 1 in CI).
const RequireEnv = "ZMQFLOW_REQUIRE_INTEROP"

// Lifetime bounds how long a peer process may run; it is killed then, or at
// the end of its test, whichever comes first.
const Lifetime = 60 * time.Second

// stopGrace is how long a peer may take to exit after its input closes
// before it is killed.
const stopGrace = 2 * time.Second

var (
	findOnce  sync.Once
	found     string
	notFound  string
	candidate = []string{"/usr/bin/python3", "python3", "python"}
)

// Python returns an interpreter that can import zmq, trying /usr/bin/python3
// first (the first python3 on PATH may be another one without pyzmq). If
// there is none it skips the test, or fails it when ZMQFLOW_REQUIRE_INTEROP=1.
func Python(t testing.TB) string {
	t.Helper()
	findOnce.Do(func() {
		var tried []string
		for _, c := range candidate {
			path, err := exec.LookPath(c)
			if err != nil {
				tried = append(tried, c+": not found")
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := exec.CommandContext(ctx, path, "-c", "import zmq; print(zmq.zmq_version())").CombinedOutput()
			cancel()
			if err == nil {
				found = path
				return
			}
			tried = append(tried, fmt.Sprintf("%s: cannot import zmq (%v: %s)", path, err, lastLine(out)))
		}
		notFound = "no Python interpreter with pyzmq (install python3-zmq): " + strings.Join(tried, "; ")
	})
	if found == "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but %s", RequireEnv, notFound)
		} else {
			t.Skip("skipping libzmq interop test: " + notFound)
		}
	}
	return found
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// Peer is a running Python process. Its standard output is read line by
// line into an unbounded queue, so the process never blocks on a test that
// is not reading. A Peer is not safe for concurrent use.
type Peer struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	lines  []string
	eof    bool
	notify chan struct{} // a line arrived or the output ended
	exited chan struct{} // closed once the process has been waited for
	err    error         // the process's exit status, once exited
	stderr lockedBuffer
	frozen bool

	driver // the peer.py protocol, for peers made by Socket
}

// Start runs a Python script with args: script is a file path if such a file
// exists, else the program text itself (run with -c). The process ends when
// its test ends (its standard input is closed, then it is killed if it has
// not exited within a couple of seconds) or after Lifetime, whichever comes
// first. Its standard error is logged if the test fails.
func Start(t testing.TB, script string, args ...string) *Peer {
	t.Helper()
	py := Python(t)
	name := script
	var argv []string
	if fi, err := os.Stat(script); err == nil && fi.Mode().IsRegular() {
		argv = append([]string{"-u", script}, args...)
	} else {
		name = "inline script"
		if i := strings.IndexByte(script, '\n'); i > 0 {
			name = "inline script " + strconvQuote(script[:i])
		}
		argv = append([]string{"-u", "-c", script}, args...)
	}
	return start(t, py, name, argv)
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func start(t testing.TB, py, name string, argv []string) *Peer {
	t.Helper()
	lifetime := Lifetime
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			lifetime = min(lifetime, time.Until(dl))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), lifetime)
	cmd := exec.CommandContext(ctx, py, argv...)
	proctest.DieWithTest(cmd)
	cmd.WaitDelay = stopGrace
	p := &Peer{t: t, name: name, cmd: cmd, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatalf("pyzmq: %s: %v", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("pyzmq: %s: %v", name, err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("pyzmq: start %s: %v", name, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		p.Thaw() // a frozen process reads no end of input
		p.stdin.Close()
		timer := time.NewTimer(stopGrace)
		select {
		case <-p.exited:
		case <-timer.C:
			t.Logf("pyzmq: %s did not exit %v after its input closed: killing it", name, stopGrace)
		}
		timer.Stop()
		cancel()
		<-p.exited
		if t.Failed() {
			if s := p.Stderr(); s != "" {
				t.Logf("pyzmq: %s standard error:\n%s", name, s)
			}
		}
	})
	return p
}

// Freeze stops the process with SIGSTOP, as a hung or partitioned peer: its
// connections stay open and it answers nothing. Thaw (or the end of the
// test) lets it go on.
func (p *Peer) Freeze() error {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pyzmq: freeze %s: %w", p.name, err)
	}
	p.frozen = true
	return nil
}

// Thaw lets a frozen process go on (SIGCONT).
func (p *Peer) Thaw() error {
	if !p.frozen {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("pyzmq: thaw %s: %w", p.name, err)
	}
	p.frozen = false
	return nil
}

// read queues the lines of the process's output, then waits for the process.
func (p *Peer) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		p.mu.Unlock()
		p.wake()
	}
	io.Copy(io.Discard, stdout) // a line too long: keep the process unblocked
	err := p.cmd.Wait()
	p.mu.Lock()
	p.eof, p.err = true, err
	p.mu.Unlock()
	close(p.exited)
	p.wake()
}

func (p *Peer) wake() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// ErrExited is returned by Line once the process has ended and every line it
// wrote has been read.
var ErrExited = errors.New("pyzmq: peer exited")

// Line returns the next line the process wrote, without its newline,
// waiting for it until ctx ends.
func (p *Peer) Line(ctx context.Context) (string, error) {
	for {
		p.mu.Lock()
		if len(p.lines) > 0 {
			l := p.lines[0]
			p.lines = p.lines[1:]
			p.mu.Unlock()
			return l, nil
		}
		eof, err := p.eof, p.err
		p.mu.Unlock()
		if eof {
			return "", fmt.Errorf("%w: %s (%v); standard error: %s", ErrExited, p.name, err, lastLines(p.Stderr(), 5))
		}
		select {
		case <-p.notify:
		case <-ctx.Done():
			return "", fmt.Errorf("pyzmq: %s: waiting for a line: %w", p.name, ctx.Err())
		}
	}
}

// LineWith reads the process's lines until one starts with prefix and
// returns it; t fails if none comes before ctx ends or the process exits.
func (p *Peer) LineWith(t testing.TB, ctx context.Context, prefix string) string {
	t.Helper()
	for {
		l, err := p.Line(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// Writeln writes one line to the process's standard input.
func (p *Peer) Writeln(line string) error {
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		return fmt.Errorf("pyzmq: %s: write: %w", p.name, err)
	}
	return nil
}

// CloseInput closes the process's standard input.
func (p *Peer) CloseInput() error { return p.stdin.Close() }

// Stderr returns what the process wrote to its standard error so far.
func (p *Peer) Stderr() string { return p.stderr.String() }

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
