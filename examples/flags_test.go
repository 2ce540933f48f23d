package examples_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/proctest"
)

// TestBadCounts runs each program with a count (or duration, or choice)
// it cannot work with, or with an argument that is not a flag: each must
// refuse it before doing anything, with one line on stderr that names the
// flag, and exit status 2, as for any bad command line. Some of these
// panicked (makechan with a negative size), stalled or ran doing nothing;
// an argument that is not a flag was ignored (squares 100 squared 10000
// numbers), and lbbroker's -transport and squares' -role worker without
// endpoints exited with status 1, as if a bind had failed.
func TestBadCounts(t *testing.T) {
	type badCase struct {
		program string
		args    []string
		flag    string // named in the message
	}
	var stray []badCase
	for _, p := range []string{"lbbroker", "lpclient", "lvcache", "mdbroker", "mdclient", "mdworker",
		"mspoller", "peering", "ppqueue", "ppworker", "rrbroker", "rrclient", "rrworker", "squares",
		"tasksink", "taskvent", "taskwork"} {
		stray = append(stray, badCase{p, []string{"100"}, `unexpected argument "100"`})
	}
	for _, c := range append(stray, []badCase{
		{"lbbroker", []string{"-transport", "udp"}, "-transport"},
		{"squares", []string{"-role", "worker", "-id", "1"}, "-tasks"},
		{"squares", []string{"-role", "manager"}, "-transport inproc"},
		{"lbbroker", []string{"-clients", "-1"}, "-clients"},
		{"lbbroker", []string{"-workers", "-1", "-clients", "1"}, "-workers"},
		{"peering", []string{"-clients", "1"}, "-name"},
		{"peering", []string{"-name", "NEG", "-clients", "-1", "-exit"}, "-clients"},
		{"peering", []string{"-name", "NEG", "-workers", "-1", "-clients", "0", "-exit"}, "-workers"},
		{"peering", []string{"-name", "NEG", "-tasks", "-1", "-exit"}, "-tasks"},
		{"peering", []string{"-name", "NEG", "-tasks", "0", "-exit"}, "-tasks"},
		{"peering", []string{"-name", "NEG", "-work", "-1s", "-workers", "1", "-clients", "1", "-exit"}, "-work"},
		{"lpclient", []string{"-n", "-1"}, "-n"},
		{"lpclient", []string{"-tries", "0"}, "-tries"},
		{"lpclient", []string{"-timeout", "0", "-n", "1"}, "-timeout"},
		{"mdbroker", []string{"-queue", "0"}, "-queue"},
		{"mdclient", []string{"-n", "-1"}, "-n"},
		{"mdclient", []string{"-n", "0"}, "-n"},
		{"rrclient", []string{"-n", "0"}, "-n"},
		{"mspoller", []string{"-tasks", "-1"}, "-tasks"},
		{"mspoller", []string{"-updates", "-1"}, "-updates"},
		{"ppqueue", []string{"-liveness", "0"}, "-liveness"},
		{"ppqueue", []string{"-heartbeat", "0s"}, "-heartbeat"},
		{"ppworker", []string{"-liveness", "0"}, "-liveness"},
		{"ppworker", []string{"-heartbeat", "-1s"}, "-heartbeat"},
		{"ppworker", []string{"-work", "-1s"}, "-work"},
		// squares names the flag that failed, with its value, not every limit.
		{"squares", []string{"-n", "0"}, "-n 0: "},
		{"squares", []string{"-workers", "-1"}, "-workers -1: "},
		{"squares", []string{"-workers", "0"}, "-workers 0: "},
		{"squares", []string{"-workers", "2147483648"}, "-workers 2147483648: "},
		{"squares", []string{"-role", "worker", "-id", "-1"}, "-id -1: "},
		{"squares", []string{"-resend", "0s"}, "-resend 0s: "},
		{"squares", []string{"-work", "-1s"}, "-work -1s: "},
		{"taskvent", []string{"-tasks", "0"}, "-tasks"},
		{"tasksink", []string{"-tasks", "0"}, "-tasks"},
		{"taskwork", []string{"-slowdown", "0"}, "-slowdown"},
	}...) {
		name := c.program + " " + strings.Join(c.args, " ")
		t.Run(name, func(t *testing.T) {
			// Far more than a refusal takes; the old code stalled or ran on.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(programs, c.program), c.args...)
			proctest.DieWithTest(cmd)
			cmd.Dir = t.TempDir() // where a program that wrongly ran would put its ipc endpoints
			args := c.args
			if c.program == "peering" {
				args = append([]string{"-dir", cmd.Dir}, args...)
			}
			cmd.Args = append([]string{cmd.Path}, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.WaitDelay = 5 * time.Second
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if ctx.Err() != nil {
				t.Fatalf("still running after 20s (err %v); stderr:\n%s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], c.program+": ") || !strings.Contains(lines[0], c.flag) {
				t.Errorf("exit status %d, stderr:\n%s\nwant 2 and one line %q... naming %s", code, stderr.String(), c.program+": ", c.flag)
			}
			if stdout.Len() > 0 {
				t.Errorf("wrote on stdout, as if it started:\n%s", stdout.String())
			}
		})
	}
}

// A broker that cannot bind says so in one line that names the endpoint
// once, with the program's name once (the peering package's errors start
// with its name, which is the program's too).
func TestPeeringBindError(t *testing.T) {
	ctx := testContext(t)
	dir := filepath.Join(t.TempDir(), "missing")
	p := start(t, ctx, "peering", "-name", "A", "-dir", dir, "-clients", "0", "-workers", "0")
	code := p.exit(ctx)
	out := p.out.String()
	want := `peering: broker "A": ROUTER: socket: bind ipc://` + dir + "/A-localfe.ipc: no such file or directory\n"
	if code != 1 || out != want {
		t.Errorf("exit %d, output %q; want 1 and %q", code, out, want)
	}
}
