package majordomo

// FuzzMDPBroker feeds arbitrary messages, as the broker's ROUTER gets them
// (a routing id, then what its peer sent), and clock ticks to a Broker's
// behaviour, whose ROUTER is bound nowhere: what it sends goes nowhere, as
// to peers that left. Clients and workers are whoever the messages say.
// Whatever comes, nothing panics, and after each message the bounds hold:
// the queues hold at most WithQueueBytes bytes, counted exactly
// (Stats.QueuedBytes), at most WithServiceQueue requests a service, and
// clients have named at most WithMaxServices services without workers; a
// request is on at most one worker, and Stats says what the state holds.
//
//	go test -run '^$' -fuzz FuzzMDPBroker -fuzztime 60s ./broker/majordomo
//
// The seed corpus is in testdata/fuzz/FuzzMDPBroker; each input is messages
// as fuzzcheck.Messages reads them, a frame separator and a message
// separator first ("|\nC||MDPC01|echo|hi" is one message); a message of
// the one frame "TICK" is a clock tick 600 ms after the last.

import (
	"context"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
	"github.com/zmqflow/zmqflow/socket"
)

// The bounds of the fuzzed broker: small, so that inputs reach them.
const (
	fuzzQueueBytes   = 2048
	fuzzServiceQueue = 3
	fuzzMaxServices  = 4
)

func FuzzMDPBroker(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sock, err := socket.New(socket.Router, socket.WithLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		cfg, err := build(forBroker, "NewBroker", []Option{WithQueueBytes(fuzzQueueBytes),
			WithServiceQueue(fuzzServiceQueue), WithMaxServices(fuzzMaxServices), WithTimeout(time.Second),
			WithHeartbeat(time.Second, 2)})
		if err != nil {
			t.Fatal(err)
		}
		l := &brokerState{cfg: &cfg, sock: sock, board: &board.Board[Stats]{}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := l.Start(ctx); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, m := range fuzzcheck.Messages(data) {
			switch {
			case len(m) == 1 && string(m[0]) == "TICK":
				now = now.Add(600 * time.Millisecond)
				l.heartbeat(now)
			case len(m) >= 2: // a ROUTER's message: a routing id and a frame at least
				l.handle(m)
			default:
				continue
			}
			l.publish()
			checkBrokerState(t, l)
		}
		if err := l.Stop(); err != nil {
			t.Fatal(err)
		}
		if l.queued != 0 || len(l.services) != 0 {
			t.Fatalf("after Stop: %d bytes queued, %d services", l.queued, len(l.services))
		}
	})
}

// checkBrokerState checks the bounds and the counts of the broker's state.
func checkBrokerState(t *testing.T, l *brokerState) {
	t.Helper()
	queued, bytes, clientOnly := 0, 0, 0
	for name, s := range l.services {
		if s.name != name {
			t.Fatalf("service %q filed under %q", s.name, name)
		}
		if len(s.requests) > fuzzServiceQueue {
			t.Fatalf("service %q holds %d requests, over %d", name, len(s.requests), fuzzServiceQueue)
		}
		if s.workers == 0 {
			clientOnly++
			if len(s.requests) == 0 {
				t.Fatalf("service %q kept with neither workers nor requests", name)
			}
		}
		if len(s.requests) > 0 && len(s.waiting) > 0 {
			t.Fatalf("service %q has requests waiting and idle workers", name)
		}
		for _, r := range s.requests {
			if r.size != queuedSize(r.client, r.body) {
				t.Fatalf("request of %q counted %d bytes, costs %d", name, r.size, queuedSize(r.client, r.body))
			}
			queued++
			bytes += r.size
		}
	}
	if bytes != l.queued || bytes > fuzzQueueBytes {
		t.Fatalf("the queues hold %d bytes, count %d, bound %d", bytes, l.queued, fuzzQueueBytes)
	}
	if clientOnly > fuzzMaxServices {
		t.Fatalf("%d services without workers, over %d", clientOnly, fuzzMaxServices)
	}
	held := map[*mdpReq]bool{}
	for id, w := range l.workers {
		if w.id != id || l.services[w.svc.name] != w.svc {
			t.Fatalf("worker %q of service %q is not its service's", id, w.svc.name)
		}
		if w.req != nil {
			if held[w.req] {
				t.Fatalf("a request on two workers")
			}
			held[w.req] = true
		}
	}
	if st := l.st; st.Queued != queued || st.QueuedBytes != bytes || st.InFlight != len(held) || st.Workers != len(l.workers) {
		t.Fatalf("stats %+v; the state holds %d requests of %d bytes, %d on workers, %d workers", st, queued, bytes, len(held), len(l.workers))
	}
}
