package gridsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// waitDelay is how long a command's output is still read after the command
// has exited: a child it left running that holds its stdout or stderr must
// not hold the worker up for long. (A variable for the tests.)
var waitDelay = 2 * time.Second

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
	st, err := spawn(ctx, argv, stdout, stderr)
	o := outcome{Stdout: string(stdout.buf), Stderr: string(stderr.buf), StdoutCut: stdout.cut, StderrCut: stderr.cut}
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
