package distributor

// FuzzDist feeds arbitrary messages from peers to the work distributor: the
// first input as a Distributor's task ROUTER gets them from workers (READY
// with a credit, HEARTBEAT) and as a Worker gets them (a task, parseTask),
// the second as the Distributor's result PULL gets them (HELLO, a result,
// HEARTBEAT, ACK, BYE). The Distributor's behaviour reads and counts without
// sending, so it runs here without sockets or actor, with two batches
// in flight, every task dispatched under a ticket of distFuzzTicket's.
// Whatever comes, nothing panics; credit adds up and stays within the
// window, whatever a READY announces; a result is taken only if it answers
// a dispatch (its ticket, batch id, seq and, demand-driven, worker) whose
// task has no result yet, and lands where its header says; every other
// result is counted once, as Late, Duplicates, Forged or Malformed; an ACK
// (round-robin) makes a worker that said HELLO the holder of the tasks in
// flight it names, and nothing else; the tasks in flight that no worker
// said ACK for are counted in Unacked; the
// frames the package sends decode to what was meant; and one message costs
// the behaviour no more memory than a bound in its size and the tasks in flight.
//
//	go test -run '^$' -fuzz FuzzDist -fuzztime 60s ./broker/distributor
//
// The seed corpus is in testdata/fuzz/FuzzDist; each input is messages as
// fuzzMsgs reads them, a frame separator and a message separator first
// ("|\nHELLO|w1\nBYE|w1" is two messages). A first input of odd length runs
// the behaviour round-robin, of even length demand-driven. Batch 1's tasks went
// to worker w1 and batch 2's to w2 (demand-driven: round-robin does not
// know); the ticket of batch b's task s is b<<32 | s.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/internal/fuzzcheck"

	"go.uber.org/zap"
)

// The batches in flight in the fuzzed behaviour: every task dispatched, none
// answered. Batch 1 keeps its results; batch 2, of more than 64 tasks (two
// words of seen bits), hands them to OnResult.
var distFuzzBatches = map[uint64]int{1: 3, 2: 70}

// distFuzzTicket is the ticket of a task of the fuzzed behaviour, and
// distFuzzWorker the worker it went to.
func distFuzzTicket(batch, seq uint64) uint64 { return batch<<32 | seq }
func distFuzzWorker(batch uint64) string      { return []string{1: "w1", 2: "w2"}[batch] }

func FuzzDist(f *testing.F) {
	ready := append([]byte("|\nw1|READY|"), binary.BigEndian.AppendUint32(nil, 2)...)
	f.Add(ready, []byte("|\nHELLO|w1\nBYE|w1"))
	f.Fuzz(func(t *testing.T, tasks, results []byte) {
		d := DemandDriven
		if len(tasks)%2 == 1 {
			d = RoundRobin
		}
		checkState(t, d, fuzzcheck.Messages(tasks), fuzzcheck.Messages(results))
		for _, m := range fuzzcheck.Messages(tasks) {
			checkDistTask(t, m)
		}
		for _, m := range fuzzcheck.Messages(results) {
			if len(m) == 3 {
				checkDistAck(t, m[2])
			}
		}
		checkDistEncode(t, fuzzcheck.Frames(tasks))
	})
}

// newFuzzState is a Distributor's behaviour without sockets, with the
// batches of distFuzzBatches in flight; got collects what OnResult gets.
// Demand-driven, workers w1 and w2 hold them, without spare credit.
func newFuzzState(d Dispatch, got *[]Result) *state {
	cfg := defaults
	cfg.Log = zap.NewNop()
	cfg.X.dispatch = d
	l := newState(&cfg, &board.Board[Stats]{})
	*l.nextID = 3
	for id, size := range distFuzzBatches {
		b := &batch{
			b:      Batch{ID: id, Size: size},
			handle: &BatchHandle{id: id, done: make(chan struct{})},
			fed:    size, fedAll: true,
			seen: make([]uint64, (size+63)/64),
			sum:  BatchSummary{ID: id, Size: size},
		}
		if id == 1 {
			b.sum.Results = make([]Result, size)
		} else {
			b.b.OnResult = func(r Result) { *got = append(*got, r) }
		}
		l.batches[id] = b
		var p *peer
		if d == DemandDriven {
			p = l.newPeer(distFuzzWorker(id))
			p.ready, p.beats, p.credit = true, true, size
			l.st.Credit += size
		}
		for seq := range size {
			l.dispatched(distFuzzTicket(id, uint64(seq)), task{batch: b, seq: seq}, p)
		}
	}
	return l
}

