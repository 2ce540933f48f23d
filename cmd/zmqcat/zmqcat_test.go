package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/proctest"
	"github.com/zmqflow/zmqflow/socket"
)

// The tests run the real binary, built once for the package (with -race when
// the tests have it), as separate processes talking over loopback.

var zmqcatBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zmqcat-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	zmqcatBin = filepath.Join(dir, "zmqcat")
	args := []string{"build", "-o", zmqcatBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building zmqcat: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testTimeout bounds every test: each process is killed by then, and every
// wait for output gives up.
const testTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// bindSocket makes a socket of this package's for zmqcat to talk to, bound to
// a free loopback port; it is closed when the test ends.
func bindSocket(t *testing.T, typ socket.Type) (*socket.Socket, string) {
	t.Helper()
	s, err := socket.New(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ep, err := s.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	return s, ep
}

// proc is a running zmqcat.
type proc struct {
	t      *testing.T
	ctx    context.Context
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    chan string // stdout lines; closed at EOF
	listen chan string // endpoints from -v "listening on" lines
	errc   chan string // stderr lines, for waitStderr
	errMu  sync.Mutex
	errs   []string // stderr lines
	errEOF chan struct{}
	waited bool
	code   int
}

// start runs zmqcat with args. stdin is its input if not nil; otherwise the
// test writes it with write and closeStdin.
func start(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, ctx: ctx, name: "zmqcat " + strings.Join(args[:min(2, len(args))], " "), out: make(chan string, 1000),
		listen: make(chan string, 10), errc: make(chan string, 1000), errEOF: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, zmqcatBin, args...)
	proctest.DieWithTest(p.cmd)
	p.cmd.WaitDelay = 5 * time.Second
	// A -race binary sleeps a second at exit unless told not to.
	p.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	var err error
	if stdin != nil {
		p.cmd.Stdin = stdin
	} else if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out <- sc.Text()
		}
	}()
	go func() {
		defer close(p.errEOF)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			l := sc.Text()
			p.errMu.Lock()
			p.errs = append(p.errs, l)
			p.errMu.Unlock()
			if ep, ok := strings.CutPrefix(l, "zmqcat: listening on "); ok {
				p.listen <- ep
			}
			select {
			case p.errc <- l:
			default: // nobody is waiting for so many
			}
		}
	}()
	t.Cleanup(func() {
		if !p.waited {
			p.cmd.Process.Kill()
			p.wait()
		}
	})
	return p
}

// endpoint is the endpoint the process bound (it must run with -v).
func (p *proc) endpoint() string {
	p.t.Helper()
	select {
	case ep := <-p.listen:
		return ep
	case <-p.errEOF:
		p.t.Fatalf("%s: exited without binding; stderr %q", p.name, p.stderr())
	case <-p.ctx.Done():
		p.t.Fatalf("%s: no endpoint bound in time; stderr %q", p.name, p.stderr())
	}
	return ""
}

// waitStderr waits for a stderr line containing s.
func (p *proc) waitStderr(s string) {
	p.t.Helper()
	for {
		select {
		case l := <-p.errc:
			if strings.Contains(l, s) {
				return
			}
		case <-p.errEOF:
			p.t.Fatalf("%s: exited without saying %q; stderr %q", p.name, s, p.stderr())
		case <-p.ctx.Done():
			p.t.Fatalf("%s: did not say %q in time; stderr %q", p.name, s, p.stderr())
		}
	}
}

// line is the next stdout line.
func (p *proc) line() string {
	p.t.Helper()
	select {
	case l, ok := <-p.out:
		if !ok {
			p.t.Fatalf("%s: stdout ended; stderr %q", p.name, p.stderr())
		}
		return l
	case <-p.ctx.Done():
		p.t.Fatalf("%s: no output line in time; stderr %q", p.name, p.stderr())
	}
	return ""
}

func (p *proc) write(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, s); err != nil {
		p.t.Fatalf("%s: writing stdin: %v", p.name, err)
	}
}

func (p *proc) closeStdin() {
	p.t.Helper()
	if err := p.stdin.Close(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) stderr() []string {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return slices.Clone(p.errs)
}

// wait waits for the process to exit (within the test's timeout) and returns
// its exit code and the stdout lines not read yet.
func (p *proc) wait() (code int, rest []string) {
	for l := range p.out {
		rest = append(rest, l)
	}
	<-p.errEOF
	err := p.cmd.Wait()
	p.waited = true
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		p.t.Errorf("%s: %v", p.name, err)
	}
	return p.cmd.ProcessState.ExitCode(), rest
}

