package socket

import (
	"context"
	"encoding/binary"
	"fmt"
)

// REQ and REP conversation states (Socket.state).
const (
	stIdle    int32 = iota // REQ may send; REP may receive
	stBusy                 // a call is under way
	stPending              // REQ awaits the reply; REP owes one
)

// Send sends one message, whole, according to the socket's type: to one peer
// round-robin (PUSH, DEALER, REQ), to every matching subscriber (PUB, XPUB),
// to the peer named by the first frame (ROUTER), back along the request's
// envelope (REP), or to the one peer (PAIR). See the Socket doc for when it
// blocks. m must have at least one frame and must not be modified afterwards.
func (s *Socket) Send(ctx context.Context, m Msg) error {
	err := s.sendMsg(ctx, m)
	if t := s.tel.Load(); t != nil && err == nil {
		t.sent(m)
	}
	return err
}

func (s *Socket) sendMsg(ctx context.Context, m Msg) error {
	if len(m) == 0 {
		return ErrEmptyMsg
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(m) > 1 && s.opts.conflate {
		return errConflateMultipart
	}
	switch s.typ {
	case Push, Dealer, Pair:
		_, err := s.sendLB(ctx, m)
		return err
	case Pub, XPub:
		topic := m[0]
		s.sendAll(m, func(p *pipe) bool { return s.wants(p, topic) })
		return nil
	case Router:
		return s.sendRouter(ctx, m)
	case Req:
		return s.sendReq(ctx, m)
	case Rep:
		return s.sendRep(m)
	case XSub:
		if len(m) == 1 && len(m[0]) > 0 && m[0][0] <= subscribeByte {
			s.updateSubs(m)
			return nil
		}
		s.sendAll(m, nil)
		return nil
	}
	return fmt.Errorf("%w: Send on %v", ErrNotSupported, s.typ)
}

// Publish is Send for PUB and XPUB that also reports how many matching
// subscribers missed m because they were at their high-water mark. libzmq
// drops those silently; the count lets a caller report each miss. It never
// blocks. On other socket types it returns ErrNotSupported.
func (s *Socket) Publish(m Msg) (missed int, err error) {
	if len(m) == 0 {
		return 0, ErrEmptyMsg
	}
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if s.typ != Pub && s.typ != XPub {
		return 0, fmt.Errorf("%w: Publish on %v", ErrNotSupported, s.typ)
	}
	if len(m) > 1 && s.opts.conflate {
		return 0, errConflateMultipart
	}
	topic := m[0]
	missed = s.sendAll(m, func(p *pipe) bool { return s.wants(p, topic) })
	if t := s.tel.Load(); t != nil {
		t.sent(m)
	}
	return missed, nil
}

// errConflateMultipart refuses what libzmq's ZMQ_CONFLATE does not support.
var errConflateMultipart = fmt.Errorf("%w: a conflating socket sends single-frame messages only", ErrNotSupported)

// sendRouter routes by the first frame, which is not sent.
func (s *Socket) sendRouter(ctx context.Context, m Msg) error {
	if len(m) < 2 {
		return fmt.Errorf("%w: ROUTER needs an identity frame and a body", ErrEmptyMsg)
	}
	s.mu.RLock()
	p := s.routes[string(m[0])]
	s.mu.RUnlock()
	if p == nil {
		if s.opts.routerMandatory {
			return fmt.Errorf("%w: %q", ErrHostUnreachable, m[0])
		}
		s.drop(nil, "no peer with that routing identity")
		return nil
	}
	return s.sendRouted(ctx, p, m)
}

// sendRouted sends m's body to p, the peer its identity frame named when
// looked up: p may have left, or been replaced by a new peer, since. A
// replaced peer's identity is the new peer's, and so is the message: libzmq
// looks the route up as it sends, and would find the new peer.
func (s *Socket) sendRouted(ctx context.Context, p *pipe, m Msg) error {
	body := m[1:]
	if p.replaced.Load() {
		p = s.heir(p, m[0])
	}
	if p.trySend(body) {
		return nil
	}
	if p.replaced.Load() { // as it was sent
		if p = s.heir(p, m[0]); p.trySend(body) {
			return nil
		}
	}
	if !s.opts.routerMandatory {
		if p.replaced.Load() {
			s.dropFor(p, errDropHandedOver)
		} else {
			s.drop(p, p.refusal())
		}
		return nil
	}
	for {
		changed, room := s.waitChanged(), s.room.wait()
		if p.gone.Load() {
			if !p.replaced.Load() {
				return fmt.Errorf("%w: %q", ErrHostUnreachable, m[0])
			}
			next := s.heir(p, m[0])
			if next == p {
				return fmt.Errorf("%w: %q: %w", ErrHostUnreachable, m[0], ErrHandedOver)
			}
			p = next
		}
		if p.trySend(body) {
			return nil
		}
		if err := s.waitRoom(ctx, changed, room); err != nil {
			return err
		}
	}
}

// heir returns the peer that holds the identity id, which p held until a
// new peer took it over (WithRouterHandover), or p if none holds it now.
// The new peer's route is in place once p is marked replaced (see attach).
func (s *Socket) heir(p *pipe, id []byte) *pipe {
	s.mu.RLock()
	q := s.routes[string(id)]
	s.mu.RUnlock()
	if q == nil {
		return p
	}
	return q
}

// sendReq sends a request with the empty delimiter frame in front, and
// with WithReqCorrelate the request id before that. With WithReqRelaxed a
// request may replace one still awaiting its reply: the old one is
// abandoned, and the replies already queued are discarded (one that
// arrives later from the same peer is told apart only by the request id).
func (s *Socket) sendReq(ctx context.Context, m Msg) error {
	if !s.state.CompareAndSwap(stIdle, stBusy) {
		if !s.opts.reqRelaxed || !s.state.CompareAndSwap(stPending, stBusy) {
			return fmt.Errorf("%w: REQ must receive the reply before sending again", ErrState)
		}
		s.reqPipe = nil
		s.discardQueued()
	}
	req := make(Msg, 0, len(m)+2)
	if s.opts.reqCorrelate {
		s.reqID++
		req = append(req, binary.BigEndian.AppendUint32(nil, s.reqID))
	}
	req = append(req, []byte{})
	req = append(req, m...)
	p, err := s.sendLB(ctx, req)
	if err != nil {
		s.state.Store(stIdle)
		return err
	}
	s.reqPipe = p
	s.state.Store(stPending)
	return nil
}

// sendRep sends the reply back to where the request came from. A requester
// that has gone, or is at its high-water mark, loses the reply (libzmq does
// the same): the drop is counted and reported.
func (s *Socket) sendRep(m Msg) error {
	if !s.state.CompareAndSwap(stPending, stBusy) {
		return fmt.Errorf("%w: REP must receive a request before replying", ErrState)
	}
	p, env := s.repPipe, s.repEnv
	s.repPipe, s.repEnv = nil, nil
	reply := make(Msg, 0, len(env)+len(m))
	reply = append(reply, env...)
	reply = append(reply, m...)
	if !p.trySend(reply) {
		s.drop(p, "requester gone or at high-water mark")
	}
	s.state.Store(stIdle)
	return nil
}