// distReadyCredit reads a READY as the behaviour should: [id, "READY", credit].
func distReadyCredit(m [][]byte) (uint32, bool) {
	if len(m) != 3 || !bytes.Equal(m[1], wordReady) || len(m[2]) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(m[2]), true
}

// checkState runs the messages through a behaviour, tasks and results in
// turn, checking it after each.
func checkState(t *testing.T, d Dispatch, tasks, results [][][]byte) {
	var got []Result
	l := newFuzzState(d, &got)
	handles := map[uint64]*BatchHandle{}
	for id, b := range l.batches {
		handles[id] = b.handle
	}
	taken := map[[2]uint64]bool{} // batch and seq of the results taken
	count := map[uint64]int{}     // results taken of each batch
	want := l.st
	for i := range max(len(tasks), len(results)) {
		if i < len(tasks) && len(tasks[i]) > 0 { // a ROUTER's messages start with a routing id
			m := tasks[i]
			id := string(m[0])
			credit, isReady := distReadyCredit(m)
			_, early := l.early[id]
			before := l.peers[id]
			wasReady := before != nil && before.ready
			n := fuzzcheck.Allocated(func() { l.fromWorker(m) })
			p := l.peers[id]
			switch {
			case isReady && early:
				if _, still := l.early[id]; still || p != before || p != nil && p.ready != wasReady {
					t.Fatalf("READY %q of a worker that left: early %v, peer %+v", m, still, p)
				}
			case isReady && credit >= 1:
				if p == nil || !p.ready || p.credit != int(min(uint64(credit), uint64(l.cfg.X.window))) || p.inFlight != 0 {
					t.Fatalf("READY %q: peer %+v", m, p)
				}
				for _, dp := range l.tickets {
					if dp.peer == p && !dp.lost {
						t.Fatalf("READY %q: the worker starts over, but still holds %+v", m, dp.task)
					}
				}
			case len(m) == 2 && bytes.Equal(m[1], wordHeartbeat):
				if p != before || p != nil && p.ready && !p.beats {
					t.Fatalf("HEARTBEAT %q: peer %+v", m, p)
				}
			default:
				if p != before {
					t.Fatalf("malformed %q made a worker: %+v", m, p)
				}
				want.Malformed++
			}
			// A message costs the behaviour its frames, a worker's record (and
			// the map's growth), and at a READY again the tasks it gives
			// back; not a token per credit.
			if max := distFuzzAllocBound(l, m); n > max {
				t.Fatalf("%q allocated %d bytes, bound %d", m, n, max)
			}
		}
		if i < len(results) {
			m := results[i]
			before := l.st
			holders := map[uint64]*peer{} // an ACK names those that may change
			for ticket, dp := range l.tickets {
				holders[ticket] = dp.holder
			}
			n := fuzzcheck.Allocated(func() { l.fromSink(m) })
			if max := distFuzzAllocBound(l, m); n > max {
				t.Fatalf("%q allocated %d bytes, bound %d", m, n, max)
			}
			switch {
			case len(m) == 2 && bytes.Equal(m[0], wordHello):
				if p := l.peers[string(m[1])]; p == nil || !p.hello {
					t.Fatalf("HELLO %q not counted", m)
				}
			case len(m) == 2 && bytes.Equal(m[0], wordBye):
				if p := l.peers[string(m[1])]; p != nil {
					t.Fatalf("BYE %q: peer %+v", m, p)
				}
			case len(m) == 2 && bytes.Equal(m[0], wordHeartbeat):
				p := l.peers[string(m[1])]
				if d == RoundRobin && (p == nil || !p.hello || !p.beats) {
					t.Fatalf("HEARTBEAT %q: peer %+v", m, p)
				}
			case len(m) == 3 && bytes.Equal(m[0], wordAck):
				if _, ok := parseAck(m[2]); !ok || d == DemandDriven {
					want.Malformed++
					break
				}
				p := l.peers[string(m[1])]
				for ticket := range ackTickets(m[2]) {
					if dp := l.tickets[ticket]; dp != nil && !dp.lost && dp.holder == nil && p != nil && p.hello {
						t.Fatalf("ACK %q from a worker: ticket %x held by none", m, ticket)
					}
					delete(holders, ticket)
				}
			case len(m) == 7 && bytes.Equal(m[0], wordResult) && len(m[5]) == 1:
				h, ok := parseHeader(m[2:5])
				status := m[5][0]
				if !ok || status > 1 {
					want.Malformed++
					break
				}
				size, known := distFuzzBatches[h.batch]
				key := [2]uint64{h.batch, h.seq}
				inProgress := known && count[h.batch] < size
				answers := known && h.seq < uint64(size) && h.ticket == distFuzzTicket(h.batch, h.seq) &&
					(d == RoundRobin || string(m[1]) == distFuzzWorker(h.batch))
				switch {
				case answers && !taken[key]:
					taken[key] = true
					count[h.batch]++
					want.Results++
					if status != 0 {
						want.Failed++
					}
					checkDistResult(t, l, handles, got, h, status, m[6])
				case !inProgress:
					want.Late++ // a complete batch is forgotten
				case h.seq < uint64(size) && taken[key]:
					want.Duplicates++
				default:
					want.Forged++
				}
			default:
				want.Malformed++
			}
			for ticket, h := range holders {
				if dp := l.tickets[ticket]; dp != nil && dp.holder != h {
					t.Fatalf("%q made %+v the holder of ticket %x, held by %+v", m, dp.holder, ticket, h)
				}
			}
			if l.st.Results != before.Results && l.st.Results != before.Results+1 {
				t.Fatalf("result %q counted %d times", m, l.st.Results-before.Results)
			}
		}
		st := l.st
		if st.Late != want.Late || st.Duplicates != want.Duplicates || st.Results != want.Results || st.Forged != want.Forged ||
			st.Failed != want.Failed || st.Malformed != want.Malformed || st.Abandoned != 0 {
			t.Fatalf("stats %+v, want %+v", st, want)
		}
		checkDistCredit(t, l)
	}
	for id, size := range distFuzzBatches {
		all := count[id] == size
		select {
		case <-handles[id].done:
			if !all {
				t.Fatalf("batch %d complete without all its results", id)
			}
		default:
			if all {
				t.Fatalf("batch %d has all its results and is not complete", id)
			}
		}
	}
}

