package socket

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// recvBudget bounds the bytes a socket holds received from its tcp and ipc
// peers, over all of them (WithRecvBudget): the messages in its receive
// queues, and those its readers are reading. The receive high-water mark
// bounds each peer's queue in messages; this bounds their sum in bytes,
// whatever the number of peers.
//
// A reader charges each frame as it admits it, before the frame's body is
// allocated (see wire.charge), so that what a message costs is charged
// before it is held; a frame read in chunks is charged for them too until
// it is whole. The message is released as it leaves the socket's
// hands: as Recv takes it from its queue, or as the socket drops it.
// What a message is charged is msgCharge of its frames as the reader made
// them: the reader settles its charges to that once the message is whole
// (see wire.settle), and the message is released at that figure as it
// leaves its queue, where nobody but the reader and the queue has held it.
//
// A reader whose frame does not fit waits, and reads nothing from its
// stream meanwhile: the peer's kernel buffers fill, then its high-water
// mark holds its sender, as when the receive queue is full. Readers waiting
// are granted room in the order they came (but for the overdraft, which
// goes to the first of them that has begun a message). Two exceptions keep the socket
// from stopping for good, each letting the level pass the bound by one
// message at most:
//   - a message larger than the whole budget is let in once nothing is
//     held, and
//   - one reader at a time may finish a message it has begun past the
//     bound (the overdraft, over), if the level is within the bound when it
//     takes it. Without it, readers that each hold part of a message and
//     wait for room to read the rest could hold the whole budget between
//     them, with nothing whole for Recv to take and free. With it, those
//     waiters hold at most the bound between them (their frames were
//     granted within it), so that once Recv has taken the messages that
//     are whole, one of them can go on; and as nothing else is granted
//     past the bound, the level passes it by one message at most.
//
// Once the socket closes, nothing waits any more (see close).
//
// All methods are safe for concurrent use.
type recvBudget struct {
	limit   int64
	level   atomic.Int64 // bytes charged and not released
	waiting atomic.Int32 // len(waiters), for release's fast path

	mu      sync.Mutex
	waiters []*budgetWaiter      // in the order they came
	over    atomic.Pointer[wire] // the reader finishing a message past the bound; written under mu
	closed  bool
}

// budgetWaiter is a reader waiting for room: granted is closed once its n
// bytes are charged.
type budgetWaiter struct {
	w       *wire
	n       int64
	mid     bool // w has begun a message
	granted chan struct{}
}

func newRecvBudget(limit int64) *recvBudget { return &recvBudget{limit: limit} }

// msgCharge is what a message read from a peer is charged: its payload, and
// frameCost a frame for what holding the frame costs beside (its slot, its
// allocation's rounding). Admitted frames are charged the same (see
// wire.charge).
func msgCharge(m Msg) int64 {
	var n int64
	for _, f := range m {
		n += int64(len(f)) + frameCost
	}
	return n
}

