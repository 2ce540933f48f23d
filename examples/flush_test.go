package examples_test

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
	"github.com/zmqflow/zmqflow/telemetry/collect"
)

// Every example program not covered by TestPipelineProfiled, run with
// ZMQFLOW_PROFILE toward a real collector, flushes its profile at exit:
// the collector then holds each process's totals as they were at its end.
// The clients' runs are shorter than the export interval (a second), so
// that what they did reaches the collector in the batch their exit sends,
// or not at all; the servers are stopped with SIGTERM once their clients
// are done.
func TestExamplesFlushProfile(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := filepath.Join(t.TempDir(), "prof.db")
	zprof := start(t, ctx, "zprof", "collect", "-bind", loopback, "-db", db, "-http", "127.0.0.1:0")
	env := []string{telemetry.EnvProfile + "=" + zprof.await(ctx, `collecting on (\S+),`)[1]}
	run := func(program string, args ...string) *proc { return startEnv(t, ctx, env, program, args...) }
	const n = 5 // requests of each client
	var clients, servers []*proc

	// The load balancer, its clients and workers in one process.
	clients = append(clients, run("lbbroker", "-transport", "inproc", "-clients", fmt.Sprint(n), "-workers", "2"))

	// The request-reply broker, a worker and a client.
	rb := run("rrbroker", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*")
	m := rb.await(ctx, `I: clients on (\S+), workers on (\S+)`)
	servers = append(servers, rb, run("rrworker", "-connect", m[2]))
	clients = append(clients, run("rrclient", "-connect", m[1], "-n", fmt.Sprint(n)))

	// Majordomo.
	mb := run("mdbroker", "-bind", "tcp://127.0.0.1:*", "-stats", "0")
	ep := mb.await(ctx, `Majordomo broker is active at (\S+)`)[1]
	servers = append(servers, mb, run("mdworker", "-connect", ep, "-q"))
	clients = append(clients, run("mdclient", "-connect", ep, "-n", fmt.Sprint(n)))

	// Paranoid Pirate, and the Lazy Pirate client.
	q := run("ppqueue", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*", "-stats", "20ms")
	m = q.await(ctx, `I: clients on (\S+), workers on (\S+)`)
	servers = append(servers, q, run("ppworker", "-connect", m[2], "-simulate=false", "-work", "1ms"))
	q.await(ctx, `I: 1 worker \(1 idle\)`)
	clients = append(clients, run("lpclient", "-connect", m[1], "-n", fmt.Sprint(n)))

	// Two peered brokers.
	dir := t.TempDir()
	servers = append(servers, run("peering", "-name", "B", "-peers", "A", "-dir", dir, "-clients", "0", "-workers", "1", "-work", "1ms"))
	clients = append(clients, run("peering", "-name", "A", "-peers", "B", "-dir", dir, "-clients", "1", "-workers", "0",
		"-tasks", fmt.Sprint(n), "-work", "1ms", "-exit"))

	// The poller, fed tasks by this test; no weather comes.
	vent, ventEP := testSocket(t, socket.Push, "tcp://127.0.0.1:*")
	_, weatherEP := testSocket(t, socket.Pub, "tcp://127.0.0.1:*")
	clients = append(clients, run("mspoller", "-vent", ventEP, "-weather", weatherEP, "-tasks", fmt.Sprint(n), "-q"))
	for i := range n {
		if err := vent.Send(ctx, socket.Msg{[]byte(fmt.Sprint("task ", i))}); err != nil {
			t.Fatal(err)
		}
	}

	// The last value cache, fed topics by this test once it subscribed.
	lvc := run("lvcache", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*", "-v")
	front := lvc.await(ctx, `I: publishers on (\S+), subscribers on (\S+)`)[1]
	pub, _ := testSocket(t, socket.Pub, "")
	if err := pub.Connect(front); err != nil {
		t.Fatal(err)
	}
	for pub.Stats().Subscribers == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("lvcache never subscribed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i := range n {
		if err := pub.Send(ctx, socket.Msg{[]byte(fmt.Sprintf("%03d", i)), []byte("Save Roger")}); err != nil {
			t.Fatal(err)
		}
	}
	lvc.await(ctx, fmt.Sprintf(`(?m)^I: new topic %03d$`, n-1))
	servers = append(servers, lvc)

	for _, c := range clients {
		if code := c.exit(ctx); code != 0 {
			t.Fatalf("%s: exit code %d", c.name, code)
		}
	}
	for _, s := range servers {
		s.cmd.Process.Signal(syscall.SIGTERM)
		if code := s.exit(ctx); code != 0 {
			t.Fatalf("%s: exit code %d", s.name, code)
		}
	}

	// What each program's sockets moved, by its own account; the servers'
	// heartbeats (Majordomo, Paranoid Pirate, peering) add to theirs.
	want := map[string]float64{
		"lbbroker REQ out": 2*n + 2, // the clients' requests, the workers' replies and READYs
		"rrclient REQ out": n, "rrclient REQ in": n,
		"rrworker REP in": n, "rrworker REP out": n,
		"rrbroker ROUTER in": n, "rrbroker DEALER out": n,
		"mdclient DEALER out": n, "mdclient DEALER in": n,
		"lpclient REQ out": n, "lpclient REQ in": n,
		"mspoller PULL in": n,
		"lvcache SUB in":   n, "lvcache XPUB out": n,
	}
	atLeast := map[string]float64{
		"mdbroker ROUTER in": 2*n + 1, "mdworker DEALER in": n, // and the worker's READY
		"ppqueue ROUTER in": 2*n + 1, "ppworker DEALER in": n,
		"peering ROUTER in": 2 * n, "peering DEALER in": n, // A's client's, and B's side of them
	}
	var got map[string]float64
	look := func() bool {
		r, err := collect.ReadStore(ctx, db)
		if err != nil {
			return false // not created yet
		}
		defer r.Close()
		got = socketTotals(t, ctx, r)
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		for k, v := range atLeast {
			if got[k] < v {
				return false
			}
		}
		return true
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !look() {
		select {
		case <-ctx.Done():
			t.Fatalf("stored totals %v; want %v and at least %v", got, want, atLeast)
		case <-tick.C:
		}
	}
	zprof.cmd.Process.Signal(syscall.SIGTERM)
	if code := zprof.exit(ctx); code != 0 {
		t.Fatalf("zprof collect: exit code %d", code)
	}
}

// testSocket is a socket of the test's, bound to ep unless it is empty
// (the endpoint bound is returned), closed when the test ends.
func testSocket(t *testing.T, typ socket.Type, ep string) (*socket.Socket, string) {
	t.Helper()
	s, err := socket.New(typ, socket.WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if ep != "" {
		if ep, err = s.Bind(ep); err != nil {
			t.Fatal(err)
		}
	}
	return s, ep
}
