package socket

import "slices"

// StopReceiving ends the socket's receive side and keeps its send side: a
// server that answers (ROUTER, REP, PAIR) can account for every message it
// received, then linger for its replies without taking in more.
//
// After it, no message is added to the socket's receive queues. What a tcp
// or ipc peer sends is still read off the wire, so that the connection
// lives on for what the socket sends (heartbeats included), and is
// discarded at once, counted in Stats().Unreceived: it is lost as libzmq
// loses what is on the wire when a socket closes. An inproc peer's Send is
// refused as if the queue were full: the peer sends elsewhere (PUSH,
// DEALER), waits within its ctx, or drops and counts (PUB), as it would
// for a full peer. A PUB or XPUB still applies the subscriptions it reads,
// for what it sends; an XPUB queues none of them for Recv any more. What
// was queued before it stays, for Recv, TryRecv, TryRecvBatch and Poll;
// once that is taken, TryRecv returns ErrWouldBlock and Recv waits until
// its ctx ends or the socket closes. Stats().Queued then counts exactly
// what is left to take: nothing is added to it.
//
// It may be called from any goroutine, at any time, more than once (later
// calls do nothing); it does not block, but for the socket's locks, and
// it cannot be undone. It returns without error on a closed socket, which
// receives nothing anyway.
func (s *Socket) StopReceiving() {
	// Under the inproc registry's lock, so that no link is being made: a
	// link made after sees the flag (see newPipe). Under s.mu, so that a
	// pipe is either among those stopped here or attached after the flag
	// is set (see attach).
	r := &inprocs
	r.mu.Lock()
	s.mu.Lock()
	first := !s.recvStopped.Swap(true)
	pipes := slices.Clone(s.pipes)
	s.mu.Unlock()
	r.mu.Unlock()
	if !first {
		return
	}
	for _, p := range pipes {
		if p.inq != nil {
			p.inq.stop()
			p.inRoom.notify() // a reader waiting for room reads on, and discards
		}
	}
	// A pipe detached before (its peer left) keeps what it queued for
	// Recv; nothing adds to it: a tcp pipe's reader has ended, an inproc
	// one is sealed.
}

// stop makes a receive queue take nothing more (StopReceiving); it keeps
// what it holds for the consumer. Under q.mu, so that each put is either
// in before, to be received, or refused.
func (q *queue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
}