// distFuzzAllocBound is what a message may cost the behaviour.
func distFuzzAllocBound(l *state, m [][]byte) uint64 {
	return fuzzcheck.ParserAllocPerByte*fuzzcheck.WireSize(m) + 256*uint64(len(l.tickets)) + 128*uint64(len(l.peers)+len(l.early)) + 16<<10
}

// checkDistResult checks that the result just taken is where its header
// says, with its payload.
func checkDistResult(t *testing.T, l *state, handles map[uint64]*BatchHandle, got []Result, h header, status byte, data []byte) {
	var r Result
	if h.batch == 1 {
		rs := handles[1].sum.Results // complete
		if b := l.batches[1]; b != nil {
			rs = b.sum.Results
		}
		r = rs[h.seq]
	} else {
		r = got[len(got)-1]
	}
	if r.Batch != h.batch || r.Seq != int(h.seq) {
		t.Fatalf("result %+v stored as batch %d seq %d", h, r.Batch, r.Seq)
	}
	if status == 0 {
		if r.Err != nil || !bytes.Equal(r.Data, data) {
			t.Fatalf("result %+v: %q, %v; want %q", h, r.Data, r.Err, data)
		}
	} else if r.Data != nil || !errors.Is(r.Err, ErrTaskFailed) || !strings.HasSuffix(r.Err.Error(), string(data)) {
		t.Fatalf("failed result %+v: %q, %v; want ErrTaskFailed with %q", h, r.Data, r.Err, data)
	}
}

