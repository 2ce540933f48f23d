package socket

import (
	"slices"
	"sync"
	"sync/atomic"
)

// queue is a bounded FIFO of messages between goroutines, as libzmq's pipe
// is: a pipe's send queue (Send -> the connection's writer), and a receive
// queue (the connection's reader, or an inproc peer's Send -> Recv).
//
// Producers append to in, one message at a time, under mu. The consumer
// swaps the whole of in out at once (a batch) and works through it under its
// own lock, cmu, so the two sides meet once a batch rather than once a
// message; under load a batch is many messages.
//
// Room is counted the way libzmq counts it: producers see the messages
// queued minus those the consumer has reported taken, and the consumer
// reports every lwm messages and whenever its batch runs out. The queue so
// never holds more than hwm, and producers blocked at the mark wake once a
// report makes room.
//
// Storage grows with use, up to the mark: a peer that never had much
// queued costs a few words, not hwm of them. What a burst grew is given back
// once traffic has stayed light for a while (see report); a queue that goes
// idle right after a burst keeps it, at most the mark's worth of slots (24
// bytes each), as libzmq's pipes keep a spare chunk.
type queue struct {
	mu       sync.Mutex
	in       []Msg // queued, not yet taken by the consumer
	n        int   // counted against the mark: len(in) plus taken but unreported
	hwm      int
	full     bool // a producer found no room: the next report wakes room
	sleeping bool // the consumer waits on avail
	closed   bool // discarded: its peer is gone, and it takes nothing more
	sealed   bool // an inproc receive queue whose pipe is detached: its peer puts nothing more (see seal)
	stopped  bool // a receive queue of a socket that stopped receiving: it takes nothing more (see StopReceiving)
	conflate bool // holds the last message only (WithConflate); n is not kept
	light    int  // drains after small batches in a row (see report)

	// What producers queued (Stats().Sent, and profiling's count out):
	// counted in a pipe's out queue, and in the inproc peer's receive
	// queue that one pipe of ours alone feeds (its peerq). Once that pipe
	// is gone, what a sender that still held it puts or writes through is
	// counted in putsGone.
	puts      msgCount
	putsGone  *packed
	countPuts bool // a queue our sends go to: a tcp receive queue's count would be read by nobody

	_ [64]byte // the two sides' fields on cache lines of their own

	cmu   sync.Mutex // the consumer's side: batch, pos, taken
	batch []Msg
	pos   int
	taken int
	lwm   atomic.Int32 // report every lwm messages taken (see setLWM)

	// Profiling: what the consumer took, when countTakes; once the pipe is
	// gone, takes are counted in gone.
	takes      msgCount
	gone       *packed
	countTakes bool

	avail chan struct{} // a token for a sleeping consumer (see sleep)
	room  *signal       // woken when a full queue makes room; under mu

	// A tcp or ipc receive queue's messages are charged to the socket's
	// receive budget (WithRecvBudget), nil for none, and released as they
	// leave the queue, taken or dropped.
	budget *recvBudget
}

// keptCap is the storage an empty queue keeps: enough for a trickle of
// messages without allocating, small enough for thousands of idle peers.
const keptCap = 16

// lightRefills is how many drains after small batches in a row make a queue
// give back the storage a burst grew.
const lightRefills = 64

func newQueue(hwm int, room *signal) *queue {
	q := &queue{hwm: hwm, room: room, avail: make(chan struct{}, 1)}
	q.setLWM(hwm)
	return q
}

// setLWM sets how many messages the consumer takes before reporting them, as
// libzmq's low-water mark: half the mark, and at most a few hundred so that
// producers at a large mark do not wait long. The consumer reads it without
// the producers' lock.
func (q *queue) setLWM(hwm int) { q.lwm.Store(int32(max(1, min(hwm/2, 256)))) }

// tryPut queues m if the mark allows. When it does not, the queue remembers
// that a producer waits, and its next report makes room and notifies room:
// load room's channel before calling tryPut, so that no wake-up is missed.
func (q *queue) tryPut(m Msg) bool { return q.put(m, false) }

// tryPutOwn is tryPut for a message the consumer's socket queues of its
// own accord (an XPUB's news of subscriptions, see queueUp), which a
// sealed queue still takes.
func (q *queue) tryPutOwn(m Msg) bool { return q.put(m, true) }

func (q *queue) put(m Msg, own bool) bool {
	size := m.Size() // before the lock, which the consumer wants too
	q.mu.Lock()
	if q.closed || q.stopped || q.sealed && !own {
		q.mu.Unlock()
		return false
	}
	switch {
	case q.conflate:
		// The new message replaces the one waiting, if any. The consumer
		// never holds a batch between two gets: it swaps in one message
		// and takes it at once.
		if q.budget != nil {
			q.releaseAll(q.in)
		}
		clear(q.in)
		q.in = append(q.in[:0], m)
	case q.n >= q.hwm:
		q.full = true
		q.mu.Unlock()
		return false
	default:
		if q.in == nil {
			q.in = make([]Msg, 0, min(q.hwm, keptCap))
		}
		q.in = append(q.in, m)
		q.n++
	}
	if q.countPuts {
		q.countPutLocked(size)
	}
	q.wakeLocked()
	return true
}