// acquire charges n bytes for reader w, waiting while they do not fit, until
// stop is closed (then it returns errConnStopped). mid says w has begun a
// message: it may then take the overdraft.
func (b *recvBudget) acquire(w *wire, n int64, mid bool, stop <-chan struct{}) error {
	if b.waiting.Load() == 0 {
		for l := b.level.Load(); l+n <= b.limit; l = b.level.Load() {
			if b.level.CompareAndSwap(l, l+n) {
				return nil
			}
		}
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.grantLocked(w, n, mid) || b.over.Load() == w && b.grantLocked(w, n, mid) {
		b.mu.Unlock()
		return nil
	}
	wt := &budgetWaiter{w: w, n: n, mid: mid, granted: make(chan struct{})}
	b.waiters = append(b.waiters, wt)
	b.waiting.Add(1)
	// A release between the look above and the count it reads may not have
	// seen us waiting: look again, now that it would.
	b.wakeLocked()
	b.mu.Unlock()

	if w.holding != nil {
		w.holding.Store(true) // the heartbeat cannot judge a peer we do not read
		defer w.holding.Store(false)
	}
	select {
	case <-wt.granted:
		return nil
	case <-stop:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-wt.granted: // granted as it stopped: the caller holds it, and releases it with the message
		return nil
	default:
	}
	b.waiters = slices.DeleteFunc(b.waiters, func(x *budgetWaiter) bool { return x == wt })
	b.waiting.Add(-1)
	b.wakeLocked() // it may have been first, holding the others back
	return errConnStopped
}

// grantLocked charges n for w if the rules allow it now (see recvBudget);
// w is first in line. b.mu is held.
func (b *recvBudget) grantLocked(w *wire, n int64, mid bool) bool {
	l := b.level.Load()
	switch over := b.over.Load(); {
	case b.closed, l+n <= b.limit, over == w:
	case l == 0, mid && over == nil && l <= b.limit:
		b.over.Store(w) // for the rest of the message (see recvBudget)
	default:
		return false
	}
	b.level.Add(n)
	return true
}

// wakeLocked grants the waiters what fits, in order; and, if the overdraft
// is free, gives it to the first waiter that has begun a message. b.mu is
// held.
func (b *recvBudget) wakeLocked() {
	granted := 0
	for _, wt := range b.waiters {
		if !b.grantLocked(wt.w, wt.n, wt.mid) {
			break
		}
		close(wt.granted)
		granted++
	}
	b.waiters = slices.Delete(b.waiters, 0, granted)
	if b.over.Load() == nil && b.level.Load() <= b.limit {
		for i, wt := range b.waiters {
			if wt.mid {
				b.over.Store(wt.w)
				b.level.Add(wt.n)
				close(wt.granted)
				b.waiters = slices.Delete(b.waiters, i, i+1)
				granted++
				break
			}
		}
	}
	b.waiting.Add(-int32(granted))
}

// release gives back n bytes, waking the waiters they make room for.
func (b *recvBudget) release(n int64) {
	b.level.Add(-n)
	if b.waiting.Load() > 0 {
		b.mu.Lock()
		b.wakeLocked()
		b.mu.Unlock()
	}
}

// endMsg is told by reader w that its message is whole or abandoned: the
// overdraft, if w had it, is free for another.
func (b *recvBudget) endMsg(w *wire) {
	if b.over.Load() != w {
		return
	}
	b.mu.Lock()
	b.over.Store(nil)
	b.wakeLocked()
	b.mu.Unlock()
}

// close lets every reader on: once Close has begun nobody takes what they
// read, and the readers read on only so that the writers can linger (see
// inbound).
func (b *recvBudget) close() {
	b.mu.Lock()
	b.closed = true
	b.wakeLocked()
	b.mu.Unlock()
}

// errConnStopped is why a reader waiting for room stopped: its connection
// is ending, and the error goes no further than the reader.
var errConnStopped = fmt.Errorf("%w: connection ended while waiting for room in the receive budget", ErrClosed)

// charge charges a frame of size bytes, admitted for the message being read,
// before its body is allocated: as msgCharge counts it, and for a frame
// over growStep, the half again its chunks cost while it is read (see
// readBody), given back by bodyRead. mid says frames of the message were
// charged already.
func (w *wire) charge(size uint64, mid bool) error {
	n := int64(size) + frameCost + chunkCost(size)
	if err := w.recvBudget.acquire(w, n, mid, w.stop); err != nil {
		return err
	}
	w.held += n
	return nil
}

// bodyRead gives back the chunks' charge once a frame's body is read whole.
func (w *wire) bodyRead(size uint64) {
	if n := chunkCost(size); n > 0 {
		w.held -= n
		w.recvBudget.release(n)
	}
}

// chunkCost is what readBody allocates for a frame of size bytes beside
// the frame itself.
func chunkCost(size uint64) int64 {
	if size > growStep {
		return int64(size / 2)
	}
	return 0
}

// uncharge gives back a frame's charge, its body read: a CURVE command,
// admitted as a frame and then taken out of the stream.
func (w *wire) uncharge(size uint64) {
	n := int64(size) + frameCost
	w.held -= n
	w.recvBudget.release(n)
}

// settle ends the charges of the message being read: once it is whole (m),
// the reader holds msgCharge(m), which is released as m leaves the socket;
// if reading it failed (err), everything charged is given back.
func (w *wire) settle(m Msg, err error) {
	keep := int64(0)
	if err == nil {
		keep = msgCharge(m)
	}
	if extra := w.held - keep; extra != 0 {
		w.recvBudget.release(extra) // a negative extra charges what was missed, so that release balances
	}
	w.held = 0
	w.recvBudget.endMsg(w)
}

// released gives back what a message read from a tcp or ipc peer was
// charged, as the socket drops it or hands it to Recv. A nil budget is
// none.
func (b *recvBudget) released(m Msg) {
	if b != nil {
		b.release(msgCharge(m))
	}
}
