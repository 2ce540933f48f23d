package examples_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/pyzmq"
)

// The guide's peers, as the broker packages' interop tests run them.
const (
	pyPPWorker = "../broker/pirate/testdata/ppworker.py"     // BACKEND INTERVAL_MS LIVENESS
	pyPPQueue  = "../broker/pirate/testdata/ppqueue.py"      // FRONTEND BACKEND INTERVAL_MS LIVENESS
	pyMDWorker = "../broker/majordomo/testdata/mdpworker.py" // ENDPOINT SERVICE INTERVAL_MS LIVENESS
)

// lbbroker's clients each get OK from one of its REQ workers, over each
// transport, and it exits.
func TestLBBroker(t *testing.T) {
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			args := []string{"-clients", "10", "-workers", "3", "-transport", tr}
			switch tr {
			case "ipc":
				dir := t.TempDir()
				args = append(args, "-frontend", "ipc://"+dir+"/fe", "-backend", "ipc://"+dir+"/be")
			case "tcp":
				args = append(args, "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*")
			}
			p := start(t, ctx, "lbbroker", args...)
			if code := p.exit(ctx); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			p.awaitCount(ctx, `(?m)^Client: OK$`, 10)
			p.awaitCount(ctx, `(?m)^Worker: HELLO$`, 10)
			p.await(ctx, `I: 10 requests, 10 replies`)
		})
	}
}

