package socket

import (
	"context"
	"encoding/binary"
	"fmt"
)

// Recv receives one message, whole. ROUTER puts the sender's identity in
// front; REQ and REP take off the envelope (REP keeps it for the reply); SUB
// passes only messages whose first frame matches a subscription; XPUB returns
// subscription messages (0x01 or 0x00, then the prefix) and anything else
// its subscribers send.
func (s *Socket) Recv(ctx context.Context) (Msg, error) {
	m, err := s.recvMsg(ctx)
	if t := s.tel.Load(); t != nil && err == nil {
		t.received(m)
	}
	return m, err
}

func (s *Socket) recvMsg(ctx context.Context) (Msg, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	switch s.typ {
	case Push, Pub:
		return nil, fmt.Errorf("%w: Recv on %v", ErrNotSupported, s.typ)
	case Req:
		return s.recvReq(ctx)
	case Rep:
		return s.recvRep(ctx)
	}
	for {
		p, m, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		switch s.typ {
		case Router:
			withID := make(Msg, 0, len(m)+1)
			return append(append(withID, p.id), m...), nil
		case Sub:
			if s.subs.match(m[0]) == s.opts.invertMatching {
				continue // from an XPUB, or sent before a cancel arrived
			}
		case XPub:
			if s.opts.xpubManual {
				s.received(p, m)
			}
		}
		return m, nil
	}
}

// recvReq returns the reply to the outstanding request, dropping anything
// from other peers or without the delimiter (late replies to requests a
// reconnect lost, for instance).
func (s *Socket) recvReq(ctx context.Context) (Msg, error) {
	if !s.state.CompareAndSwap(stPending, stBusy) {
		return nil, fmt.Errorf("%w: REQ must send a request before receiving", ErrState)
	}
	for {
		p, m, err := s.next(ctx)
		if err != nil {
			s.state.Store(stPending)
			return nil, err
		}
		if p != s.reqPipe {
			continue
		}
		if s.opts.reqCorrelate {
			// The id of the outstanding request, or a late reply to an
			// abandoned one (WithReqRelaxed).
			if len(m) < 2 || len(m[0]) != 4 || binary.BigEndian.Uint32(m[0]) != s.reqID {
				continue
			}
			m = m[1:]
		}
		if len(m) < 2 || len(m[0]) != 0 {
			continue
		}
		s.reqPipe = nil
		s.state.Store(stIdle)
		return m[1:], nil
	}
}

// discardQueued drops every message received and not yet taken: replies to
// a REQ request that was abandoned (WithReqRelaxed).
func (s *Socket) discardQueued() {
	for {
		if _, _, ok := s.fq.take(); !ok {
			return
		}
	}
}

// recvRep returns the next request's body and keeps its envelope (every frame
// up to and including the empty delimiter) for the reply. A message without a
// delimiter is not a request and is dropped.
func (s *Socket) recvRep(ctx context.Context) (Msg, error) {
	if !s.state.CompareAndSwap(stIdle, stBusy) {
		return nil, fmt.Errorf("%w: REP must reply before receiving again", ErrState)
	}
	for {
		p, m, err := s.next(ctx)
		if err != nil {
			s.state.Store(stIdle)
			return nil, err
		}
		i := 0
		for i < len(m) && len(m[i]) != 0 {
			i++
		}
		if i >= len(m)-1 {
			continue // no delimiter, or nothing after it
		}
		s.repPipe, s.repEnv = p, m[:i+1]
		s.state.Store(stPending)
		return m[i+1:], nil
	}
}

// inbound hands a message read from peer p to the application, waiting while
// p's receive queue is full (which stops reading from p: back-pressure).
// PUB and XPUB take subscriptions here. It returns false if stop was closed
// while waiting. A message it does not queue is released from the receive
// budget here; one it queues, as it leaves the queue.
func (s *Socket) inbound(p *pipe, m Msg, stop <-chan struct{}) bool {
	switch s.typ {
	case Pub:
		s.onSubscription(p, m)
		s.budget.released(m)
		return true
	case XPub:
		if isSubscription(m) && !s.onSubscription(p, m) {
			s.budget.released(m)
			return true
		}
	}
	if p.inq == nil {
		s.budget.released(m)
		return true // a peer sending to a send-only socket: ignore it
	}
	if !p.inq.tryPut(m) {
		p.held.Store(true)
		defer p.held.Store(false)
		for {
			// StopReceiving sets the flag before it stops the queue, and
			// then wakes the wait for room.
			if s.recvStopped.Load() {
				s.budget.released(m)
				s.unreceived.Add(1)
				return true // read on: the writer may still linger
			}
			room := p.inRoom.wait()
			if p.inq.tryPut(m) {
				break
			}
			select {
			case <-room:
			case <-stop:
				s.budget.released(m)
				return false
			case <-s.closing:
				// Nobody will Recv it; keep reading so the writer can linger.
				s.budget.released(m)
				return true
			}
		}
	}
	s.fq.ready(p)
	return true
}

// inprocDeliver is an inproc peer's send into this socket through pipe p (our
// end). It never waits: false means no room now.
func (s *Socket) inprocDeliver(p *pipe, m Msg) bool {
	switch s.typ {
	case Pub:
		s.onSubscription(p, m)
		return true
	case XPub:
		if isSubscription(m) {
			if s.onSubscription(p, m) {
				if hook := inprocAppliedSub.Load(); hook != nil {
					(*hook)(p)
				}
				// Applied, so the application hears of it even from a
				// peer that left as it subscribed: the cancel that
				// xpubPeerGone passes on must not come alone.
				s.queueUp(p, m)
			}
			return true
		}
		put := p.inq.tryPut(m)
		if !put && (p.gone.Load() || s.recvStopped.Load()) {
			return false // detached as it was sent (see queue.seal), or refused (StopReceiving)
		}
		s.afterPut(p, m, put)
		return true
	}
	if !p.inq.tryPut(m) {
		return false
	}
	s.fq.ready(p)
	s.afterSweep(p)
	return true
}

// queueUp gives the application an XPUB message about subscriptions (a
// subscriber's own, or its cancels as it leaves) without waiting, even
// from a pipe detached since (see queue.seal); one that finds the receive
// queue full is dropped and reported.
func (s *Socket) queueUp(p *pipe, m Msg) {
	s.afterPut(p, m, p.inq.tryPutOwn(m))
}

// afterPut lists p for Recv if m went into its queue (put), and otherwise
// reports m dropped.
func (s *Socket) afterPut(p *pipe, m Msg, put bool) {
	if put {
		s.fq.ready(p)
		s.afterSweep(p)
		return
	}
	if s.recvStopped.Load() {
		s.drop(p, "XPUB stopped receiving")
		return
	}
	s.drop(p, "XPUB receive queue full")
}

func isSubscription(m Msg) bool {
	return len(m) == 1 && len(m[0]) > 0 && m[0][0] <= subscribeByte
}
