// Package proctest runs a program for a test as a real process and hands
// the test its output line by line: the worker processes the broker tests
// kill and freeze.
package proctest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"testing"
)

// Proc is a running process whose standard output lines the test reads
// with Line; its standard error goes to the test binary's. It is killed, if
// still running, when the test ends.
type Proc struct {
	Cmd   *exec.Cmd
	lines chan string
}

// Start runs bin with args until ctx ends or the test does.
func Start(t testing.TB, ctx context.Context, bin string, args ...string) *Proc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	DieWithTest(cmd)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, lines: make(chan string, 100)}
	stop, read := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(read)
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			case <-stop: // lines nobody will read: let the reader end
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		cmd.Process.Kill()
		<-read // the pipe must be read to its end before Wait closes it
		cmd.Wait()
	})
	return p
}

// Line returns the process's next output line, failing the test if the
// process ended first or ctx ended.
func (p *Proc) Line(t testing.TB, ctx context.Context) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatal("the process ended")
		}
		return l
	case <-ctx.Done():
		t.Fatal("waiting for the process: ", ctx.Err())
	}
	return ""
}

// Lines is the process's output lines, closed when its output ends; Line
// reads from it too.
func (p *Proc) Lines() <-chan string { return p.lines }
