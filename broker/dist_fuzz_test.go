package broker

// FuzzDist feeds arbitrary messages from peers to the work distributor: the
// first input as a Distributor's task ROUTER gets them from workers (READY
// with a credit) and as a DistWorker gets them (a task, parseDistTask), the
// second as the Distributor's result PULL gets them (HELLO, a result, BYE).
// The Distributor's loop reads and counts without sending, so it runs here
// without sockets, with two batches in flight. Whatever comes, nothing
// panics, credit and tokens add up, a credit stays within what WithCredit
// allows, results land where their header says (once), the frames the
// package sends decode to what was meant, and one message costs the loop no
// more memory than a bound in its size and the credit it grants.
//
//	go test -run '^$' -fuzz FuzzDist -fuzztime 60s ./broker
//
// The seed corpus is in testdata/fuzz/FuzzDist; each input is messages as
// fuzzMsgs reads them, a frame separator and a message separator first
// ("|\nHELLO|w1\nBYE|w1" is two messages). A first input of odd length runs
// the loop round-robin, of even length demand-driven.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"

	"go.uber.org/zap"
)

// The batches in flight in the fuzzed loop: every task dispatched, none
// answered. Batch 1 keeps its results; batch 2, of more than 64 tasks (two
// words of seen bits), hands them to OnResult.
var distFuzzBatches = map[uint64]int{1: 3, 2: 70}

func FuzzDist(f *testing.F) {
	ready := append([]byte("|\nw1|READY|"), binary.BigEndian.AppendUint32(nil, 2)...)
	f.Add(ready, []byte("|\nHELLO|w1\nBYE|w1"))
	f.Fuzz(func(t *testing.T, tasks, results []byte) {
		d := DemandDriven
		if len(tasks)%2 == 1 {
			d = RoundRobin
		}
		checkDistLoop(t, d, fuzzcheck.Messages(tasks), fuzzcheck.Messages(results))
		for _, m := range fuzzcheck.Messages(tasks) {
			checkDistTask(t, m)
		}
		checkDistEncode(t, fuzzcheck.Frames(tasks))
	})
}

// newDistFuzzLoop is a Distributor's loop without sockets, with the
// batches of distFuzzBatches in flight; got collects what OnResult gets.
func newDistFuzzLoop(d Dispatch, got *[]DistResult) *distLoop {
	dist := &Distributor{cfg: distConfig{config: config{log: zap.NewNop()}, dispatch: d, credit: DefaultCredit, window: DefaultDistWindow}}
	l := &distLoop{
		d: dist, log: zap.NewNop(), batches: map[uint64]*distBatch{}, nextID: 3,
		peers: map[string]*distPeer{}, hellos: map[string]bool{}, early: map[string]bool{},
	}
	for id, size := range distFuzzBatches {
		b := &distBatch{
			b:      Batch{ID: id, Size: size},
			handle: &BatchHandle{id: id, done: make(chan struct{}), d: dist},
			fed:    size, fedAll: true,
			seen: make([]uint64, (size+63)/64),
			sum:  BatchSummary{ID: id, Size: size},
		}
		if id == 1 {
			b.sum.Results = make([]DistResult, size)
		} else {
			b.b.OnResult = func(r DistResult) { *got = append(*got, r) }
		}
		l.batches[id] = b
		l.st.Dispatched += uint64(size)
		l.st.InFlight += size
	}
	return l
}

// distReadyCredit reads a READY as the loop should: [id, "READY", credit].
func distReadyCredit(m [][]byte) (uint32, bool) {
	if len(m) != 3 || !bytes.Equal(m[1], distReady) || len(m[2]) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(m[2]), true
}