// signalBound is how long a zmqcat may take to exit after a signal before a
// test calls it hung: generous, as a busy machine is slow; a zmqcat that
// lingered (for an hour, in the tests) would take far longer.
const signalBound = 10 * time.Second

// exitWithin is wait, but kills the process and fails the test if it has
// not exited within d.
func (p *proc) exitWithin(d time.Duration) (code int, rest []string) {
	p.t.Helper()
	timer := time.AfterFunc(d, func() { p.cmd.Process.Kill() })
	code, rest = p.wait()
	if !timer.Stop() {
		p.t.Fatalf("%s: still running %v after the signal; stderr %q", p.name, d, p.stderr())
	}
	return code, rest
}

// expectExit waits and checks the exit code and the rest of stdout.
func (p *proc) expectExit(code int, rest ...string) {
	p.t.Helper()
	got, out := p.wait()
	if got != code {
		p.t.Errorf("%s: exit code %d, want %d; stderr %q", p.name, got, code, p.stderr())
	}
	if !reflect.DeepEqual(out, rest) && (len(out) > 0 || len(rest) > 0) {
		p.t.Errorf("%s: stdout %q, want %q", p.name, out, rest)
	}
}

// noStderr checks that a process said nothing on stderr (it ran without -v)
// but that a connect failed: a peer that exits first, as the test lets it,
// leaves its endpoint refusing the redial, which zmqcat reports if it is
// still running 100 ms later.
func (p *proc) noStderr() {
	p.t.Helper()
	for _, l := range p.stderr() {
		if !strings.HasPrefix(l, "zmqcat: connect ") || !strings.HasSuffix(l, " (retrying)") {
			p.t.Errorf("%s: stderr %q, want nothing", p.name, p.stderr())
			return
		}
	}
}

func TestPushPull(t *testing.T) {
	ipc := "ipc://" + t.TempDir() + "/zmqcat.sock"
	for _, c := range []struct {
		name     string
		bindPull bool
		ep       string
	}{
		{"pull-binds-tcp", true, "tcp://127.0.0.1:*"},
		{"push-binds-tcp", false, "tcp://127.0.0.1:*"},
		{"pull-binds-ipc", true, ipc},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			lines := "one\ntwo\nthree\n"
			var pull, push *proc
			if c.bindPull {
				pull = start(t, ctx, nil, "-t", "pull", "-bind", c.ep, "-n", "3", "-v")
				push = start(t, ctx, strings.NewReader(lines), "-t", "PUSH", "-connect", pull.endpoint())
			} else {
				push = start(t, ctx, strings.NewReader(lines), "-t", "push", "-bind", c.ep, "-v")
				pull = start(t, ctx, nil, "-t", "Pull", "-connect", push.endpoint(), "-n", "3")
				pull.noStderr()
			}
			pull.expectExit(0, "one", "two", "three")
			push.expectExit(0)
			if c.bindPull {
				push.noStderr()
			}
		})
	}
}

func TestSendLimit(t *testing.T) {
	ctx := testContext(t)
	pull := start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-v")
	// -n 2 on a send-only type: two lines go, the third is never sent.
	push := start(t, ctx, strings.NewReader("1\n2\n3\n"), "-t", "push", "-connect", pull.endpoint(), "-n", "2")
	push.expectExit(0)
	if a, b := pull.line(), pull.line(); a != "1" || b != "2" {
		t.Errorf("got %q %q", a, b)
	}
	pull.signal(syscall.SIGTERM)
	pull.expectExit(0) // and no third line
}

func TestMultiFrameDelimiter(t *testing.T) {
	ctx := testContext(t)
	lines := []string{"a|b|c", "|x|", "solo", "tab\tinside|frame"}
	pull := start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-n", "4", "-v", "-d", `\|`)
	push := start(t, ctx, strings.NewReader(strings.Join(lines, "\n")), // no final newline
		"-t", "push", "-connect", pull.endpoint(), "-d", "|")
	pull.expectExit(0, lines...)
	push.expectExit(0)

	// A multi-byte delimiter given with escapes.
	pull = start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-n", "1", "-v", "-d", `\x1f:`)
	push = start(t, ctx, strings.NewReader("k\x1f:v\n"), "-t", "push", "-connect", pull.endpoint(), "-d", "\x1f:")
	pull.expectExit(0, "k\x1f:v")
	push.expectExit(0)
}

