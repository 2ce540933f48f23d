package majordomo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// The Majordomo interop tests run libzmq peers written from spec 7/MDP and
// spec 8/MMI: testdata/mdpworker.py (DEALER worker), mdpclient.py (REQ
// client with the spec's reconnect-and-resend), and mdpbroker.py (a minimal
// broker, one ROUTER), with pyInterval heartbeats on both sides.

// pyRequest sends one request line to mdpclient.py and returns its answer.
func pyRequest(t *testing.T, ctx context.Context, c *pyzmq.Peer, line string) string {
	t.Helper()
	if err := c.Writeln(line); err != nil {
		t.Fatal(err)
	}
	for {
		l, err := c.Line(ctx)
		if err != nil {
			t.Fatalf("python client, %q: %v", line, err)
		}
		if strings.HasPrefix(l, "REPLY ") || l == "TIMEOUT" {
			return l
		}
	}
}

// libzmq workers and a libzmq client against our majordomo.
func TestInteropPythonPeers(t *testing.T) {
	ctx := testCtx(t)
	// The broker's Close below must get its DISCONNECTs out, which a stall
	// of a heartbeat interval (its default linger) would lose.
	b := newBroker(t, "tcp://127.0.0.1:*", pyBeat, majordomo.WithSocketOptions(socket.WithLinger(wait)))
	var ws []*pyzmq.Peer
	for range 2 {
		w := pyzmq.Start(t, "testdata/mdpworker.py", append([]string{b.Endpoint(), "echo"}, pyArgs()...)...)
		w.LineWith(t, ctx, "STARTED")
		ws = append(ws, w)
	}
	newWorker(t, b.Endpoint(), "upper", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}, pyBeat)
	waitStats(t, ctx, b, "3 workers", func(s majordomo.Stats) bool { return s.Workers == 3 })

	pc := pyzmq.Start(t, "testdata/mdpclient.py", b.Endpoint(), fmt.Sprint(resendAfter.Milliseconds()), "2")
	pc.LineWith(t, ctx, "STARTED")
	for line, want := range map[string]string{
		"echo hello world":  "REPLY echo py hello world",
		"upper go":          "REPLY upper GO",
		"mmi.service echo":  "REPLY mmi.service 200",
		"mmi.service upper": "REPLY mmi.service 200",
		"mmi.service nope":  "REPLY mmi.service 404",
		"mmi.other echo":    "REPLY mmi.other 501",
	} {
		if got := pyRequest(t, ctx, pc, line); got != want {
			t.Fatalf("python client %q: %q, want %q", line, got, want)
		}
	}

	// Our client, to the python workers, in turn.
	c := oneShot(t, b.Endpoint())
	for i := range 4 {
		want := fmt.Sprint("req-", i)
		r, err := c.Request(ctx, "echo", []byte(want))
		if err != nil || len(r) != 2 || string(r[0]) != "py" || string(r[1]) != want {
			t.Fatalf("Request %d = %q, %v", i, r, err)
		}
	}
	for _, w := range ws {
		// Each got requests (least recently used first), and heartbeats
		// flow both ways: it hears ours without reconnecting, and we keep it.
		w.LineWith(t, ctx, "REQUEST")
		for beats := 0; beats < 6; {
			switch l := w.LineWith(t, ctx, ""); {
			case l == "BEAT":
				beats++
			case l == "RECONNECT", l == "DISCONNECT":
				t.Fatalf("python worker: %s", l)
			}
		}
	}
	if s := b.Stats(); s.Dead != 0 || s.Workers != 3 || s.Malformed != 0 {
		t.Fatalf("stats %+v: python workers should stay registered", s)
	}
	// Closing the broker sends them DISCONNECT.
	b.Close()
	for _, w := range ws {
		w.LineWith(t, ctx, "DISCONNECT")
	}
}