// ppqueue serves ppworker (ours and the guide's) and lpclient, whose every
// request is echoed back.
func TestPPQueueWithWorkers(t *testing.T) {
	ctx := testContext(t)
	q := start(t, ctx, "ppqueue", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*", "-stats", "20ms")
	m := q.await(ctx, `I: clients on (\S+), workers on (\S+)`)
	front, back := m[1], m[2]
	start(t, ctx, "ppworker", "-connect", back, "-simulate=false", "-work", "1ms")
	py := pyzmq.Start(t, pyPPWorker, back, "1000", "3")
	q.await(ctx, `I: 2 workers \(2 idle\)`) // both READY before the first request
	c := start(t, ctx, "lpclient", "-connect", front, "-n", "30")
	if code := c.exit(ctx); code != 0 {
		t.Fatalf("lpclient exit code %d", code)
	}
	c.awaitCount(ctx, `I: server replied OK \(\d+\)`, 30)
	awaitLine(t, ctx, py, `^REPLY `) // the guide's worker took its share
}

// ppqueue's counters read as English ("1 workers" was printed for one).
func TestPPQueueCounts(t *testing.T) {
	ctx := testContext(t)
	q := start(t, ctx, "ppqueue", "-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*", "-stats", "20ms")
	back := q.await(ctx, `I: clients on \S+, workers on (\S+)`)[1]
	start(t, ctx, "ppworker", "-connect", back, "-simulate=false", "-work", "1ms")
	q.await(ctx, `(?m)^I: 1 worker \(1 idle\), 0 requests, 0 replies, 0 requeued, 0 dead workers$`)
}

// lpclient with no server says so at each retry, as the guide's does, and
// gives the server up after its tries.
func TestLPClientRetries(t *testing.T) {
	ctx := testContext(t)
	c := start(t, ctx, "lpclient", "-connect", freeTCP(t), "-timeout", "50ms", "-tries", "3", "-n", "1")
	if code := c.exit(ctx); code != 1 {
		t.Errorf("lpclient exit code %d, want 1", code)
	}
	out := c.out.String()
	if n := strings.Count(out, "W: no response from server, retrying...\nI: reconnecting to server...\n"); n != 2 ||
		!strings.HasSuffix(out, "lpclient: server seems to be offline, abandoning\n") {
		t.Errorf("output %q: want 2 retries said, then the server given up", out)
	}
}

// ppworker serves lpclient through the guide's own queue.
func TestPPWorkerWithGuideQueue(t *testing.T) {
	ctx := testContext(t)
	q := pyzmq.Start(t, pyPPQueue, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", "1000", "3")
	m := awaitLine(t, ctx, q, `^READY (\S+) (\S+)`)
	front, back := m[1], m[2]
	w := start(t, ctx, "ppworker", "-connect", back, "-simulate=false", "-work", "1ms")
	c := start(t, ctx, "lpclient", "-connect", front, "-n", "10")
	if code := c.exit(ctx); code != 0 {
		t.Fatalf("lpclient exit code %d", code)
	}
	c.awaitCount(ctx, `I: server replied OK \(\d+\)`, 10)
	w.awaitCount(ctx, `I: normal reply`, 10)
}

// mdclient's requests are answered by mdworker (ours and the guide's)
// through mdbroker; MMI says which services exist.
func TestMajordomo(t *testing.T) {
	ctx := testContext(t)
	b := start(t, ctx, "mdbroker", "-bind", "tcp://127.0.0.1:*", "-stats", "20ms")
	ep := b.await(ctx, `Majordomo broker is active at (\S+)`)[1]
	start(t, ctx, "mdworker", "-connect", ep, "-q")
	py := pyzmq.Start(t, pyMDWorker, ep, "echo", "2500", "3")
	awaitLine(t, ctx, py, `^STARTED`)
	c := start(t, ctx, "mdclient", "-connect", ep, "-n", "200", "-discover")
	if code := c.exit(ctx); code != 0 {
		t.Fatalf("mdclient exit code %d", code)
	}
	c.await(ctx, `service "echo": found`)
	c.await(ctx, `200 requests/replies processed`)
	awaitLine(t, ctx, py, `^REQUEST `)
	none := start(t, ctx, "mdclient", "-connect", ep, "-discover", "-service", "nope")
	// Not found is exit status 1, as grep's for no match: a script can test it.
	if code := none.exit(ctx); code != 1 {
		t.Fatalf("mdclient -discover of a service not there: exit code %d, want 1", code)
	}
	none.await(ctx, `service "nope": not found`)
	// Its counters, as a line to read (they were Go's dump of the Stats
	// struct, every few seconds whether or not anything changed).
	b.await(ctx, `(?m)^I: services 1, workers 2 \(idle 2\), in flight 0, queued 0; requests 202, replies 200, mmi 2$`)
}

// A broker without workers lends every request of its clients to a peer,
// and each is answered once.
func TestPeering(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	start(t, ctx, "peering", "-name", "B", "-peers", "A", "-dir", dir, "-clients", "0", "-workers", "3", "-work", "10ms")
	a := start(t, ctx, "peering", "-name", "A", "-peers", "B", "-dir", dir, "-clients", "3", "-workers", "0",
		"-tasks", "4", "-work", "10ms", "-exit")
	if code := a.exit(ctx); code != 0 {
		t.Fatalf("peering A exit code %d", code)
	}
	a.awaitCount(ctx, `I: A client \d task \d served by B`, 12)
	a.await(ctx, `A: 12 requests, 12 replies; \d+ lent to peers, 0 served for peers; 1 peer with \d+ idle workers?\n`)
	a.await(ctx, `every local request answered`)
}

// mdbroker holds a burst of requests that wait for a busy worker, as the
// guide's asynchronous client (mdclient2) sends them: each is answered
// once. Its service queue was the library's 1,000, and the guide's client,
// which sends 100,000 before it reads a reply, got a few thousand.
func TestMajordomoAsyncBurst(t *testing.T) {
	const n = 3000
	ctx := testContext(t)
	b := start(t, ctx, "mdbroker", "-bind", "tcp://127.0.0.1:*", "-stats", "20ms")
	ep := b.await(ctx, `Majordomo broker is active at (\S+)`)[1]
	py := pyzmq.Start(t, "testdata/mdpburst.py", ep, strconv.Itoa(n))
	awaitLine(t, ctx, py, `^SENT `)
	// The worker holds the first request: the others are all queued, or
	// some were dropped.
	m := b.await(ctx, fmt.Sprintf(`queued (%d);|overflow ([1-9]\d*)`, n-1))
	if m[2] != "" {
		t.Fatalf("the broker dropped requests waiting for a worker (Overflow %s, of %d sent)", m[2], n)
	}
	if err := py.Writeln("go"); err != nil {
		t.Fatal(err)
	}
	if got := awaitLine(t, ctx, py, `^GOT .*`)[0]; got != fmt.Sprintf("GOT %d DUP 0", n) {
		t.Fatalf("the client got %q, want every one of its %d requests answered once", got, n)
	}
}

// lbbroker -clients 0 is the broker and its workers, serving the clients
// of other processes (here a libzmq REQ, as the guide's client_task) until
// interrupted. It used to stop its workers and exit at once.
func TestLBBrokerServesOtherClients(t *testing.T) {
	ctx := testContext(t)
	b := start(t, ctx, "lbbroker", "-clients", "0", "-workers", "2", "-transport", "tcp",
		"-frontend", "tcp://127.0.0.1:*", "-backend", "tcp://127.0.0.1:*")
	front := b.await(ctx, `I: clients on (\S+), workers on \S+`)[1]
	const client = `
import sys, zmq
s = zmq.Context().socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 20000)
s.connect(sys.argv[1])
for i in range(5):
    s.send(b"HELLO")
    print("REPLY", s.recv().decode(), flush=True)
print("DONE", flush=True)
`
	py := pyzmq.Start(t, client, front)
	for range 5 {
		if l := awaitLine(t, ctx, py, `^REPLY .*`)[0]; l != "REPLY OK" {
			t.Fatalf("client got %q", l)
		}
	}
	awaitLine(t, ctx, py, `^DONE$`)
	b.awaitCount(ctx, `(?m)^Worker: HELLO$`, 5)
	if err := b.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := b.exit(ctx); code != 0 {
		t.Fatalf("exit code %d after Ctrl-C", code)
	}
	b.await(ctx, `I: 5 requests, 5 replies`)
}