// checkDistCredit checks that credit, the ring and the tasks in flight add
// up: every task of the fuzzed batches is in flight once, given back once,
// or answered.
func checkDistCredit(t *testing.T, l *state) {
	inFlight := 0
	held := map[*peer]int{}
	for _, d := range l.tickets {
		if !d.lost {
			inFlight++
			held[d.peer]++
		}
	}
	credit, hellos := 0, 0
	onRing := map[*peer]int{}
	for _, p := range l.ring {
		onRing[p]++
	}
	for id, p := range l.peers {
		if p.id != id || p.gone {
			t.Fatalf("peer %q: %+v", id, p)
		}
		if p.hello {
			hellos++
		}
		if !p.ready {
			continue
		}
		if p.credit < 1 || p.credit > l.cfg.X.window || p.inFlight < 0 || p.inFlight > p.credit || p.inFlight != held[p] {
			t.Fatalf("peer %q: %+v", id, p)
		}
		credit += p.spare()
		if wantOn := p.spare() > 0; onRing[p] != 0 != wantOn || onRing[p] > 1 || p.queued != wantOn {
			t.Fatalf("peer %q: %+v on the ring %d times", id, p, onRing[p])
		}
		delete(onRing, p)
		delete(held, p)
	}
	delete(held, nil) // round-robin
	if len(held) != 0 {
		t.Fatalf("%d workers not known hold tasks", len(held))
	}
	if len(onRing) != 0 || l.st.Credit != credit || l.hellos != hellos {
		t.Fatalf("credit %d, the peers have %d; hellos %d, counted %d; on the ring and not known: %d", l.st.Credit, credit, hellos, l.hellos, len(onRing))
	}
	if l.st.InFlight != inFlight {
		t.Fatalf("in flight %d, dispatches not lost %d", l.st.InFlight, inFlight)
	}
	unacked, doubts := 0, 0
	for _, d := range l.tickets {
		if d.lost {
			if d.holder != nil && !d.checkAt.IsZero() {
				t.Fatalf("a dispatch given back still in doubt: %+v", d)
			}
			continue
		}
		if !d.checkAt.IsZero() {
			doubts++
		}
		if d.holder == nil {
			unacked++
		} else if l.cfg.X.dispatch != RoundRobin || l.peers[d.holder.id] != d.holder || !d.holder.hello {
			t.Fatalf("a dispatch in flight held by %+v, not a worker", d.holder)
		}
	}
	if l.cfg.X.dispatch == DemandDriven {
		unacked = 0
	}
	if l.st.Unacked != unacked || l.doubts != doubts {
		t.Fatalf("unacked %d, dispatches in flight without ACK %d; doubts %d, in doubt %d", l.st.Unacked, unacked, l.doubts, doubts)
	}
	all := 0
	for _, size := range distFuzzBatches {
		all += size
	}
	if len(l.pending)+inFlight > all {
		t.Fatalf("%d given back and %d in flight, of %d tasks", len(l.pending), inFlight, all)
	}
}

// checkDistTask reads m as a Worker gets a task.
func checkDistTask(t *testing.T, m [][]byte) {
	h, payload, ok := parseTask(m)
	want := len(m) == 4 && len(m[0]) == 8 && len(m[1]) == 8 && len(m[2]) == 8
	if ok != want {
		t.Fatalf("parseTask(%q) = %+v, %q, %v", m, h, payload, ok)
	}
	if ok && !fuzzcheck.FramesEqual(append(h.frames(), payload), m) {
		t.Fatalf("parseTask(%q) = %+v, %q: not the same frames", m, h, payload)
	}
	fuzzcheck.CheckParserAlloc(t, "parseTask", fuzzcheck.WireSize(m), func() { parseTask(m) })
}

// checkDistAck reads f as the tickets frame of an ACK, and makes it again.
func checkDistAck(t *testing.T, f []byte) {
	got, ok := parseAck(f)
	if ok != (len(f)%8 == 0) {
		t.Fatalf("parseAck(%q) = %v", f, ok)
	}
	if !ok {
		return
	}
	var tickets []uint64
	for ticket := range ackTickets(got) {
		tickets = append(tickets, ticket)
	}
	if len(tickets) != len(f)/8 || !bytes.Equal(appendAck(nil, tickets...), f) {
		t.Fatalf("ACK %q reads as %x", f, tickets)
	}
	fuzzcheck.CheckParserAlloc(t, "parseAck", uint64(len(f)), func() {
		for range ackTickets(f) {
		}
	})
}

