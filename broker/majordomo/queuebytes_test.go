package majordomo

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/internal/board"
)

// heldBytes is the bytes of the request bodies the broker's queues hold.
func heldBytes(l *brokerState) (n, reqs int) {
	for _, s := range l.services {
		for _, r := range s.requests {
			reqs++
			for _, f := range r.body {
				n += len(f)
			}
		}
	}
	return n, reqs
}

// Clients sending large requests to many services that have no worker
// (each queue under WithServiceQueue, the services under WithMaxServices)
// must not make the broker hold more than DefaultQueueBytes of them: the
// rest are dropped and counted. The requests share one body here, so that
// the test holds a megabyte where the broker, reading them from a socket,
// would hold a gigabyte.
func TestQueuesBoundInBytes(t *testing.T) {
	cfg, err := build(forBroker, "NewBroker", nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &brokerState{cfg: &cfg, board: &board.Board[Stats]{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1<<20)
	const sent = 1000 // a gigabyte, ten requests a service
	for i := range sent {
		svc := "svc-" + strconv.Itoa(i%100)
		l.handle([][]byte{[]byte("client"), nil, []byte(ClientHeader), []byte(svc), body})
	}
	l.publish()
	held, reqs := heldBytes(l)
	if held > DefaultQueueBytes {
		t.Fatalf("%d requests of 1 MiB: the queues hold %d of them, %d MiB, over DefaultQueueBytes (%d MiB)",
			sent, reqs, held>>20, DefaultQueueBytes>>20)
	}
	if reqs == 0 || l.st.Queued != reqs || uint64(reqs)+l.st.OverBudget != sent || l.st.Overflow != 0 {
		t.Fatalf("%d requests held; stats %+v", reqs, l.st)
	}
	if l.st.QueuedBytes < held || l.st.QueuedBytes > DefaultQueueBytes {
		t.Fatalf("QueuedBytes %d, the bodies %d, the bound %d", l.st.QueuedBytes, held, DefaultQueueBytes)
	}
	// Expired, they leave the count: the next ones fit again.
	l.heartbeat(time.Now().Add(2 * cfg.Timeout))
	l.publish()
	if l.st.Queued != 0 || l.st.QueuedBytes != 0 || len(l.services) != 0 {
		t.Fatalf("after expiry: stats %+v, services %d", l.st, len(l.services))
	}
	l.handle([][]byte{[]byte("client"), nil, []byte(ClientHeader), []byte("svc"), body})
	if _, reqs := heldBytes(l); reqs != 1 {
		t.Fatalf("after expiry a request is not queued: %d held, stats %+v", reqs, l.st)
	}
}

// A request larger than the bound alone is dropped, and the service it
// named is not kept for it.
func TestQueueBytesOption(t *testing.T) {
	if _, err := build(forBroker, "NewBroker", []Option{WithQueueBytes(0)}); err == nil {
		t.Fatal("WithQueueBytes(0) taken")
	}
	cfg, err := build(forBroker, "NewBroker", []Option{WithQueueBytes(1000)})
	if err != nil {
		t.Fatal(err)
	}
	l := &brokerState{cfg: &cfg, board: &board.Board[Stats]{}}
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.handle([][]byte{[]byte("c"), nil, []byte(ClientHeader), []byte("big"), make([]byte, 1000)})
	l.handle([][]byte{[]byte("c"), nil, []byte(ClientHeader), []byte("small"), []byte("hi")})
	l.publish()
	if l.st.OverBudget != 1 || l.st.Queued != 1 || l.services["big"] != nil || l.services["small"] == nil {
		t.Fatalf("stats %+v, services %v", l.st, l.services)
	}
	if want := queuedSize([]byte("c"), [][]byte{[]byte("hi")}); l.st.QueuedBytes != want {
		t.Fatalf("QueuedBytes %d, want %d", l.st.QueuedBytes, want)
	}
}