func TestReqRep(t *testing.T) {
	t.Run("echo", func(t *testing.T) {
		ctx := testContext(t)
		rep := start(t, ctx, nil, "-t", "rep", "-bind", "tcp://127.0.0.1:*", "-n", "2", "-v")
		req := start(t, ctx, strings.NewReader("ping\nhi\tthere\n"), "-t", "req", "-connect", rep.endpoint())
		req.expectExit(0, "ping", "hi\tthere")
		req.noStderr()
		rep.expectExit(0, "ping", "hi\tthere") // REP prints the requests
	})
	t.Run("reply", func(t *testing.T) {
		ctx := testContext(t)
		rep := start(t, ctx, nil, "-t", "REP", "-bind", "tcp://127.0.0.1:*", "-n", "3", "-v", "-d", ",", "-reply", "pong,!")
		req := start(t, ctx, strings.NewReader("a\nb,c\nd\nnever answered\n"),
			"-t", "req", "-connect", rep.endpoint(), "-d", ",", "-n", "3")
		req.expectExit(0, "pong,!", "pong,!", "pong,!")
		rep.expectExit(0, "a", "b,c", "d")
	})
}

func TestPubSub(t *testing.T) {
	ctx := testContext(t)
	pub := start(t, ctx, nil, "-t", "pub", "-bind", "tcp://127.0.0.1:*", "-v")
	sub := start(t, ctx, nil, "-t", "sub", "-connect", pub.endpoint(), "-sub", "a", "-sub", "c")

	// The subscription reaches the publisher some time after the handshake:
	// publish until the subscriber hears something, then the real data.
	got := make(chan string, 1)
	go func() {
		l, ok := <-sub.out
		if ok {
			got <- l
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var first string
	for first == "" {
		pub.write("b\tfiltered\na\tping\n")
		select {
		case first = <-got:
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the subscriber heard nothing; pub stderr %q, sub stderr %q", pub.stderr(), sub.stderr())
		}
	}
	pub.write("b\tfiltered\nc\t1\nabc\t2\n")
	pub.closeStdin()
	pub.expectExit(0)

	var lines []string
	for l := first; l != "abc\t2"; l = sub.line() {
		lines = append(lines, l)
	}
	// SIGTERM: the subscriber closes its socket and exits cleanly.
	sub.signal(syscall.SIGTERM)
	_, rest := sub.wait()
	if code := sub.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("sub exited %d after SIGTERM; stderr %q", code, sub.stderr())
	}
	sub.noStderr()
	lines = append(lines, rest...)
	var data []string
	for _, l := range lines {
		if l != "a\tping" {
			data = append(data, l)
		}
	}
	if !reflect.DeepEqual(data, []string{"c\t1"}) {
		t.Errorf("sub got %q (pings dropped), want the c message before abc", lines)
	}
}

func TestWaitPeers(t *testing.T) {
	ctx := testContext(t)
	// PUSH round-robins over the peers it has: without -wait-peers 2 the first
	// PULL to connect would get both lines and the second none.
	push := start(t, ctx, strings.NewReader("x\ny\n"), "-t", "push", "-bind", "tcp://127.0.0.1:*", "-wait-peers", "2", "-v")
	ep := push.endpoint()
	a := start(t, ctx, nil, "-t", "pull", "-connect", ep, "-n", "1")
	b := start(t, ctx, nil, "-t", "pull", "-connect", ep, "-n", "1")
	got := []string{a.line(), b.line()}
	slices.Sort(got)
	if !reflect.DeepEqual(got, []string{"x", "y"}) {
		t.Errorf("pulls got %q, want one line each", got)
	}
	a.expectExit(0)
	b.expectExit(0)
	push.expectExit(0)
}

func TestRouterDealer(t *testing.T) {
	ctx := testContext(t)
	router := start(t, ctx, nil, "-t", "router", "-bind", "tcp://127.0.0.1:*", "-v")
	dealer := start(t, ctx, nil, "-t", "dealer", "-connect", router.endpoint(), "-id", "alice", "-n", "1")
	dealer.write("hello\tthere\n")
	if l := router.line(); l != "alice\thello\tthere" {
		t.Fatalf("router got %q", l)
	}
	router.write("alice\tworld\n")
	if l := dealer.line(); l != "world" {
		t.Fatalf("dealer got %q", l)
	}
	dealer.expectExit(0) // -n 1 received, with its stdin still open
	dealer.noStderr()
	// stdin EOF ends only the sending of a duplex type: it keeps receiving
	// until a signal.
	router.closeStdin()
	router.signal(os.Interrupt)
	router.expectExit(0)
}

func TestBadArgs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	inUse := "tcp://" + ln.Addr().String()
	for _, c := range []struct {
		args []string
		want string // in the one stderr line
	}{
		{nil, "-t TYPE is required"},
		{[]string{"-t", "nope", "-bind", "tcp://*:*"}, `unknown socket type "nope"`},
		{[]string{"-t", "push"}, "no endpoint"},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1:5555", "-d", ""}, "bad -d"},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1:5555", "-d", `\q`}, `bad -d '\q'`},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1:5555", "-d", "\n"}, "newline"},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1:5555", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1:5555", "-n", "many"}, "-n"},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1:5555", "-sub", "x"}, "-sub is for SUB"},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1:5555", "stray"}, `unexpected argument "stray"`},
		{[]string{"-t", "push", "-connect", "tcp://127.0.0.1"}, "invalid endpoint"},
		{[]string{"-t", "push", "-connect", "udp://127.0.0.1:1"}, "invalid endpoint"},
		{[]string{"-t", "dealer", "-connect", "tcp://127.0.0.1:5555", "-id", strings.Repeat("x", 256)}, "identity"},
		{[]string{"-t", "pull", "-bind", inUse}, "address already in use"},
		{[]string{"-t", "pull", "-bind", "tcp://127.0.0.1:*", "-bind", inUse}, "address already in use"},
		{[]string{"-t", "pull", "-bind", "ipc:///nonexistent-dir/zmqcat.sock"}, "bind"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			ctx := testContext(t)
			p := start(t, ctx, strings.NewReader(""), c.args...)
			code, out := p.wait()
			errs := p.stderr()
			if code == 0 || code == -1 {
				t.Errorf("exit code %d, want a failure", code)
			}
			if len(out) > 0 {
				t.Errorf("stdout %q", out)
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0], "zmqcat: ") || !strings.Contains(errs[0], c.want) {
				t.Errorf("stderr %q, want one line \"zmqcat: ...%s...\"", errs, c.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	ctx := testContext(t)
	p := start(t, ctx, strings.NewReader(""), "-h", "x")
	code, out := p.wait()
	if code != 0 || len(out) == 0 || !strings.HasPrefix(out[0], "usage: zmqcat") {
		t.Errorf("zmqcat -h: exit %d, stdout %q", code, out)
	}
	p.noStderr()
}

// TestLingerExpires: a PUSH whose connected peer never shows up cannot
// deliver; at EOF it waits out -linger and says what it discarded.
func TestLingerExpires(t *testing.T) {
	ctx := testContext(t)
	ep := deadEndpoint(t)
	p := start(t, ctx, strings.NewReader("lost\n"), "-t", "push", "-connect", ep, "-linger", "200ms")
	p.expectExit(1)
	want := "zmqcat: 1 queued message discarded after -linger 200ms: " + ep + " never connected"
	if e := p.stderr(); len(e) == 0 || e[len(e)-1] != want {
		t.Errorf("stderr %q, want it to end with %q", e, want)
	}
}

// TestInterruptLinger: Ctrl-C while a normal exit lingers for a peer that
// never comes ends the wait at once, and says what that discarded.
func TestInterruptLinger(t *testing.T) {
	ep := deadEndpoint(t)
	code, _, errs := signalQueued(t, os.Interrupt, ep, "-t", "push", "-connect", ep, "-linger", "1h")
	want := "zmqcat: 1 queued message discarded: " + ep + " never connected"
	if code != 1 || errs[len(errs)-1] != want {
		t.Errorf("exit %d, stderr %q; want 1 and a last line %q", code, errs, want)
	}
}

// deadEndpoint is a tcp endpoint where nothing listens.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + ln.Addr().String()
	ln.Close()
	return ep
}

