package actor

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// envelope is a message in a mailbox, with the time it was told when the
// actor's observer wants timings.
type envelope[M any] struct {
	msg M
	at  time.Duration
}

type qstate uint8

const (
	qOpen     qstate = iota
	qDraining        // Stop: no new messages, the actor handles what is left
	qClosed          // Close or the end: no messages, the actor returns
)

// maxBatch bounds how many messages the actor takes under one lock. Taking
// batches is what lets a mailbox keep up with a buffered channel: one lock
// round trip per batch instead of one per message.
const maxBatch = 128

// queue is the mailbox proper: a ring under a mutex, many senders, one
// receiver (the actor's goroutine), which sleeps on wake when it is empty.
//
// The first message told to a sleeping receiver is handed over in its
// wake-up instead of going through the ring, and without the lock: the
// receiver starts on it at once, and when it has handled it and nothing
// else came, goes back to sleep without the lock too. So an Ask to an
// idle actor takes the mailbox's lock on neither side.
//
// Who may do what is kept in one word, rs (see the r* states): its low
// bits say whether the receiver is awake, asleep or handling a handed
// message, and the rest count the messages it handled. Whoever moves it
// from asleep owns the wake-up, and sends it at once: one wake-up per
// sleep, so wake (capacity 1) never blocks its sender. A put to the ring,
// a close or a halt moves it from handed to awake, so that the receiver
// looks at the mailbox before it sleeps again. A handed message is always
// the oldest: the receiver sleeps only on an empty ring, and a put to the
// ring wakes it. A sender that holds the lock and finds the receiver
// asleep hands over too, racing those without it, and judges the room
// only once the receiver is awake or handling (put): a hand-over takes
// the room it would have seen.
//
// Senders blocked on a full Bounded mailbox sleep on space, a channel that is
// closed to wake them all, and made again by the next sender to wait;
// TellAny waits on the space of several mailboxes at once (room).
type queue[M any] struct {
	mu      sync.Mutex
	ring    []envelope[M]
	head, n int
	size    int // capacity; 0 for Unbounded
	policy  policy
	inHand  int // Bounded: taken in the current batch, counted until the next take
	state   qstate
	halt    atomic.Bool // written under mu; the receiver polls it between messages
	rs      atomic.Uint64
	wake    chan handoff[M] // capacity 1: the receiver's alarm, with a message or not
	waiters int
	space   chan struct{}
	// The receiver's own: the messages it handled since it last counted
	// them into rs (at a take, or going back to sleep), and whether it
	// went to sleep and has not received its wake-up yet.
	pending   uint64
	awaitWake bool
	// When profiled: a sample of the messages put is stamped here, and a
	// sample of the waits for room is timed into blocked, in
	// nanoseconds. sampleMask+1 is the sampling period, a power of two
	// that the profiler adapts to the actor's rate. Messages put in the
	// ring and waits are counted under mu; messages handed over, by the
	// sender that won the hand-over (see hand), where counting them is
	// free too. Each way, one in the period is in the sample.
	sample             bool
	puts, hands, waits uint32
	sampleMask         atomic.Uint32
	blocked            *profObserver

	// closed is closed by close; made by the first feed that asks
	// (closedChan). Last: the fields above are the hot path's, laid out
	// as they were measured.
	closed chan struct{}
}

// The receiver's states, the low bits of rs; the rest of rs counts the
// messages it handled, in units of rOne.
const (
	rAwake  = 0 // taking or handling messages, or not running
	rAsleep = 1 // found the mailbox empty, and waits on wake
	rHanded = 2 // woken with a message handed over, and handling it
	rMask   = 3
	rOne    = 4
)

func newQueue[M any](m Mailbox) *queue[M] {
	m = m.normal()
	q := &queue[M]{policy: m.policy, wake: make(chan handoff[M], 1)}
	if m.policy != policyUnbounded {
		q.size = m.size
	}
	// The ring is made by the first message that does not go by hand, and
	// space by the first sender that waits for room: an idle actor, or
	// one that is never sent to faster than it handles, has neither.
	return q
}