// Our workers and client against a libzmq broker, through its crash and
// restart.
func TestInteropPythonBroker(t *testing.T) {
	ctx := testCtx(t)
	q := pyzmq.Start(t, "testdata/mdpbroker.py", append([]string{"tcp://127.0.0.1:*"}, pyArgs()...)...)
	ep := strings.Fields(q.LineWith(t, ctx, "READY"))[1]
	echoW := newWorker(t, ep, "echo", echo("go"), pyBeat, fastReconnect)
	newWorker(t, ep, "upper", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}, pyBeat, fastReconnect)
	q.LineWith(t, ctx, "WORKERS 2")

	// Resends every 300 ms, for as long as the test waits: they carry the
	// client over the broker's crash.
	c := newClient(t, ep, majordomo.WithTimeout(300*time.Millisecond), majordomo.WithRetries(int(wait/(300*time.Millisecond))))
	if r, err := c.Request(ctx, "echo", []byte("x"), []byte("y")); err != nil || len(r) != 3 || string(r[0]) != "go" || string(r[2]) != "y" {
		t.Fatalf("echo = %q, %v", r, err)
	}
	if r, err := c.Request(ctx, "upper", []byte("mdp")); err != nil || len(r) != 1 || string(r[0]) != "MDP" {
		t.Fatalf("upper = %q, %v", r, err)
	}
	for svc, want := range map[string]bool{"echo": true, "nope": false} {
		if ok, err := c.ServiceExists(ctx, svc); err != nil || ok != want {
			t.Fatalf("ServiceExists(%q) = %v, %v", svc, ok, err)
		}
	}
	if r, err := c.Request(ctx, "mmi.x", []byte("echo")); err != nil || len(r) != 1 || string(r[0]) != "501" {
		t.Fatalf("mmi.x = %q, %v", r, err)
	}

	// The broker crashes; a new one takes its endpoint. Our workers'
	// heartbeats reach a broker that does not know them: it answers
	// DISCONNECT (or they miss its heartbeats), and they register again.
	if err := q.Writeln("crash"); err != nil {
		t.Fatal(err)
	}
	q2 := pyzmq.Start(t, "testdata/mdpbroker.py", append([]string{ep}, pyArgs()...)...)
	q2.LineWith(t, ctx, "READY")
	q2.LineWith(t, ctx, "WORKERS 2")
	if r, err := c.Request(ctx, "echo", []byte("again")); err != nil || len(r) != 2 || string(r[1]) != "again" {
		t.Fatalf("after restart: %q, %v", r, err)
	}
	if s := echoW.Stats(); s.Reconnects < 1 || s.Malformed != 0 {
		t.Fatalf("worker stats %+v", s)
	}
}

// A worker with the guide's own heartbeat (2.5 s, liveness 3) stays
// registered with a broker of default options while idle for longer than
// the broker lets a silent worker live, and then serves a request: its
// heartbeats keep it, and ours keep it from reconnecting.
func TestInteropGuideWorkerIdle(t *testing.T) {
	t.Parallel() // it idles for DefaultLiveness+1 broker heartbeats, about 11 s
	ctx := testCtx(t)
	b := newBroker(t, "tcp://127.0.0.1:*")
	w := pyzmq.Start(t, "testdata/mdpworker.py", b.Endpoint(), "echo",
		fmt.Sprint(guideMDPInterval.Milliseconds()), fmt.Sprint(guideMDPLiveness))
	w.LineWith(t, ctx, "STARTED")
	waitStats(t, ctx, b, "guide worker", func(s majordomo.Stats) bool { return s.Workers == 1 })
	// The broker beats every DefaultHeartbeatInterval, at the ticks at
	// which it buries silent workers: the last of these beats comes at a
	// tick more than DefaultLiveness intervals after the READY, which
	// would have buried the worker had its heartbeats not kept it.
	for beats := 0; beats < majordomo.DefaultLiveness+1; {
		switch l := w.LineWith(t, ctx, ""); {
		case l == "BEAT":
			beats++
		case l == "RECONNECT", l == "DISCONNECT":
			t.Fatalf("guide worker: %s after %d heartbeats; broker stats %+v", l, beats, b.Stats())
		}
	}
	if s := b.Stats(); s.Dead != 0 || s.Workers != 1 || s.Disconnects != 0 {
		t.Fatalf("stats %+v: the idle guide worker should have stayed registered", s)
	}
	c := oneShot(t, b.Endpoint())
	if r, err := c.Request(ctx, "echo", []byte("still here")); err != nil || len(r) != 2 || string(r[0]) != "py" || string(r[1]) != "still here" {
		t.Fatalf("Request = %q, %v", r, err)
	}
}