// checkDistEncode makes the frames a Worker and a Distributor send from
// m's, and reads them as the other end does.
func checkDistEncode(t *testing.T, m [][]byte) {
	payload := bytes.Join(m, nil)
	credit := uint32(len(payload)) * 0x9e3779b9 // any, up to 2^32-1
	credit = max(credit, 1)
	seq := uint64(len(payload)) % 70
	h := header{batch: 2, seq: seq, ticket: distFuzzTicket(2, seq)}
	// Task (state.send): header, payload.
	task := append(h.frames(), payload)
	if got, p, ok := parseTask(task); !ok || got != h || !bytes.Equal(p, payload) {
		t.Fatalf("task %q reads as %+v, %q, %v", task, got, p, ok)
	}
	// HEARTBEAT (state.heartbeat) is not a task.
	if _, _, ok := parseTask([][]byte{wordHeartbeat}); ok {
		t.Fatalf("HEARTBEAT reads as a task")
	}
	var got []Result
	l := newFuzzState(DemandDriven, &got)
	// READY and HEARTBEAT (sessionState.register), the routing id put in
	// front by the ROUTER: the credit is capped at the window.
	l.fromWorker([][]byte{[]byte("w3"), wordReady, binary.BigEndian.AppendUint32(nil, credit)})
	l.fromWorker([][]byte{[]byte("w3"), wordHeartbeat})
	if p := l.peers["w3"]; p == nil || p.credit != int(min(uint64(credit), uint64(l.cfg.X.window))) || !p.beats {
		t.Fatalf("READY with credit %d: peer %+v", credit, p)
	}
	// A result of each status (sessionState.result), from the worker the
	// tasks went to.
	for status := range byte(2) {
		h.seq = (seq + uint64(status)) % 70
		h.ticket = distFuzzTicket(2, h.seq)
		msg := append([][]byte{wordResult, []byte("w2")}, h.frames()...)
		msg = append(msg, []byte{status}, payload)
		l.fromSink(msg)
		if len(got) != int(status)+1 || got[status].Seq != int(h.seq) {
			t.Fatalf("result %q: OnResult got %+v", msg, got)
		}
		if r := got[status]; status == 0 && (r.Err != nil || !bytes.Equal(r.Data, payload)) ||
			status == 1 && !errors.Is(r.Err, ErrTaskFailed) {
			t.Fatalf("result %q with status %d reads as %+v", msg, status, r)
		}
	}
	if l.peers["w2"].spare() != 2 {
		t.Fatalf("two results returned %d credit", l.peers["w2"].spare())
	}
	// HELLO, HEARTBEAT (round-robin's) and BYE (sessionState.Start and bye).
	l.fromSink([][]byte{wordHello, []byte("w3")})
	l.fromSink([][]byte{wordHeartbeat, []byte("w3")})
	if p := l.peers["w3"]; p == nil || !p.hello || l.hellos != 1 {
		t.Fatalf("HELLO not taken: %+v", p)
	}
	l.fromSink([][]byte{wordBye, []byte("w3")})
	if l.peers["w3"] != nil || l.hellos != 0 || l.st.Credit != 2 {
		t.Fatalf("BYE: peer %+v, hellos %d, credit %d", l.peers["w3"], l.hellos, l.st.Credit)
	}
	if l.st.Malformed != 0 || l.st.Forged != 0 {
		t.Fatalf("the package's own frames counted %d malformed, %d forged", l.st.Malformed, l.st.Forged)
	}
	// Round-robin: ACK (sessionState.ack) for two tasks of batch 2 makes
	// w3 their holder, and its BYE gives them back, not the others.
	got = nil
	l = newFuzzState(RoundRobin, &got)
	l.fromSink([][]byte{wordHello, []byte("w3")})
	ack := appendAck(nil, distFuzzTicket(2, seq), distFuzzTicket(2, (seq+1)%70))
	l.fromSink([][]byte{wordAck, []byte("w3"), ack})
	all := l.st.InFlight
	if l.st.Unacked != all-2 || l.tickets[distFuzzTicket(2, seq)].holder != l.peers["w3"] {
		t.Fatalf("ACK %x: unacked %d of %d", ack, l.st.Unacked, all)
	}
	l.fromSink([][]byte{wordBye, []byte("w3")})
	if l.st.InFlight != all-2 || len(l.pending) != 2 || l.st.Unacked != all-2 || l.doubts != all-2 {
		t.Fatalf("BYE after ACK: in flight %d of %d, pending %d, unacked %d, in doubt %d", l.st.InFlight, all, len(l.pending), l.st.Unacked, l.doubts)
	}
	if l.st.Malformed != 0 {
		t.Fatalf("ACK counted %d malformed", l.st.Malformed)
	}
}
