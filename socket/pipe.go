package socket

import (
	"context"
	"encoding/binary"
	"reflect"
	"sync"
	"sync/atomic"
)

// pipe is one peer of a socket, as libzmq's pipe_t: the queue of messages
// for that peer and what the socket knows of it.
//
// A tcp or ipc pipe has its own queue (out), drained by the writer goroutine
// of whichever connection currently serves it; a pipe made by Connect outlives
// its connections, as libzmq's do, so messages sent while the peer is away wait
// for the reconnect. An inproc pipe has no send queue: sending puts the
// message straight into the receive queue of the peer's end (remote).
type pipe struct {
	s        *Socket
	endpoint string
	out      chan Msg    // tcp/ipc: messages for the peer
	inq      chan Msg    // messages from the peer, for Recv (see fairQueue)
	listed   atomic.Bool // on the fair queue's turn list
	remote   *pipe       // inproc: the peer's end
	id       []byte      // the peer's routing identity (ROUTER)
	peerID   []byte      // the identity the peer announced, if any
	gone     atomic.Bool // detached: sending to it is pointless

	subMu  sync.Mutex
	subs   map[string]struct{} // PUB/XPUB: the peer's subscriptions
	all    atomic.Bool         // PUB/XPUB: the peer subscribed to everything
	maxSub int
}

func (s *Socket) newPipe(endpoint string, queued bool) *pipe {
	p := &pipe{s: s, endpoint: endpoint}
	if s.typ == Pub || s.typ == XPub {
		// Made here, not in attach: an inproc subscriber may subscribe
		// through its end before ours is attached.
		p.subs = make(map[string]struct{})
	}
	if queued {
		p.out = make(chan Msg, s.opts.sendHWM)
	}
	if s.typ.canRecv() {
		p.inq = make(chan Msg, s.opts.recvHWM)
	}
	return p
}

// ch returns the channel a message for this pipe goes into; after a send on
// it, call sent.
func (p *pipe) ch() chan Msg {
	if p.out != nil {
		return p.out
	}
	return p.remote.inq
}

// sent tells an inproc peer that a message went into its queue.
func (p *pipe) sent() {
	if p.out == nil {
		p.remote.s.fq.ready(p.remote)
	}
}

// trySend queues m for the peer if there is room, without waiting.
func (p *pipe) trySend(m Msg) bool {
	if p.out != nil {
		select {
		case p.out <- m:
			return true
		default:
			return false
		}
	}
	r := p.remote
	if r.gone.Load() {
		return false
	}
	return r.s.inprocDeliver(r, m)
}

// detach removes p from the socket's peers. Safe to call more than once.
func (s *Socket) detach(p *pipe) {
	s.mu.Lock()
	i := indexOf(s.pipes, p)
	if i < 0 {
		s.mu.Unlock()
		return
	}
	s.pipes = append(s.pipes[:i], s.pipes[i+1:]...)
	if p.id != nil && s.routes[string(p.id)] == p {
		delete(s.routes, string(p.id))
	}
	p.gone.Store(true)
	s.publishLocked()
	s.mu.Unlock()
	if s.typ == XPub {
		s.xpubPeerGone(p)
	}
}

func indexOf(ps []*pipe, p *pipe) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

// attach adds p to the socket's peers. It refuses a second PAIR peer and a
// ROUTER peer whose identity is taken (libzmq keeps the first, as with
// ZMQ_ROUTER_HANDOVER off). For SUB and XSUB the subscriptions go to the new
// peer before anything else can.
func (s *Socket) attach(p *pipe) bool {
	if s.typ == Sub || s.typ == XSub {
		s.subs.mu.Lock()
		defer s.subs.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	if s.typ == Pair && len(s.pipes) > 0 {
		return false
	}
	if s.typ == Router {
		if len(p.peerID) > 0 {
			p.id = p.peerID
		} else {
			s.nextID++
			p.id = make([]byte, 5)
			binary.BigEndian.PutUint32(p.id[1:], s.nextID)
		}
		if _, taken := s.routes[string(p.id)]; taken {
			return false
		}
		s.routes[string(p.id)] = p
	}
	s.pipes = append(s.pipes, p)
	p.gone.Store(false)
	s.publishLocked()
	if s.typ == Sub || s.typ == XSub {
		s.subs.sendAllLocked(p)
	}
	return true
}

// sendLB sends m to one peer, round-robin over the peers that have room
// (libzmq's lb_t), waiting within ctx when none has. It returns the pipe used.
func (s *Socket) sendLB(ctx context.Context, m Msg) (*pipe, error) {
	if p := s.tryLB(m); p != nil {
		return p, nil
	}
	for {
		// Load changed before the peers, so a change after the look wakes us.
		changed := s.waitChanged()
		if p := s.tryLB(m); p != nil {
			return p, nil
		}
		if err := s.checkOpen(); err != nil {
			return nil, err
		}
		p, err := s.waitRoom(ctx, *s.sendables.Load(), m, changed)
		if p != nil || err != nil {
			return p, err
		}
	}
}

// tryLB offers m to the peers in turn, without waiting; nil if none had room.
func (s *Socket) tryLB(m Msg) *pipe {
	ps := *s.sendables.Load()
	switch n := len(ps); n {
	case 0:
		return nil
	case 1:
		if ps[0].trySend(m) {
			return ps[0]
		}
		return nil
	default:
		start := int(s.rr.Add(1) % uint64(n))
		for i := range n {
			if p := ps[(start+i)%n]; p.trySend(m) {
				return p
			}
		}
		return nil
	}
}

// waitRoom blocks until one of ps takes m, the peer set changes (nil, nil:
// try again), ctx ends or the socket closes.
func (s *Socket) waitRoom(ctx context.Context, ps []*pipe, m Msg, changed <-chan struct{}) (*pipe, error) {
	switch len(ps) {
	case 0:
		select {
		case <-changed:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closing:
			return nil, ErrClosed
		}
	case 1:
		select {
		case ps[0].ch() <- m:
			ps[0].sent()
			return ps[0], nil
		case <-changed:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closing:
			return nil, ErrClosed
		}
	}
	// Several peers, all full: wait for whichever makes room first.
	cases := make([]reflect.SelectCase, 0, len(ps)+3)
	msg := reflect.ValueOf(m)
	for _, p := range ps {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectSend, Chan: reflect.ValueOf(p.ch()), Send: msg})
	}
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.closing)},
	)
	i, _, _ := reflect.Select(cases)
	switch {
	case i < len(ps):
		ps[i].sent()
		return ps[i], nil
	case i == len(ps):
		return nil, nil
	case i == len(ps)+1:
		return nil, ctx.Err()
	default:
		return nil, ErrClosed
	}
}

// sendAll offers m to every peer that wants it (libzmq's dist_t): a peer at
// its high-water mark misses it, and the drop is counted and reported.
func (s *Socket) sendAll(m Msg, wants func(*pipe) bool) {
	for _, p := range *s.sendables.Load() {
		if wants != nil && !wants(p) {
			continue
		}
		if !p.trySend(m) {
			s.drop(p, "peer at high-water mark")
		}
	}
}

// drop counts a message the socket could not deliver and reports it.
func (s *Socket) drop(p *pipe, why string) {
	s.dropped.Add(1)
	ep := ""
	if p != nil {
		ep = p.endpoint
	}
	s.mon.emit(Event{Kind: EventDropped, Endpoint: ep, Err: dropError(why)})
}

type dropError string

func (e dropError) Error() string { return "socket: message dropped: " + string(e) }
