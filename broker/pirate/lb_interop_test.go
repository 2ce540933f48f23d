package pirate_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/internal/pyzmq"
)

// The guide's lbbroker peers, REQ workers (testdata/lbworker.py) and REQ
// clients (testdata/lbclient.py), through our load balancer, with our
// Client beside them. The REQ workers send no heartbeats and are not
// buried for it: a silent PPP worker that registered after them is.
func TestInteropLBBrokerPeers(t *testing.T) {
	ctx := testCtx(t)
	// quickBeat: only the silent worker is to be buried, and is.
	b := newLB(t, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", quickBeat)
	const nWorkers = 3
	for i := range nWorkers {
		w := pyzmq.Start(t, "testdata/lbworker.py", b.Backend(), fmt.Sprint(i))
		w.LineWith(t, ctx, "STARTED")
	}
	waitLB(t, ctx, b, "the REQ workers", func(s pirate.Stats) bool { return s.Workers == nWorkers })
	newRawWorker(t, ctx, b.Backend())
	waitLB(t, ctx, b, "the silent PPP worker buried", func(s pirate.Stats) bool { return s.Dead == 1 })
	if s := b.Stats(); s.Workers != nWorkers || s.Malformed != 0 {
		t.Fatalf("stats %+v: the REQ workers should be registered", s)
	}

	const perClient = 5
	var clients []*pyzmq.Peer
	for _, name := range []string{"a", "b"} {
		c := pyzmq.Start(t, "testdata/lbclient.py", b.Frontend(), name, fmt.Sprint(perClient))
		c.LineWith(t, ctx, "STARTED")
		clients = append(clients, c)
	}
	c := oneShot(t, b.Frontend())
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprint("req-", i)
			r, err := c.Request(ctx, []byte(want))
			if err != nil || len(r) != 1 || string(r[0]) != "OK "+want {
				t.Errorf("Request %d = %q, %v", i, r, err)
			}
		}()
	}
	for k, name := range []string{"a", "b"} {
		for i := range perClient {
			want := fmt.Sprintf("REPLY OK HELLO-%s-%d", name, i)
			if l := clients[k].LineWith(t, ctx, ""); l != want {
				t.Fatalf("REQ client %s said %q, want %q", name, l, want)
			}
		}
		if l := clients[k].LineWith(t, ctx, ""); l != "DONE" {
			t.Fatalf("REQ client %s said %q, want DONE", name, l)
		}
	}
	wg.Wait()
	// Each request done once: none given back, none answered twice.
	const n = 10 + 2*perClient
	waitLB(t, ctx, b, "every reply counted", func(s pirate.Stats) bool { return s.Replies == n })
	if s := b.Stats(); s.Requests != n || s.Requeued != 0 || s.LateReplies != 0 || s.Malformed != 0 ||
		s.Dead != 1 || s.Workers != nWorkers || s.Idle != nWorkers {
		t.Fatalf("stats %+v", s)
	}
	if s := c.Stats(); s.Replies != 10 || s.LateReplies != 0 {
		t.Fatalf("client stats %+v", s)
	}
}
