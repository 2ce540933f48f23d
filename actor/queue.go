package actor

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
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
// The first message told to a sleeping receiver is handed over in its
// wake-up instead of going through the ring: the receiver starts on it
// without taking the lock, which halves the lock round trips of a
// request-reply exchange (Ask). A handed message counts as taken (inHand);
// whatever is put after it goes to the ring, so it is always the oldest.
// Senders blocked on a full Bounded mailbox sleep on space, a channel that is
// closed (and replaced) to wake them all.
type queue[M any] struct {
	mu       sync.Mutex
	ring     []envelope[M]
	head, n  int
	size     int // capacity; 0 for Unbounded
	policy   policy
	inHand   int // Bounded: taken in the current batch, counted until the next take
	state    qstate
	halt     atomic.Bool // written under mu; the receiver polls it between messages
	sleeping bool
	wake     chan handoff[M] // capacity 1: the receiver's alarm, with a message or not
	waiters  int
	space    chan struct{}
	// handled counts the messages the receiver handled, under mu: it adds
	// the ones of a batch (pending, its own) at its next take, which holds
	// mu anyway, so that counting costs no atomic operation of its own.
	handled, pending uint64
	// When profiled: a sample of the messages put is stamped here, under
	// mu, where counting them is free, and a sample of the waits for room
	// is timed into blocked, in nanoseconds. sampleMask+1 is the sampling
	// period, a power of two that the profiler adapts to the actor's rate.
	sample      bool
	puts, waits uint32
	sampleMask  atomic.Uint32
	blocked     *telemetry.Counter
}

func newQueue[M any](m Mailbox) *queue[M] {
	m = m.normal()
	q := &queue[M]{policy: m.policy, wake: make(chan handoff[M], 1), space: make(chan struct{})}
	if m.policy != policyUnbounded {
		q.size = m.size
	}
	// Small to start, doubling as it fills: an idle actor costs little.
	q.ring = make([]envelope[M], min(4, max(q.size, 1)))
	return q
}

func (q *queue[M]) full() bool { return q.size > 0 && q.n+q.inHand >= q.size }

// handoff is a wake-up, carrying the message that woke the receiver when
// ok (see queue).
type handoff[M any] struct {
	e  envelope[M]
	ok bool
}

// signal wakes the receiver if it sleeps; a wake-up already pending will do.
func (q *queue[M]) signal() {
	select {
	case q.wake <- handoff[M]{}:
	default:
	}
}

// hand gives e to the sleeping receiver with its wake-up; the caller holds
// mu, has checked for room and found the receiver sleeping, so the ring is
// empty. It fails only when a stale wake-up is pending: then e goes in the
// ring, which the receiver, woken, reads.
func (q *queue[M]) hand(e envelope[M]) bool {
	select {
	case q.wake <- handoff[M]{e, true}:
	default:
		return false
	}
	q.sleeping = false
	if q.policy == policyBounded {
		q.inHand = 1
	}
	return true
}

// takeHanded returns a message handed over that the receiver has not
// received from wake: it waited on something else too (a polled feed) or
// was woken by a stale wake-up first. It comes before all the ring holds.
// The caller holds mu.
func (q *queue[M]) takeHanded() (envelope[M], bool) {
	select {
	case h := <-q.wake:
		return h.e, h.ok
	default:
		return envelope[M]{}, false
	}
}

func (q *queue[M]) broadcast() {
	if q.waiters > 0 {
		close(q.space)
		q.space = make(chan struct{})
		q.waiters = 0
	}
}

func (q *queue[M]) grow() {
	r := make([]envelope[M], 2*len(q.ring))
	k := copy(r, q.ring[q.head:])
	copy(r[k:], q.ring[:q.head])
	q.ring, q.head = r, 0
}

// putBack appends e; the caller holds mu and has checked for room.
func (q *queue[M]) putBack(e envelope[M]) {
	if q.sample {
		if q.puts++; q.puts&q.sampleMask.Load() == 0 {
			e.at = now()
		}
	}
	if q.sleeping && q.n == 0 && q.hand(e) {
		return
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
	if q.sleeping {
		q.sleeping = false
		q.signal()
	}
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
	q.mu.Lock()
	for {
		if q.state != qOpen {
			q.mu.Unlock()
			return victim, false, ErrStopped
		}
		if !q.full() {
			q.putBack(e)
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
			defer func() { q.blocked.Add(uint64(now()-t0) * period) }()
		}
	}
	q.waiters++
	space := q.space
	q.mu.Unlock()
	select {
	case <-space:
		q.mu.Lock()
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		if space == q.space {
			q.waiters--
		}
		q.mu.Unlock()
		return ctx.Err()
	}
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
		for n < len(es) && !q.full() {
			q.putBack(es[n])
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
// mailbox). done tells the receiver to return: it was halted or closed, or
// the mailbox is draining and empty. An empty batch that is not done means
// the receiver must wait on q.wake.
func (q *queue[M]) take(dst []envelope[M]) (batch []envelope[M], done bool) {
	q.mu.Lock()
	q.handled += q.pending
	q.pending = 0
	q.inHand = 0
	q.sleeping = false
	if q.halt.Load() || q.state == qClosed {
		// A message handed over and not received stays in wake, for
		// the next receiver (a restart) or for close to dead-letter.
		q.broadcast()
		q.mu.Unlock()
		return dst, true
	}
	k := 0
	if e, ok := q.takeHanded(); ok {
		dst = append(dst, e)
		k = 1
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
			q.mu.Unlock()
			return dst, true
		}
		q.sleeping = true
	}
	q.mu.Unlock()
	return dst, false
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
		if q.n == len(q.ring) {
			q.grow()
		}
		q.head--
		if q.head < 0 {
			q.head = len(q.ring) - 1
		}
		q.ring[q.head] = es[i]
		q.n++
	}
	return nil
}

// drain stops accepting messages; the receiver handles what is left, then
// returns.
func (q *queue[M]) drain() {
	q.mu.Lock()
	if q.state == qOpen {
		q.state = qDraining
	}
	q.sleeping = false
	q.broadcast()
	q.signal()
	q.mu.Unlock()
}

// close stops accepting messages and halts the receiver after its current
// message. It returns what was waiting, for the caller to dead-letter.
func (q *queue[M]) close() []envelope[M] {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.state = qClosed
	q.halt.Store(true)
	q.sleeping = false
	var left []envelope[M]
	if e, ok := q.takeHanded(); ok { // the receiver will not see it now
		left = append(left, e)
	}
	for q.n > 0 {
		left = append(left, q.popFront())
	}
	q.broadcast()
	q.signal()
	return left
}

// stopReceiver halts the receiver after its current message and keeps the
// mailbox open: a supervisor restarting a child.
func (q *queue[M]) stopReceiver() {
	q.mu.Lock()
	q.halt.Store(true)
	q.sleeping = false
	q.signal()
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
	return q.n + q.inHand
}

// count adds the receiver's pending count of handled messages; the
// receiver calls it when it returns, having no next take.
func (q *queue[M]) count() {
	q.mu.Lock()
	q.handled += q.pending
	q.pending = 0
	q.mu.Unlock()
}

// handledCount returns the number of messages handled, as of the
// receiver's last take.
func (q *queue[M]) handledCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.handled
}
