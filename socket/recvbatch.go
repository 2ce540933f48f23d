package socket

import "errors"

// TryRecvBatch takes up to max messages that are queued now, without
// waiting, and returns dst with them appended in the order Recv would have
// returned them. It is what max calls of TryRecv would take, stopping at
// the first that finds nothing, but a socket with one peer (a worker's
// PULL, a PAIR) takes them from the peer's queue under one lock rather
// than one lock each: for a loop that receives in bursts, as an actor
// polling its mailbox does. Nothing queued is no error: dst comes back as
// it was (as it does for a max below 1). It returns ErrClosed after Close
// (with what it took before it found the socket closed, if anything), and
// ErrState or ErrNotSupported as Recv does.
//
// Like TryRecv, it may be called from any goroutine, and concurrent
// receivers (Recv, TryRecv, TryRecvBatch) share out the messages, each
// taken once; one receiver's batch is in order, but with several the order
// between batches is theirs to keep. It never blocks, starts no goroutine,
// and high-water marks, profiling and telemetry count each message as
// Recv would.
func (s *Socket) TryRecvBatch(dst []Msg, max int) ([]Msg, error) {
	if !s.plainRecv() {
		return s.tryRecvEach(dst, max)
	}
	for n := 0; n < max; {
		if err := s.checkOpen(); err != nil {
			return dst, err
		}
		from := len(dst)
		if p := s.only(); p != nil {
			dst = p.inq.getN(dst, max-n)
		}
		if len(dst) == from {
			// Other peers have messages too, or none has: one in turn, as
			// Recv takes them, which also takes empty pipes off the turn
			// list so that the next message wakes Readable.
			_, m, ok := s.fq.take()
			if !ok {
				break
			}
			dst = append(dst, m)
		}
		dst = s.keepReceived(dst, from)
		n += len(dst) - from
	}
	return dst, nil
}

// plainRecv reports whether Recv returns every message as it was queued
// (SUB dropping those no subscription matches): the types TryRecvBatch
// takes from the queues itself.
func (s *Socket) plainRecv() bool {
	switch s.typ {
	case Pull, Pair, Dealer, Sub, XSub:
		return true
	}
	return false
}

// keepReceived does what Recv does with the messages dst[from:] it took: SUB
// drops those no subscription matches, and telemetry counts the rest.
func (s *Socket) keepReceived(dst []Msg, from int) []Msg {
	if s.typ == Sub {
		kept := from
		for _, m := range dst[from:] {
			if s.subs.match(m[0]) != s.opts.invertMatching {
				dst[kept] = m
				kept++
			}
		}
		clear(dst[kept:])
		dst = dst[:kept]
	}
	if t := s.tel.Load(); t != nil {
		for _, m := range dst[from:] {
			t.received(m)
		}
	}
	return dst
}

// tryRecvEach is TryRecvBatch for the types whose Recv does more than take
// a message (ROUTER, REQ, REP, XPUB): TryRecv, max times at most.
func (s *Socket) tryRecvEach(dst []Msg, max int) ([]Msg, error) {
	for range max {
		m, err := s.TryRecv()
		if errors.Is(err, ErrWouldBlock) {
			break
		}
		if err != nil {
			return dst, err
		}
		dst = append(dst, m)
	}
	return dst, nil
}

// getN appends up to max messages to dst, as as many calls of get would,
// under one hold of the consumer's lock. (get's body is its own, not a call
// of a shared one: Recv's path is the hotter.)
func (q *queue) getN(dst []Msg, max int) []Msg {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	lwm := int(q.lwm.Load())
	for range max {
		if q.pos == len(q.batch) && !q.refill() {
			break
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
		if q.taken++; q.taken >= lwm {
			q.report(false)
		}
		dst = append(dst, m)
	}
	return dst
}
