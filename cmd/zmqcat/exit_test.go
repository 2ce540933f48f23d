package main

import (
	"context"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// How zmqcat ends: signals, -timeout, what it reports about connects that fail
// and about messages it discards, and its exit status for each.

// TestSignalDiscards: SIGTERM while a REQ waits for the reply to a request
// still queued for an endpoint where nothing listens. zmqcat does not linger
// (-linger 1h here): it exits 1 with one line saying what it discarded.
func TestSignalDiscards(t *testing.T) {
	ep := deadEndpoint(t)
	code, out, errs := signalQueued(t, syscall.SIGTERM, ep, "-t", "req", "-connect", ep, "-linger", "1h")
	want := "zmqcat: 1 queued message discarded: " + ep + " never connected"
	if code != 1 || len(out) > 0 || len(errs) != 2 || errs[1] != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, and the connect failure then %q", code, out, errs, want)
	}
}

// signalQueued runs zmqcat with args and a line on stdin, waits until it has
// read the line and reported that the connect to ep failed, signals it and
// returns how it ended. zmqcat reads stdin from a file whose offset it shares
// with the test, so the test sees the read. The send follows the read at
// once, but not in step with it: a signal that beats it ends a zmqcat with
// nothing queued, which exits 0 with nothing more to say. Then it tries
// again.
func signalQueued(t *testing.T, sig os.Signal, ep string, args ...string) (code int, out, errs []string) {
	t.Helper()
	const line = "hello\n"
	for attempt := 1; ; attempt++ {
		ctx := testContext(t)
		stdin := requestFile(t, line)
		p := start(t, ctx, stdin, args...)
		connectLine := "zmqcat: connect " + ep + ": "
		p.waitStderr(connectLine) // running, past signal setup
		waitRead(t, ctx, stdin, len(line))
		p.signal(sig)
		code, out = p.exitWithin(signalBound)
		errs = p.stderr()
		if len(errs) == 0 || !strings.HasPrefix(errs[0], connectLine) {
			t.Fatalf("stderr %q, want the connect failure first", errs)
		}
		if code == 0 && len(errs) == 1 && attempt < 3 {
			t.Logf("attempt %d: the signal came before the line was queued; again", attempt)
			continue
		}
		return code, out, errs
	}
}

// requestFile is a file holding s, open for reading at its start.
func requestFile(t *testing.T, s string) *os.File {
	t.Helper()
	name := t.TempDir() + "/stdin"
	if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// waitRead waits until the process that shares f's offset has read n bytes.
func waitRead(t *testing.T, ctx context.Context, f *os.File, n int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			t.Fatal(err)
		}
		if off >= int64(n) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("zmqcat read %d bytes of stdin, want %d", off, n)
		case <-tick.C:
		}
	}
}

// TestSignalReceiving: SIGINT while a PULL waits for its next message ends
// it with 0: nothing was queued, so nothing was lost.
func TestSignalReceiving(t *testing.T) {
	ctx := testContext(t)
	push, ep := bindSocket(t, socket.Push)
	pull := start(t, ctx, nil, "-t", "pull", "-connect", ep, "-linger", "1h")
	if err := push.Send(ctx, socket.NewMsgString("one")); err != nil {
		t.Fatal(err)
	}
	if l := pull.line(); l != "one" {
		t.Fatalf("got %q", l)
	}
	pull.signal(os.Interrupt)
	if code, rest := pull.exitWithin(signalBound); code != 0 || len(rest) > 0 {
		t.Errorf("exit %d, stdout %q; want 0 and nothing", code, rest)
	}
	pull.noStderr()
}

