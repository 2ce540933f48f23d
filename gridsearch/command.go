package gridsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// WaitDelay is how long, on systems other than Linux, a command's output
// is still read after the command has exited: a child it left running that
// holds its stdout or stderr must not hold the point up for long (it would
// for ever, a daemon say), while the output still on its way from the
// command is taken whole. Then the point is reported as the command
// exited, marked Record.Stray. On Linux the command's exit is seen as it
// happens and its output is then all in hand: a point waits for such a
// child half a second (strayGrace), and its process group is killed,
// as at a timeout.
const WaitDelay = 2 * time.Second

// waitDelay is WaitDelay, a variable for the tests.
var waitDelay = WaitDelay

// capped keeps the first max bytes written to it, or with tail the last.
type capped struct {
	buf  []byte
	max  int
	tail bool
	cut  bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if c.tail {
		c.buf = append(c.buf, p...)
		if len(c.buf) > c.max {
			c.buf = append(c.buf[:0], c.buf[len(c.buf)-c.max:]...)
			c.cut = true
		}
		return n, nil
	}
	if room := c.max - len(c.buf); room < len(p) {
		p, c.cut = p[:max(room, 0)], true
	}
	c.buf = append(c.buf, p...)
	return n, nil
}

// runCommand runs argv without a shell, stdin from /dev/null, and returns
// its exit code, stdout (the head) and stderr (the tail), and its stdout as
// the result when that is JSON. ctx's end kills the process and, where the
// platform allows, every process it started (see spawn).
func runCommand(ctx context.Context, argv []string) outcome {
	stdout := &capped{max: MaxStdout}
	stderr := &capped{max: MaxStderr, tail: true}
	st, held, err := spawn(ctx, argv, stdout, stderr)
	o := outcome{Stdout: string(stdout.buf), Stderr: string(stderr.buf), StdoutCut: stdout.cut, StderrCut: stderr.cut, Stray: held}
	switch {
	case st != nil:
		o.Exit = st.ExitCode()
		if err != nil && o.Exit == 0 {
			o.Error = err.Error()
		} else if o.Exit < 0 {
			o.Error = st.String() // "signal: killed"
		}
	case err != nil:
		o.Exit, o.Error = -1, err.Error()
	}
	if o.Exit == 0 && o.Error == "" && !stdout.cut {
		if r := bytes.TrimSpace(stdout.buf); len(r) > 0 && json.Valid(r) {
			o.Result = json.RawMessage(r)
		}
	}
	return o
}