// held counts the messages the mailbox holds: waiting, taken in the
// current batch, and handed over (Bounded: a dropping mailbox gives one
// message at a time and does not count it). The caller holds mu.
func (q *queue[M]) held() int {
	k := q.n + q.inHand
	if q.policy == policyBounded && q.rs.Load()&rMask == rHanded {
		k++
	}
	return k
}

func (q *queue[M]) full() bool { return q.size > 0 && q.held() >= q.size }

// handoff is a wake-up, carrying the message that woke the receiver when
// ok (see queue).
type handoff[M any] struct {
	e  envelope[M]
	ok bool
}

// hand gives e to the receiver with its wake-up if it sleeps, and reports
// whether it did. The mailbox is empty then, and open: the receiver sleeps
// only on an empty ring, and a put, a close or a drain would have woken
// it. So it needs no lock. The sender that moved the receiver from asleep
// to handed is the only one that may hand over until the receiver has
// taken the message and gone back to sleep, so it counts the hand-overs of
// a profiled mailbox in a plain field.
func (q *queue[M]) hand(e envelope[M]) bool {
	w := q.rs.Load()
	if w&rMask != rAsleep || !q.rs.CompareAndSwap(w, w&^rMask|rHanded) {
		return false
	}
	if q.sample {
		if q.hands++; q.hands&q.sampleMask.Load() == 0 {
			e.at = now()
		}
	}
	q.wake <- handoff[M]{e, true}
	return true
}

// rouse makes the receiver look at the mailbox before it sleeps again: one
// asleep is woken with a plain wake-up; one handling a handed message is
// made to take the lock when it is done, and the message counts as taken
// (inHand) until then. The caller holds mu and has changed what the
// receiver must see: a message in the ring, a close, a halt, a sender
// waiting for room.
func (q *queue[M]) rouse() {
	for {
		w := q.rs.Load()
		switch w & rMask {
		case rAwake:
			return
		case rAsleep:
			if q.rs.CompareAndSwap(w, w&^rMask) {
				q.wake <- handoff[M]{}
				return
			}
		case rHanded:
			if q.rs.CompareAndSwap(w, w&^rMask) {
				if q.policy == policyBounded {
					q.inHand = 1
				}
				return
			}
		}
	}
}

// nudge wakes the receiver if it sleeps: something other than its mailbox
// has work for it (a polled feed attached).
func (q *queue[M]) nudge() {
	q.mu.Lock()
	q.rouse()
	q.mu.Unlock()
}

// wakeUp settles the receiver's last sleep when it did not receive its
// wake-up (a polled feed woke it, or it was halted): it moves itself from
// asleep to awake, or, when someone did so first, receives the wake-up
// they send at once. It returns a message handed over in it.
func (q *queue[M]) wakeUp() (envelope[M], bool) {
	if !q.awaitWake {
		return envelope[M]{}, false
	}
	q.awaitWake = false
	if w := q.rs.Load(); w&rMask == rAsleep && q.rs.CompareAndSwap(w, w&^rMask) {
		return envelope[M]{}, false
	}
	h := <-q.wake
	return h.e, h.ok
}

// woke records that the receiver received its wake-up from wake.
func (q *queue[M]) woke() { q.awaitWake = false }

// sleepHanded puts the receiver back to sleep, without the lock, after it
// handled a message handed over, and reports whether it did: not if
// anything was put, closed or halted since the hand-over (rouse moved it
// from handed to awake), and then the receiver must take. The receiver
// then waits on wake.
func (q *queue[M]) sleepHanded() bool {
	w := q.rs.Load()
	if w&rMask != rHanded || !q.rs.CompareAndSwap(w, (w&^rMask+q.pending*rOne)|rAsleep) {
		return false
	}
	q.pending = 0
	q.awaitWake = true
	return true
}