// TestPeerGoneBeforeEOF: what was sent went out before the peer left, so
// stdin EOF must not wait for the peer to come back.
func TestPeerGoneBeforeEOF(t *testing.T) {
	ctx := testContext(t)
	pull := start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-n", "1", "-v")
	push := start(t, ctx, nil, "-t", "push", "-connect", pull.endpoint(), "-linger", "1h")
	push.write("only\n")
	pull.expectExit(0, "only")
	push.closeStdin()
	push.expectExit(0)
	push.noStderr()
}

// TestWithSocketPackage has zmqcat talk to sockets of our package in the test
// process, which checks the framing exactly.
func TestWithSocketPackage(t *testing.T) {
	t.Run("zmqcat-push", func(t *testing.T) {
		ctx := testContext(t)
		pull, ep := bindSocket(t, socket.Pull)
		push := start(t, ctx, strings.NewReader("a,b,c\nsolo\n,\n\n"), "-t", "push", "-connect", ep, "-d", ",")
		want := []socket.Msg{
			socket.NewMsgString("a", "b", "c"),
			socket.NewMsgString("solo"),
			socket.NewMsgString("", ""),
			socket.NewMsgString(""), // an empty line is one empty frame
		}
		for _, w := range want {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatalf("recv: %v; zmqcat stderr %q", err, push.stderr())
			}
			if !reflect.DeepEqual(m.Strings(), w.Strings()) {
				t.Errorf("got %v, want %v", m, w)
			}
		}
		push.expectExit(0)
		push.noStderr()
	})
	t.Run("zmqcat-pull", func(t *testing.T) {
		ctx := testContext(t)
		push, ep := bindSocket(t, socket.Push)
		pull := start(t, ctx, nil, "-t", "pull", "-connect", ep, "-n", "2", "-d", " | ")
		// PUSH with no peer blocks until zmqcat is connected: nothing is lost.
		for _, m := range []socket.Msg{socket.NewMsgString("k", "v", ""), socket.NewMsgString("one")} {
			if err := push.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		pull.expectExit(0, "k | v | ", "one")
		pull.noStderr()
	})
}