// wakeLocked unlocks q.mu and hands a sleeping consumer the token that
// messages are queued.
func (q *queue) wakeLocked() {
	wake := q.sleeping
	q.sleeping = false
	q.mu.Unlock()
	if wake {
		select {
		case q.avail <- struct{}{}:
		default:
		}
	}
}

// passThrough reports whether a message may go past the queue (written
// through, see direct.go): nothing is queued, and the consumer holds
// nothing it has not taken. The caller holds the connection's write side,
// so nothing queued after the check can be written before it. A discarded
// queue lets nothing by, as it takes nothing: its connection is ending or
// gone, and the caller can send the message to another peer instead.
func (q *queue) passThrough() bool {
	q.cmu.Lock()
	q.mu.Lock()
	ok := !q.closed && len(q.in) == 0 && q.pos == len(q.batch)
	q.mu.Unlock()
	q.cmu.Unlock()
	return ok
}

// setConflate makes the queue keep only the last message put (WithConflate).
// A queue that holds messages already, and that nothing has consumed yet
// (an inproc queue made for a Bind, adopted by a conflating binder), keeps
// the last of them, as if it had conflated all along.
func (q *queue) setConflate() {
	q.mu.Lock()
	q.conflate = true
	if n := len(q.in); n > 1 {
		if q.budget != nil {
			q.releaseAll(q.in[:n-1])
		}
		clear(q.in[:n-1])
		q.in = append(q.in[:0], q.in[n-1])
	}
	q.n = 0 // not kept while conflating
	wake, room := q.full, q.room
	q.full = false
	q.mu.Unlock()
	if wake && room != nil {
		room.notify() // a producer that waited at the mark finds room now
	}
}

// prepend queues m before everything the producers queued, beyond the mark
// if need be: the probe (WithProbeRouter) of an inproc connection made
// before its Bind, which goes first. Nothing has consumed such a queue yet.
// A conflating queue keeps it only if it holds nothing: queued first, it
// was replaced by whatever came after, as a probe put in at the Connect
// would have been. It is counted as put either way, as a message replaced.
func (q *queue) prepend(m Msg) {
	q.mu.Lock()
	switch {
	case q.conflate:
		if len(q.in) == 0 {
			q.in = append(q.in, m)
		}
	default:
		q.in = slices.Insert(q.in, 0, m)
		q.n++
	}
	if q.countPuts {
		q.countPutLocked(m.Size())
	}
	q.mu.Unlock()
}

// get takes the next message, if there is one.
func (q *queue) get() (Msg, bool) {
	q.cmu.Lock()
	if q.pos == len(q.batch) && !q.refill() {
		q.cmu.Unlock()
		return nil, false
	}
	m := q.batch[q.pos]
	q.batch[q.pos] = nil // the queue must not keep what the consumer took
	q.pos++
	if q.countTakes {
		q.counted(m)
	}
	if q.budget != nil {
		q.budget.released(m)
	}
	if q.taken++; q.taken >= int(q.lwm.Load()) {
		q.report(false)
	}
	q.cmu.Unlock()
	return m, true
}

// refill reports the finished batch and swaps in what the producers queued.
// q.cmu is held.
func (q *queue) refill() bool {
	q.report(true)
	return q.pos < len(q.batch)
}

// report tells the producers how many messages were taken, waking them if
// that makes room, and with swap also takes the producers' messages as the
// next batch. q.cmu is held.
func (q *queue) report(swap bool) {
	q.mu.Lock()
	q.n -= q.taken
	q.taken = 0
	wake := q.full && q.n < q.hwm
	if wake {
		q.full = false
	}
	room := q.room
	if swap {
		done := q.batch[:0] // every entry already cleared by get
		switch {
		case len(q.in) > 0 || len(q.batch) > keptCap:
			q.light = 0
		case cap(done) > keptCap || cap(q.in) > keptCap:
			// Drained after a small batch. Once traffic has stayed this
			// light for a while, give back what a burst grew: storage
			// dropped at every drain would be made again at the next
			// burst, as garbage, on a queue that drains often.
			if q.light++; q.light >= lightRefills {
				q.light = 0
				if cap(q.in) > keptCap {
					q.in = nil
				}
				if cap(done) > keptCap {
					done = nil
				}
			}
		}
		q.batch, q.in = q.in, done
		q.pos = 0
	}
	q.mu.Unlock()
	if wake && room != nil {
		room.notify()
	}
}

// sleep prepares the consumer to wait: it returns nil if messages are
// queued, or a channel that receives once a producer has queued one.
func (q *queue) sleep() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.in) > 0 {
		return nil
	}
	q.sleeping = true
	return q.avail
}

// len is the number of messages queued and not yet taken.
func (q *queue) len() int {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.in) + len(q.batch) - q.pos
}

