package majordomo_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/broker/majordomo"
	"github.com/zmqflow/zmqflow/socket"
)

// Requests past WithQueueBytes are dropped and counted; those kept go to
// the service's worker when it comes, in order, and leave the count as
// they go.
func TestQueueBytesThroughBroker(t *testing.T) {
	ctx := testCtx(t)
	const size, budget = 1000, 6500 // five requests fit with their costs (some 180 bytes each), not six
	b := newBroker(t, inproc(), steadyBeat, majordomo.WithQueueBytes(budget), majordomo.WithTimeout(wait))
	cl := newSocket(t, socket.Dealer)
	if err := cl.Connect(b.Endpoint()); err != nil {
		t.Fatal(err)
	}
	const sent = 20
	for i := range sent {
		body := strconv.Itoa(i) + strings.Repeat(".", size)
		if err := cl.Send(ctx, socket.NewMsgString("", majordomo.ClientHeader, "svc", body)); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, ctx, b, "every request taken or dropped", func(s majordomo.Stats) bool {
		return s.Requests == sent && uint64(s.Queued)+s.OverBudget == sent
	})
	s := b.Stats()
	if s.Queued != 5 || s.QueuedBytes > budget {
		t.Fatalf("stats %+v: want 5 requests queued within %d bytes", s, budget)
	}
	w := newRawWorker(t, b.Endpoint())
	w.command(ctx, 0x01, "svc")
	for i := range 5 {
		cmd, m := w.next(ctx)
		if cmd != 0x02 || len(m) != 3 || !strings.HasPrefix(string(m[2]), strconv.Itoa(i)+".") {
			t.Fatalf("worker's request %d: %#x %.20q", i, cmd, m)
		}
		w.command(ctx, 0x03, string(m[0]), "", "ok")
	}
	waitStats(t, ctx, b, "the queue emptied", func(s majordomo.Stats) bool {
		return s.Replies == 5 && s.Queued == 0 && s.QueuedBytes == 0
	})
}