// TestTimeout: -timeout ends a receive, or a REQ's wait for its reply, that
// gets nothing, with 3 and one line; what came before is printed.
func TestTimeout(t *testing.T) {
	t.Run("pull", func(t *testing.T) {
		ctx := testContext(t)
		push, ep := bindSocket(t, socket.Push)
		// The timeout runs from the start of each receive, not of zmqcat:
		// generous, so that the first message comes within it.
		pull := start(t, ctx, nil, "-t", "pull", "-connect", ep, "-timeout", "2s")
		if err := push.Send(ctx, socket.NewMsgString("first")); err != nil {
			t.Fatal(err)
		}
		pull.expectExit(3, "first")
		if e := pull.stderr(); !reflect.DeepEqual(e, []string{"zmqcat: nothing received within 2s"}) {
			t.Errorf("stderr %q", e)
		}
	})
	t.Run("pull-no-sender", func(t *testing.T) {
		ctx := testContext(t)
		pull := start(t, ctx, nil, "-t", "pull", "-bind", "tcp://127.0.0.1:*", "-timeout", "200ms")
		pull.expectExit(3)
		if e := pull.stderr(); !reflect.DeepEqual(e, []string{"zmqcat: nothing received within 200ms"}) {
			t.Errorf("stderr %q", e)
		}
	})
	t.Run("req-no-reply", func(t *testing.T) {
		// A REP that takes the request and never answers: the request went
		// out, so nothing is discarded.
		ctx := testContext(t)
		rep, ep := bindSocket(t, socket.Rep)
		req := start(t, ctx, nil, "-t", "req", "-connect", ep, "-timeout", "300ms", "-linger", "1h")
		req.write("anyone?\n")
		if m, err := rep.Recv(ctx); err != nil || m.Strings()[0] != "anyone?" {
			t.Fatalf("rep got %v, %v", m, err)
		}
		req.expectExit(3)
		if e := req.stderr(); !reflect.DeepEqual(e, []string{"zmqcat: no reply within 300ms"}) {
			t.Errorf("stderr %q", e)
		}
	})
	t.Run("req-nothing-listens", func(t *testing.T) {
		// The request never went out: a REQ that gives up on the reply
		// discards it at once (no linger), and says so in the same line.
		ctx := testContext(t)
		ep := deadEndpoint(t)
		req := start(t, ctx, strings.NewReader("hello\n"), "-t", "req", "-connect", ep, "-timeout", "300ms", "-linger", "1h")
		code, _ := req.exitWithin(signalBound)
		want := "zmqcat: no reply within 300ms; 1 queued message discarded: " + ep + " never connected"
		if e := req.stderr(); code != 3 || len(e) == 0 || e[len(e)-1] != want {
			t.Errorf("exit %d, stderr %q; want 3 and a last line %q", code, e, want)
		}
	})
}

// TestConnectFailureCause: a connect that fails says why, without -v, once
// however often it is retried (every 100 ms).
func TestConnectFailureCause(t *testing.T) {
	ctx := testContext(t)
	const ep = "tcp://nohost.invalid:5555" // RFC 2606: never resolves
	p := start(t, ctx, nil, "-t", "pull", "-connect", ep)
	p.waitStderr("zmqcat: connect " + ep + ": ")
	sleep(ctx, time.Second) // time for retries, which must stay quiet
	p.signal(syscall.SIGTERM)
	if code, _ := p.exitWithin(signalBound); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	e := p.stderr()
	if len(e) != 1 || !strings.Contains(e[0], "lookup nohost.invalid") || !strings.HasSuffix(e[0], " (retrying)") {
		t.Errorf("stderr %q, want one line naming the failed lookup", e)
	}
}

// TestUsageErrors: bad -heartbeat and -timeout values are usage errors: 2,
// with one line.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-heartbeat", "0"}, `bad -heartbeat "0": the interval must be more than 0`},
		{[]string{"-heartbeat", ""}, `bad -heartbeat ""`},
		{[]string{"-heartbeat", "1s,soon"}, `bad -heartbeat "1s,soon": "soon" is not a duration`},
		{[]string{"-heartbeat", "1s,-1s"}, "the timeout must not be negative"},
		{[]string{"-heartbeat", "1s,5s,50ms"}, "the TTL must be 0 or from 100ms"},
		{[]string{"-heartbeat", "1s,5s,2h"}, "the TTL must be 0 or from 100ms"},
		{[]string{"-heartbeat", "1s,2s,3s,4s"}, "want IVL[,TIMEOUT[,TTL]]"},
		{[]string{"-timeout", "-1s"}, "bad -timeout -1s"},
		{[]string{"-timeout", "soon"}, "-timeout"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			ctx := testContext(t)
			p := start(t, ctx, strings.NewReader(""), append([]string{"-t", "pull", "-bind", "tcp://127.0.0.1:*"}, c.args...)...)
			p.expectExit(2)
			if e := p.stderr(); len(e) != 1 || !strings.HasPrefix(e[0], "zmqcat: ") || !strings.Contains(e[0], c.want) {
				t.Errorf("stderr %q, want one line \"zmqcat: ...%s...\"", e, c.want)
			}
		})
	}
	ctx := testContext(t)
	p := start(t, ctx, strings.NewReader(""), "-t", "push", "-bind", "tcp://127.0.0.1:*", "-timeout", "1s")
	p.expectExit(2)
	if e := p.stderr(); len(e) != 1 || !strings.Contains(e[0], "-timeout bounds receiving, which PUSH does not do") {
		t.Errorf("push -timeout: stderr %q", e)
	}
}