// setProducer changes the mark and the signal that wakes producers: an
// inproc queue made before its producer was known gets them at the link.
func (q *queue) setProducer(hwm int, room *signal) {
	q.mu.Lock()
	q.hwm, q.room = hwm, room
	q.setLWM(hwm)
	wake := q.full && q.n < q.hwm
	if wake {
		q.full = false
	}
	q.mu.Unlock()
	if wake && room != nil {
		room.notify()
	}
}

// discard empties the queue for good, when its peer is gone, and returns
// what it held, in order; a sender that still holds the pipe then finds no
// room, rather than queueing a message that nothing would send.
func (q *queue) discard() []Msg {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	q.mu.Lock()
	left := append(q.batch[q.pos:len(q.batch):len(q.batch)], q.in...)
	q.in, q.batch, q.pos, q.taken, q.n = nil, nil, 0, 0, 0
	q.closed = true
	wake, room := q.full, q.room
	q.full = false
	q.mu.Unlock()
	if wake && room != nil {
		room.notify()
	}
	if q.budget != nil {
		q.releaseAll(left)
	}
	return left
}

// seal refuses the producer's puts from now on, as the pipe the queue
// receives for is detached, and keeps what it holds for the consumer: an
// inproc sender that found the pipe still there as it was detached must
// not put a message where nobody expects one any more (the receiver took
// what it held and closes, say). Under q.mu, so that each put is either
// in before the seal, to be received, or refused, for the sender to send
// elsewhere or count.
func (q *queue) seal() {
	q.mu.Lock()
	q.sealed = true
	q.mu.Unlock()
}

// signal is a broadcast wake-up: a waiter takes the channel with wait, looks
// at whatever it waits for, and sleeps on the channel if it must; notify
// closes the channel, waking every waiter, and starts a new one. The zero
// value is ready to use.
type signal struct {
	ch atomic.Pointer[chan struct{}]
}

func (s *signal) wait() <-chan struct{} {
	for {
		if ch := s.ch.Load(); ch != nil {
			return *ch
		}
		ch := make(chan struct{})
		if s.ch.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

func (s *signal) notify() {
	if ch := s.ch.Swap(nil); ch != nil {
		close(*ch)
	}
}

// Counts are kept here, under the lock each side holds anyway: a queue our
// sends go to (a pipe's out queue, an inproc peer's receive queue) counts
// what Send queued (Stats().Sent, and profiling's count of messages out),
// the in queue of a measured PUSH, PULL, DEALER or PAIR socket what Recv
// took (package telemetry). Plain adds under a held lock
// cost next to nothing, where an atomic add per message would be a locked
// instruction on the socket's hot path.

// msgCount is a count of messages and of their bytes, under a queue's lock.
type msgCount struct{ msgs, bytes uint64 }

func (c *msgCount) add(m Msg) {
	c.msgs++
	c.bytes += uint64(m.Size())
}

// countPut counts m as put, where it went to the peer some other way:
// the probe a connection writes first (see conn.probe), a message written
// through (see conn.tryDirect).
func (q *queue) countPut(m Msg) {
	q.mu.Lock()
	q.countPutLocked(m.Size())
	q.mu.Unlock()
}

// countPutLocked counts a message of size bytes put, or written through.
// A sender that took the pipe before it left may still send after
// retirePuts: that message is counted where the pipe's count went. q.mu
// is held.
func (q *queue) countPutLocked(size int) {
	if q.putsGone != nil {
		q.putsGone.add(size)
		return
	}
	q.puts.msgs++
	q.puts.bytes += uint64(size)
}

// counted counts a message taken. q.cmu is held.
func (q *queue) counted(m Msg) {
	if q.gone != nil { // the pipe is gone: nobody sums this queue any more
		q.gone.add(m.Size())
		return
	}
	q.takes.add(m)
}

// setCountTakes makes the queue count what the consumer takes, or not: an
// inproc queue made by its producer, adopted by a measured consumer.
func (q *queue) setCountTakes(on bool) {
	q.cmu.Lock()
	q.countTakes = on
	q.cmu.Unlock()
}

// putCount returns what producers queued, not yet retired.
func (q *queue) putCount() msgCount {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.puts
}

// takeCount returns what the consumer took, not yet retired.
func (q *queue) takeCount() msgCount {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	return q.takes
}

// retirePuts moves the put count to t, when the pipe whose sends it
// counts is gone; a message still sent through that pipe is counted in t
// from now on (see countPutLocked).
func (q *queue) retirePuts(t *packed) {
	q.mu.Lock()
	t.addTotals(q.puts)
	q.puts = msgCount{}
	q.putsGone = t
	q.mu.Unlock()
}

// retireTakes moves the take count to t, where the messages still taken
// from the queue of a pipe that is gone are counted from now on.
func (q *queue) retireTakes(t *packed) {
	q.cmu.Lock()
	t.addTotals(q.takes)
	q.takes = msgCount{}
	q.gone = t
	q.cmu.Unlock()
}

// releaseAll gives back the receive budget's charges of messages dropped
// from the queue.
func (q *queue) releaseAll(ms []Msg) {
	for _, m := range ms {
		q.budget.released(m)
	}
}
