package pirate_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/internal/pyzmq"
)

// The interop tests run libzmq peers (pyzmq) in each PPP role around ours:
// testdata/ppworker.py and testdata/ppqueue.py follow the guide's ppworker
// and ppqueue; a plain REQ socket is the guide's simplest client. The
// guide's lbbroker peers are in lb_interop_test.go.

// Heartbeats of the interop tests, on both sides: every 100 ms, and a peer
// is buried after 10 s of silence (see steadyBeat: a Python or Go peer of a
// busy machine may stall for a second or more).
const (
	pyInterval = 100 * time.Millisecond
	pyLiveness = 100
)

var pyBeat = pirate.WithHeartbeat(pyInterval, pyLiveness)

func pyArgs() []string {
	return []string{fmt.Sprint(pyInterval.Milliseconds()), fmt.Sprint(pyLiveness)}
}

// libzmq workers (the guide's ppworker, which takes a request only as
// exactly three frames: address, delimiter, body) serve our load balancer
// and client: every request is done, once.
func TestInteropPythonWorkers(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", pyBeat)
	var ws []*pyzmq.Peer
	for range 2 {
		w := pyzmq.Start(t, "testdata/ppworker.py", append([]string{b.Backend()}, pyArgs()...)...)
		w.LineWith(t, ctx, "STARTED")
		ws = append(ws, w)
	}
	waitLB(t, ctx, b, "2 python workers", func(s pirate.Stats) bool { return s.Workers == 2 })
	c := oneShot(t, b.Frontend())
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprint("req-", i)
			r, err := c.Request(ctx, []byte(want))
			if err != nil || len(r) != 1 || string(r[0]) != want {
				t.Errorf("Request %d = %q, %v", i, r, err)
			}
		}()
	}
	wg.Wait()
	// Heartbeats flow both ways: each worker hears six of the broker's
	// without reconnecting, and the broker keeps both.
	for _, w := range ws {
		for beats := 0; beats < 6; {
			switch l := w.LineWith(t, ctx, ""); {
			case l == "BEAT":
				beats++
			case l == "RECONNECT":
				t.Fatal("python worker lost the broker's heartbeats")
			case strings.HasPrefix(l, "INVALID"):
				t.Fatalf("python worker rejected a message: %s", l)
			}
		}
	}
	waitLB(t, ctx, b, "every reply counted", func(s pirate.Stats) bool { return s.Replies == 10 })
	if s := b.Stats(); s.Dead != 0 || s.Workers != 2 || s.Requests != 10 || s.Requeued != 0 || s.LateReplies != 0 {
		t.Fatalf("stats %+v: python workers should stay alive on heartbeats and do each request once", s)
	}
}

// A libzmq REQ client talks to our load balancer and workers.
func TestInteropREQClient(t *testing.T) {
	ctx := testCtx(t)
	b := newLB(t, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", pyBeat)
	newWorker(t, b.Backend(), echo("ok"), pyBeat, fastReconnect)
	waitLB(t, ctx, b, "worker", func(s pirate.Stats) bool { return s.Workers == 1 })
	req := pyzmq.Socket(t, "REQ", "--connect", b.Frontend())
	for i := range 3 {
		if err := req.SendString(fmt.Sprint("hello-", i)); err != nil {
			t.Fatal(err)
		}
		r, err := req.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(r) != 2 || string(r[0]) != "ok" || string(r[1]) != fmt.Sprint("hello-", i) {
			t.Fatalf("REQ got %q", r)
		}
	}
}

// Our workers and client against a libzmq broker (the guide's ppqueue),
// with a libzmq REQ client beside ours.
func TestInteropPythonQueue(t *testing.T) {
	ctx := testCtx(t)
	q := pyzmq.Start(t, "testdata/ppqueue.py", append([]string{"tcp://127.0.0.1:*", "tcp://127.0.0.1:*"}, pyArgs()...)...)
	f := strings.Fields(q.LineWith(t, ctx, "READY"))
	front, back := f[1], f[2]
	var ws []*pirate.Worker
	for i := range 2 {
		ws = append(ws, newWorker(t, back, echo(fmt.Sprint("w", i)), pyBeat, fastReconnect))
	}
	q.LineWith(t, ctx, "WORKERS 2")
	// No resends: ppqueue would hand a resend to a worker again, and the
	// test counts what the workers handled.
	c := oneShot(t, front)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprint("req-", i)
			r, err := c.Request(ctx, []byte(want))
			if err != nil || len(r) != 2 || string(r[1]) != want {
				t.Errorf("Request %d = %q, %v", i, r, err)
			}
		}()
	}
	wg.Wait()
	req := pyzmq.Socket(t, "REQ", "--connect", front)
	if err := req.SendString("from libzmq"); err != nil {
		t.Fatal(err)
	}
	if r, err := req.Recv(ctx); err != nil || len(r) != 2 || string(r[1]) != "from libzmq" {
		t.Fatalf("REQ got %q, %v", r, err)
	}
	var handled uint64
	for _, w := range ws {
		s := w.Stats()
		handled += s.Handled
		if s.Reconnects != 0 || s.Malformed != 0 {
			t.Errorf("worker stats %+v: ppqueue's heartbeats should keep it connected", s)
		}
	}
	if handled != 11 {
		t.Fatalf("workers handled %d requests, want 11", handled)
	}
}