func (q *queue[M]) broadcast() {
	if q.waiters > 0 {
		close(q.space)
		q.space = nil // the next sender to wait makes another
		q.waiters = 0
	}
}

// grow doubles the ring, or makes it: small to start, so that an actor
// that takes messages one at a time costs little.
func (q *queue[M]) grow() {
	r := make([]envelope[M], max(2*len(q.ring), min(4, max(q.size, 1))))
	k := copy(r, q.ring[q.head:])
	copy(r[k:], q.ring[:q.head])
	q.ring, q.head = r, 0
}

// put adds e if the mailbox has room, and reports whether it did; the
// caller holds mu. A receiver asleep is handed e. That decides the room
// too: a sender without the lock may win the hand-over first, taking the
// room this one saw, and this one must look again. Once the receiver is
// seen awake or handling a message handed over, only the lock's holders
// change what the mailbox holds: the receiver may go back to sleep
// without it, but a message handed over after that replaces the one it
// had, as one counted.
func (q *queue[M]) put(e envelope[M]) bool {
	for q.n == 0 && q.rs.Load()&rMask == rAsleep {
		if q.hand(e) {
			return true
		}
	}
	if q.full() {
		return false
	}
	q.putBack(e)
	return true
}

// putBack appends e to the ring; the caller holds mu and has made sure
// that there is room and that the receiver is not asleep on an empty
// ring (put).
func (q *queue[M]) putBack(e envelope[M]) {
	if q.sample {
		if q.puts++; q.puts&q.sampleMask.Load() == 0 {
			e.at = now()
		}
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	i := q.head + q.n
	if i >= len(q.ring) {
		i -= len(q.ring)
	}
	q.ring[i] = e
	q.n++
	q.rouse()
}

func (q *queue[M]) popFront() envelope[M] {
	e := q.ring[q.head]
	q.ring[q.head] = envelope[M]{}
	q.head++
	if q.head == len(q.ring) {
		q.head = 0
	}
	q.n--
	return e
}

// push adds e. It returns the envelope a dropping mailbox dropped (e itself
// for DropNewest), ErrStopped when the mailbox takes no more messages,
// ErrMailboxFull when a Bounded mailbox is full and block is false, and
// ctx.Err() when ctx ended while it waited for room.
func (q *queue[M]) push(ctx context.Context, e envelope[M], block bool) (victim envelope[M], dropped bool, err error) {
	if q.hand(e) {
		return victim, false, nil
	}
	q.mu.Lock()
	for {
		if q.state != qOpen {
			q.mu.Unlock()
			return victim, false, ErrStopped
		}
		if q.put(e) {
			q.mu.Unlock()
			return victim, false, nil
		}
		switch q.policy {
		case policyDropNewest:
			q.mu.Unlock()
			return e, true, nil
		case policyDropOldest:
			// The actor takes one message at a time from a dropping mailbox
			// and does not count it, so a full one has n == size >= 1.
			victim = q.popFront()
			q.putBack(e)
			q.mu.Unlock()
			return victim, true, nil
		}
		if !block {
			q.mu.Unlock()
			return victim, false, ErrMailboxFull
		}
		if err := q.awaitSpace(ctx); err != nil {
			return victim, false, err
		}
	}
}

// awaitSpace waits for the receiver to make room in a full mailbox, or for
// ctx to end. It is called with mu held; it returns nil with mu held again,
// or ctx's error with mu released.
func (q *queue[M]) awaitSpace(ctx context.Context) error {
	if q.blocked != nil {
		if q.waits++; q.waits&q.sampleMask.Load() == 0 {
			// One wait in the sampling period, timed and counted for all
			// of them: an estimate, at a fraction of the clock reads.
			period := uint64(q.sampleMask.Load()) + 1
			t0 := now()
			defer func() { q.blocked.addBlocked(uint64(now()-t0) * period) }()
		}
	}
	space := q.waitSpace()
	q.mu.Unlock()
	select {
	case <-space:
		q.mu.Lock()
		return nil
	case <-ctx.Done():
		q.stopWaiting(space)
		return ctx.Err()
	}
}

// waitSpace registers the caller as a sender waiting for room and returns
// the channel the receiver closes when it next takes, or the mailbox stops
// or is halted; the caller holds mu.
func (q *queue[M]) waitSpace() chan struct{} {
	q.waiters++
	q.rouse() // the receiver must make room before it sleeps again
	if q.space == nil {
		q.space = make(chan struct{})
	}
	return q.space
}

// stopWaiting withdraws the registration of a sender that waited on space
// and no longer does (its ctx ended, or another mailbox made room first). It
// takes mu.
func (q *queue[M]) stopWaiting(space chan struct{}) {
	q.mu.Lock()
	if space == q.space { // else it was closed, and the count reset
		q.waiters--
	}
	q.mu.Unlock()
}

// room reports whether a Tell would not wait now: the mailbox has room,
// never blocks (dropping or Unbounded), or takes no more messages. If it
// would, room registers the caller as a waiting sender (waitSpace) and
// returns the channel to wait on; the caller must stopWaiting if it stops
// waiting before the channel is closed. TellAny waits on several this way.
func (q *queue[M]) room() (space chan struct{}, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != qOpen || q.policy != policyBounded || !q.full() {
		return nil, true
	}
	return q.waitSpace(), false
}

// pushAll adds es in order, as push with block does, under one lock for as
// many as there is room for: a feed handing over what its socket had queued.
// It returns how many it added; fewer than len(es) with ErrStopped, or
// ctx.Err() when ctx ended while it waited for room. Dropping mailboxes take
// them one by one (push), and it returns the dropped ones' envelopes.
func (q *queue[M]) pushAll(ctx context.Context, es []envelope[M]) (n int, dropped []envelope[M], err error) {
	if q.policy == policyDropNewest || q.policy == policyDropOldest {
		for _, e := range es {
			victim, drop, err := q.push(ctx, e, true)
			if drop {
				dropped = append(dropped, victim)
			}
			if err != nil {
				return n, dropped, err
			}
			n++
		}
		return n, dropped, nil
	}
	q.mu.Lock()
	for {
		if q.state != qOpen {
			q.mu.Unlock()
			return n, nil, ErrStopped
		}
		for n < len(es) && q.put(es[n]) {
			n++
		}
		if n == len(es) {
			q.mu.Unlock()
			return n, nil, nil
		}
		if err := q.awaitSpace(ctx); err != nil {
			return n, nil, err
		}
	}
}

// take appends up to maxBatch waiting messages to dst (one, for a dropping
// mailbox), a message handed over and not received first. done tells the
// receiver to return: it was halted or closed (dst holds a handed message
// of a closed mailbox, to dead-letter), or the mailbox is draining and
// empty. An empty batch that is not done means the receiver must wait on
// q.wake: it sleeps.
func (q *queue[M]) take(dst []envelope[M]) (batch []envelope[M], done bool) {
	q.mu.Lock()
	k := 0
	if e, ok := q.wakeUp(); ok {
		dst = append(dst, e)
		k = 1
	}
	// Awake or handed: only the receiver changes rs now (see rouse), and
	// it counts what it handled.
	rs := q.rs.Load()&^rMask + q.pending*rOne
	q.pending = 0
	q.inHand = 0
	if q.halt.Load() || q.state == qClosed {
		if k == 1 && q.state != qClosed { // for the next receiver
			q.pushFront(dst[len(dst)-1])
			dst = dst[:len(dst)-1]
		}
		q.rs.Store(rs)
		q.broadcast()
		q.mu.Unlock()
		return dst, true
	}
	limit := maxBatch
	if q.policy == policyDropNewest || q.policy == policyDropOldest {
		limit = 1
	}
	for ; k < limit && q.n > 0; k++ {
		dst = append(dst, q.popFront())
	}
	if q.policy == policyBounded {
		q.inHand = k
	}
	q.broadcast()
	if k == 0 {
		if q.state == qDraining {
			q.rs.Store(rs)
			q.mu.Unlock()
			return dst, true
		}
		rs |= rAsleep
		q.awaitWake = true
	}
	q.rs.Store(rs)
	q.mu.Unlock()
	return dst, false
}

// pushFront puts e before what the ring holds; the caller holds mu.
func (q *queue[M]) pushFront(e envelope[M]) {
	if q.n == len(q.ring) {
		q.grow()
	}
	q.head--
	if q.head < 0 {
		q.head = len(q.ring) - 1
	}
	q.ring[q.head] = e
	q.n++
}

// requeue puts messages the receiver took and did not handle back in front,
// in order, for the next incarnation. When the mailbox is closed it returns
// them instead, for the caller to report as dead letters.
func (q *queue[M]) requeue(es []envelope[M]) []envelope[M] {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inHand = 0
	if q.state == qClosed {
		return es
	}
	for i := len(es) - 1; i >= 0; i-- {
		q.pushFront(es[i])
	}
	return nil
}

// retire ends the receiver's turn, when its loop returns: what it handled
// is counted, and it is left awake, so that no message is handed over to
// a receiver that is gone (the next one, after a restart, takes what the
// ring holds). A message handed over that it did not receive goes back in
// front, or, when the mailbox is closed, is returned for the caller to
// dead-letter.
func (q *queue[M]) retire() []envelope[M] {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.wakeUp()
	q.rs.Store(q.rs.Load()&^rMask + q.pending*rOne)
	q.pending = 0
	q.inHand = 0 // what it had is handled, back in the ring, or dead
	switch {
	case !ok:
		return nil
	case q.state == qClosed:
		return []envelope[M]{e}
	}
	q.pushFront(e)
	return nil
}

// drain stops accepting messages; the receiver handles what is left, then
// returns.
func (q *queue[M]) drain() {
	q.mu.Lock()
	if q.state == qOpen {
		q.state = qDraining
	}
	q.broadcast()
	q.rouse()
	q.mu.Unlock()
}

// close stops accepting messages and halts the receiver after its current
// message. It returns what was waiting, for the caller to dead-letter; a
// message handed over and not handled the receiver dead-letters itself.
func (q *queue[M]) close() []envelope[M] {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != qClosed && q.closed != nil {
		close(q.closed)
	}
	q.state = qClosed
	q.halt.Store(true)
	var left []envelope[M]
	for q.n > 0 {
		left = append(left, q.popFront())
	}
	q.broadcast()
	q.rouse()
	return left
}

// closedChan returns a channel closed once the mailbox closes (close).
// It is made on demand: few actors have a feed that asks.
func (q *queue[M]) closedChan() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed == nil {
		q.closed = make(chan struct{})
		if q.state == qClosed {
			close(q.closed)
		}
	}
	return q.closed
}

// stopReceiver halts the receiver after its current message and keeps the
// mailbox open: a supervisor restarting a child.
func (q *queue[M]) stopReceiver() {
	q.mu.Lock()
	q.halt.Store(true)
	q.rouse()
	q.mu.Unlock()
}

// resume lets a new receiver run after stopReceiver.
func (q *queue[M]) resume() {
	q.mu.Lock()
	if q.state != qClosed {
		q.halt.Store(false)
	}
	q.mu.Unlock()
}

func (q *queue[M]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held()
}

// handledCount returns the number of messages handled, as of the
// receiver's last take, or its last return to sleep.
func (q *queue[M]) handledCount() uint64 { return q.rs.Load() / rOne }
