package patterns_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// buildTestproc builds the tests' helper command into a temporary directory.
func buildTestproc(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testproc")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/zmqflow/zmqflow/patterns/internal/testproc").CombinedOutput()
	if err != nil {
		t.Fatalf("go build testproc: %v\n%s", err, out)
	}
	return bin
}

// proc is a running testproc: its stdout, line by line, and its end.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	done   chan error // receives cmd.Wait's result, once
	stderr bytes.Buffer
	exited bool
}

// startProc starts bin with args; Cleanup kills it if the test has not
// ended it.
func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), lines: make(chan string, 100), done: make(chan error, 1)}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- p.cmd.Wait() // after the last read, as Wait requires
	}()
	t.Cleanup(func() {
		if !p.exited {
			p.cmd.Process.Kill()
			p.wait(t)
		}
	})
	return p
}

// expect waits for the process to print line.
func (p *proc) expect(t *testing.T, line string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%v ended before printing %q; stderr:\n%s", p.cmd.Args, line, p.stderr.String())
			}
			if l == line {
				return
			}
		case <-timeout:
			t.Fatalf("%v did not print %q within %v", p.cmd.Args, line, wait)
		}
	}
}

// wait waits for the process to end and returns how it ended.
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.exited = true
		return err
	case <-time.After(wait):
		p.cmd.Process.Kill()
		t.Fatalf("%v did not end within %v", p.cmd.Args, wait)
		return nil
	}
}

// stop asks the process to end (SIGTERM) and fails the test unless it
// exits 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("%v: %v; stderr:\n%s", p.cmd.Args, err, p.stderr.String())
	}
}

// kill ends the process at once, as a crash would.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	p.wait(t)
}