// checkDistLoop runs the messages through a loop, tasks and results in
// turn, checking it after each.
func checkDistLoop(t *testing.T, d Dispatch, tasks, results [][][]byte) {
	var got []DistResult
	l := newDistFuzzLoop(d, &got)
	handles := map[uint64]*BatchHandle{}
	for id, b := range l.batches {
		handles[id] = b.handle
	}
	seen := map[[2]uint64]bool{} // batch and seq of the results taken
	taken := map[uint64]int{}    // results taken of each batch
	want := l.st
	for i := range max(len(tasks), len(results)) {
		if i < len(tasks) && len(tasks[i]) > 0 { // a ROUTER's messages start with a routing id
			m := tasks[i]
			id := string(m[0])
			credit, isReady := distReadyCredit(m)
			early, known := l.early[id], l.peers[id] != nil
			tokens := len(l.tokens)
			n := fuzzcheck.Allocated(func() { l.fromWorker(m) })
			switch {
			case isReady && early:
				if l.early[id] || l.peers[id] != nil {
					t.Fatalf("READY %q of a worker that left: early %v, peer %+v", m, l.early[id], l.peers[id])
				}
			case isReady && credit >= 1 && credit <= maxDistCredit && !known:
				p := l.peers[id]
				if p == nil || p.credit != int(credit) || p.tokens != int(credit) || len(l.tokens) != tokens+int(credit) {
					t.Fatalf("READY %q: peer %+v, tokens %d -> %d", m, p, tokens, len(l.tokens))
				}
			default:
				if len(l.tokens) != tokens {
					t.Fatalf("malformed READY %q added %d tokens", m, len(l.tokens)-tokens)
				}
				want.Malformed++
			}
			// A message costs the loop its frames and the tokens it grants:
			// 16 bytes each, appended one at a time to a slice that Go
			// grows by 1.25x once large, so that the copies add up to 5x
			// its size. A new peer may grow a map by a table.
			if max := allocPerByte*fuzzcheck.WireSize(m) + 96*uint64(len(l.tokens)) + 64<<10; n > max {
				t.Fatalf("READY %q allocated %d bytes, bound %d", m, n, max)
			}
		}
		if i < len(results) {
			m := results[i]
			before := l.st
			l.fromSink(m)
			switch {
			case len(m) == 2 && bytes.Equal(m[0], distHello):
				if !l.hellos[string(m[1])] {
					t.Fatalf("HELLO %q not counted", m)
				}
			case len(m) == 2 && bytes.Equal(m[0], distBye):
				p := l.peers[string(m[1])]
				if l.hellos[string(m[1])] || p != nil {
					t.Fatalf("BYE %q: hello %v, peer %+v", m, l.hellos[string(m[1])], p)
				}
			case len(m) == 7 && bytes.Equal(m[0], distResult) && len(m[5]) == 1:
				h, ok := parseDistHeader(m[2:5])
				if !ok {
					want.Malformed++
					break
				}
				size, known := distFuzzBatches[h.batch]
				key := [2]uint64{h.batch, h.seq}
				switch {
				case !known || taken[h.batch] == size || h.size != uint64(size) || h.seq >= uint64(size):
					want.Late++ // a complete batch is forgotten
				case seen[key]:
					want.Duplicates++
				default:
					seen[key] = true
					taken[h.batch]++
					want.Results++
					want.InFlight--
					if m[5][0] != 0 {
						want.Failed++
					}
					checkDistResult(t, l, handles, got, h, m[5][0], m[6])
				}
			default:
				want.Malformed++
			}
			if l.st.Results != before.Results && l.st.Results != before.Results+1 {
				t.Fatalf("result %q counted %d times", m, l.st.Results-before.Results)
			}
		}
		st := l.st
		if st.Late != want.Late || st.Duplicates != want.Duplicates || st.Results != want.Results ||
			st.InFlight != want.InFlight || st.Failed != want.Failed || st.Malformed != want.Malformed {
			t.Fatalf("stats %+v, want %+v", st, want)
		}
		checkDistCredit(t, l)
	}
	for id, size := range distFuzzBatches {
		all := taken[id] == size
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

// checkDistResult checks that the result just taken is where its header
// says, with its payload.
func checkDistResult(t *testing.T, l *distLoop, handles map[uint64]*BatchHandle, got []DistResult, h distHeader, status byte, data []byte) {
	var r DistResult
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

// checkDistCredit checks that the tokens and credit add up.
func checkDistCredit(t *testing.T, l *distLoop) {
	tokens, credit := 0, 0
	for id, p := range l.peers {
		if p.credit < 1 || p.credit > maxDistCredit || p.tokens < 0 || p.tokens > p.credit {
			t.Fatalf("peer %q: %+v", id, p)
		}
		tokens += p.tokens
		credit += p.credit
	}
	if l.st.Credit != tokens || l.credit != credit || len(l.tokens) < tokens {
		t.Fatalf("credit %d and %d, tokens %d; the peers have %d and %d", l.st.Credit, l.credit, len(l.tokens), tokens, credit)
	}
}

// checkDistTask reads m as a DistWorker gets a task.
func checkDistTask(t *testing.T, m [][]byte) {
	h, payload, ok := parseDistTask(m)
	want := len(m) == 4 && len(m[0]) == 8 && len(m[1]) == 8 && len(m[2]) == 8
	if ok != want {
		t.Fatalf("parseDistTask(%q) = %+v, %q, %v", m, h, payload, ok)
	}
	if ok && !fuzzcheck.FramesEqual(append(h.frames(), payload), m) {
		t.Fatalf("parseDistTask(%q) = %+v, %q: not the same frames", m, h, payload)
	}
	checkAlloc(t, "parseDistTask", fuzzcheck.WireSize(m), func() { parseDistTask(m) })
}

// checkDistEncode makes the frames a DistWorker and a Distributor send from
// m's, and reads them as the other end does.
func checkDistEncode(t *testing.T, m [][]byte) {
	payload := bytes.Join(m, nil)
	credit := len(m)%maxDistCredit + 1
	h := distHeader{batch: 2, seq: uint64(len(payload)) % 70, size: 70}
	// Task (distLoop.send): header, payload.
	task := append(h.frames(), payload)
	if got, p, ok := parseDistTask(task); !ok || got != h || !bytes.Equal(p, payload) {
		t.Fatalf("task %q reads as %+v, %q, %v", task, got, p, ok)
	}
	var got []DistResult
	l := newDistFuzzLoop(DemandDriven, &got)
	// READY (DistWorker.run), the routing id put in front by the ROUTER.
	l.fromWorker([][]byte{[]byte("w1"), distReady, binary.BigEndian.AppendUint32(nil, uint32(credit))})
	if p := l.peers["w1"]; p == nil || p.credit != credit {
		t.Fatalf("READY with credit %d: peer %+v", credit, p)
	}
	// A result of each status (DistWorker.task), on the same credit.
	l.peers["w1"].tokens--
	l.st.Credit--
	for status := range byte(2) {
		h.seq = (h.seq + uint64(status)) % 70
		msg := append([][]byte{distResult, []byte("w1")}, h.frames()...)
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
	// HELLO and BYE (DistWorker.run, bye).
	l.fromSink([][]byte{distHello, []byte("w1")})
	if !l.hellos["w1"] {
		t.Fatalf("HELLO not taken")
	}
	l.fromSink([][]byte{distBye, []byte("w1")})
	if l.hellos["w1"] || l.peers["w1"] != nil || l.st.Credit != 0 {
		t.Fatalf("BYE: hello %v, peer %+v, credit %d", l.hellos["w1"], l.peers["w1"], l.st.Credit)
	}
	if l.st.Malformed != 0 {
		t.Fatalf("the package's own frames counted %d malformed", l.st.Malformed)
	}
}