// TestLibzmq has zmqcat talk to libzmq through pyzmq, when it is installed
// (test.sh installs it and sets ZMQFLOW_REQUIRE_INTEROP=1).
func TestLibzmq(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import zmq").Run(); err != nil {
		if os.Getenv("ZMQFLOW_REQUIRE_INTEROP") != "" {
			t.Fatalf("pyzmq is required: %v", err)
		}
		t.Skip("no pyzmq:", err)
	}
	ctx := testContext(t)
	// A libzmq REP that answers each request with "re:" before its frames.
	script := `
import sys, zmq
s = zmq.Context().socket(zmq.REP)
s.setsockopt(zmq.RCVTIMEO, 20000)
s.setsockopt(zmq.LINGER, 5000)
print(s.bind_to_random_port("tcp://127.0.0.1"), flush=True)
for _ in range(2):
    s.send_multipart([b"re:"] + s.recv_multipart())
s.close()
`
	py := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script)
	py.WaitDelay = 5 * time.Second
	stdout, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var pyErr strings.Builder
	py.Stderr = &pyErr
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	defer py.Wait()
	defer py.Process.Kill()
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("python: %v; %s", err, pyErr.String())
	}
	req := start(t, ctx, strings.NewReader("a\tb\nc\n"), "-t", "req", "-connect", "tcp://127.0.0.1:"+strings.TrimSpace(port))
	req.expectExit(0, "re:\ta\tb", "re:\tc")
	req.noStderr()
	if err := py.Wait(); err != nil {
		t.Errorf("python: %v; %s", err, pyErr.String())
	}
}

// -wait-peers on a PUB waits for the subscription, not just the connection:
// the very first line reaches the subscriber, with no -wait guess.
func TestPubWaitPeersFirstLine(t *testing.T) {
	ctx := testContext(t)
	pub := start(t, ctx, strings.NewReader("one\ntwo\n"), "-t", "pub", "-bind", "tcp://127.0.0.1:*", "-wait-peers", "1", "-v")
	ep := pub.endpoint()
	sub, err := socket.New(socket.Sub)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe(nil); err != nil {
		t.Fatal(err)
	}
	m, err := sub.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m[0]) != "one" {
		t.Fatalf("first message %q, want the first line %q", m[0], "one")
	}
	pub.expectExit(0)
}
