package socket

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
)

// pipe is one peer of a socket, as libzmq's pipe_t: the queues of messages
// to and from that peer and what the socket knows of it.
//
// A tcp or ipc pipe has its own send queue (out), drained by the writer
// goroutine of whichever connection currently serves it; a pipe made by
// Connect outlives its connections, as libzmq's do, so messages sent while
// the peer is away wait for the reconnect. An inproc pipe has no send queue:
// sending puts the message straight into the receive queue of the peer's end
// (peerq). A Connect to an inproc name not bound yet makes that queue before
// the peer's end exists, so that messages wait for the Bind, as in libzmq.
type pipe struct {
	s        *Socket
	endpoint string
	out      *queue               // tcp/ipc: messages for the peer
	inq      *queue               // messages from the peer, for Recv (see fairQueue); nil if the type receives nothing
	inRoom   signal               // tcp/ipc: the reader waits here for room in inq
	held     atomic.Bool          // tcp/ipc: the reader waits for room (see heartbeat)
	listed   atomic.Bool          // on the fair queue's turn list
	attached atomic.Bool          // taken in by attach: until then Recv takes nothing from it (see fairQueue.ready)
	id       []byte               // the peer's routing identity (ROUTER)
	peerID   []byte               // the identity the peer announced, if any
	gone     atomic.Bool          // detached: sending to it is pointless
	direct   atomic.Pointer[conn] // tcp/ipc: the connection serving it, while its writer runs (direct.go)
	heard    atomic.Bool          // tcp/ipc: a message came from the peer since the last write-through

	peerq *queue               // inproc: the peer's receive queue, where our sends go
	peer  atomic.Pointer[pipe] // inproc: the peer's end, once linked

	subMu  sync.Mutex
	subs   map[string]struct{} // PUB/XPUB: the peer's subscriptions
	all    atomic.Bool         // PUB/XPUB: the peer subscribed to everything
	maxSub int
	asked  map[string]struct{} // XPUB with WithXPubManual: what the peer subscribed, applied or not
	swept  bool                // XPUB: the peer left and its subscriptions were cancelled; it subscribes to nothing more

	replaced atomic.Bool // ROUTER: a new peer took over its identity (WithRouterHandover)

	evictMu sync.Mutex
	evict   func() // ends the connection serving the pipe (see onEvict)
	evicted bool
}

func (s *Socket) newPipe(endpoint string, queued bool) *pipe {
	p := &pipe{s: s, endpoint: endpoint}
	if s.typ == Pub || s.typ == XPub {
		// Made here, not in attach: an inproc subscriber may subscribe
		// through its end before ours is attached.
		p.subs = make(map[string]struct{})
		if s.opts.xpubManual {
			p.asked = make(map[string]struct{})
		}
	}
	if queued {
		p.out = newQueue(s.opts.sendHWM, &s.room)
		if s.opts.conflate {
			p.out.setConflate()
		}
		p.out.countPuts = true
	}
	if s.typ.canRecv() {
		p.inq = newQueue(s.opts.recvHWM, &p.inRoom)
		if s.opts.conflate {
			p.inq.setConflate()
		}
		p.inq.countTakes = s.prof.queued
		if queued {
			p.inq.budget = s.budget // what a tcp or ipc peer sends is charged; an inproc peer's is its own
		}
		// An inproc peer's sends go straight in: the queue counts them for
		// the peer's Stats().Sent (see sentLocked), but for what an XPUB
		// takes, which it does not all queue (see inprocCounted).
		p.inq.countPuts = !queued && inprocCounted(s.typ)
		// An inproc link made after StopReceiving (under the registry's
		// lock, as StopReceiving is) takes nothing from its first put.
		p.inq.stopped = s.recvStopped.Load()
	}
	return p
}

// trySend queues m for the peer if there is room, without waiting. A
// sender that finds no room and wants to wait loads s.room's channel first.
func (p *pipe) trySend(m Msg) bool {
	if p.out != nil {
		if c := p.direct.Load(); c != nil && c.tryDirect(m) {
			return true
		}
		return p.out.tryPut(m)
	}
	if r := p.peer.Load(); r != nil {
		if r.gone.Load() {
			return false
		}
		if hook := inprocBeforePut.Load(); hook != nil {
			(*hook)(r)
		}
		if !r.s.inprocDeliver(r, m) {
			return false
		}
		if !inprocCounted(r.s.typ) {
			p.s.sentInproc(m)
		} // else counted in the peer's queue, under its lock (p.peerq)
		return true
	}
	// An inproc name not bound yet: queue for the Bind (counted there).
	// Once linked, the binder is told of what is queued (see linkLocked); a
	// message queued as the link is made may not have been seen then, so
	// tell it here.
	if p.peerq == nil || !p.peerq.tryPut(m) {
		return false
	}
	if r := p.peer.Load(); r != nil {
		r.s.fq.ready(r)
	}
	return true
}

// inprocBeforePut, if set, runs as an inproc send has found its peer's
// end there and is about to put into its queue: tests hold the sender
// here while the receiver ends the link. Atomic, as senders of other
// tests may still be about when a test sets it.
var inprocBeforePut atomic.Pointer[func(r *pipe)]

// inprocAppliedSub, if set, runs as an XPUB has applied an inproc
// subscriber's subscription through r, its end, and is about to queue it
// for Recv: tests close the XPUB there.
var inprocAppliedSub atomic.Pointer[func(r *pipe)]

// detach removes p from the socket's peers. Safe to call more than once.
func (s *Socket) detach(p *pipe) {
	s.mu.Lock()
	i := indexOf(s.pipes, p)
	if i < 0 {
		s.mu.Unlock()
		return
	}
	s.pipes = slices.Delete(s.pipes, i, i+1) // clears the freed slot: the pipe must not stay reachable
	if p.id != nil && s.routes[string(p.id)] == p {
		delete(s.routes, string(p.id))
	}
	p.gone.Store(true)
	s.publishLocked()
	// What p sent moves to the socket's count as p leaves s.pipes, where
	// Sent reads it: a read in between would miss it.
	if q := p.sentTo(); q != nil {
		q.retirePuts(&s.sentAside)
	}
	s.mu.Unlock()
	if p.out == nil && p.inq != nil {
		// An inproc end: after gone, so that a sender refused here sees
		// the peer gone.
		p.inq.seal()
	}
	var left []Msg
	switch {
	case p.out != nil:
		left = p.out.discard()
	case p.peerq != nil && p.peer.Load() == nil: // inproc, queued for a Bind that never came
		left = p.peerq.discard()
	}
	s.discardLeft(left)
	s.retireCounts(p)
	switch s.typ {
	case Pub:
		p.dropSubscriptions()
	case XPub:
		s.xpubPeerGone(p)
	case Pair:
		if p.out != nil && s.inproc.Load() && !s.closed.Load() {
			// A tcp or ipc peer left: an inproc link refused meanwhile
			// may wait. (Inproc peers leave under the registry's lock,
			// which sees to it.)
			s.takeWaitingInproc()
		}
	}
}

// peers returns how many peers the socket has.
func (s *Socket) peers() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.pipes)
}

// discardLeft counts and hands over (WithDiscarded) messages queued for a
// peer that is gone. While the socket's discards are held (holdDiscards)
// they are counted now and handed over at the release.
func (s *Socket) discardLeft(left []Msg) {
	if len(left) == 0 {
		return
	}
	s.discarded.Add(uint64(len(left)))
	f := s.opts.onDiscard
	if f == nil {
		return
	}
	h := &s.discardHold
	h.mu.Lock()
	if h.n > 0 {
		h.msgs = append(h.msgs, left...)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	for _, m := range left {
		f(m)
	}
}

// discardHold keeps a socket's discards from the WithDiscarded hook while
// code holds locks under which a discard may come: a send into an inproc
// peer that closed as it was sent discards the message there and then
// (see afterSweep), and a hook that called back into the socket would
// find the lock held, or the state half-updated.
type discardHold struct {
	mu   sync.Mutex
	n    int   // holdDiscards not yet released
	msgs []Msg // discarded meanwhile, for the hook
}

// holdDiscards defers the socket's WithDiscarded calls until the matching
// releaseDiscards. Take it before the locks, release it after them.
func (s *Socket) holdDiscards() {
	if s.opts.onDiscard == nil {
		return
	}
	s.discardHold.mu.Lock()
	s.discardHold.n++
	s.discardHold.mu.Unlock()
}

// releaseDiscards ends a holdDiscards; the last one to end hands the
// messages held to the hook. No lock of the socket's may be held.
func (s *Socket) releaseDiscards() {
	f := s.opts.onDiscard
	if f == nil {
		return
	}
	h := &s.discardHold
	h.mu.Lock()
	h.n--
	var msgs []Msg
	if h.n == 0 {
		msgs, h.msgs = h.msgs, nil
	}
	h.mu.Unlock()
	for _, m := range msgs {
		f(m)
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
// ZMQ_ROUTER_HANDOVER off), unless WithRouterHandover gives the identity to
// the new peer: then the old one is detached and its connection ended. For
// SUB and XSUB the subscriptions go to the new peer before anything else
// can.
func (s *Socket) attach(p *pipe) bool {
	var handedOver *pipe
	defer func() { // after s.mu is released
		if handedOver != nil {
			s.detach(handedOver)
			handedOver.kick()
		}
	}()
	defer func() { // after s.mu is released
		// An inproc peer may have sent before we took it in: its messages
		// wait for Recv from now on.
		if p.attached.Load() && p.inq != nil && p.inq.len() > 0 {
			s.fq.ready(p)
		}
	}()
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
		if old, taken := s.routes[string(p.id)]; taken {
			if !s.opts.routerHandover {
				return false
			}
			handedOver = old
			old.replaced.Store(true) // before a Send can find the new peer's route
		}
		s.routes[string(p.id)] = p
	}
	if s.typ == XPub {
		s.welcome(p) // before the peer is published: nothing goes before it
	}
	if p.inq != nil && s.recvStopped.Load() {
		p.inq.stop() // made before StopReceiving, which did not see it (under s.mu)
	}
	s.pipes = append(s.pipes, p)
	p.gone.Store(false)
	p.attached.Store(true)
	s.publishLocked()
	if s.typ == Sub || s.typ == XSub {
		s.subs.sendAllLocked(p)
	}
	return true
}

// probeMsg is what WithProbeRouter sends a new peer: one empty frame.
var probeMsg = Msg{{}}

// probe writes the probe (WithProbeRouter) to a new connection, before
// anything queued. It runs on the writer's goroutine before serve, so the
// wire is ours; a failed write shows again at the writer's first flush.
// A conflating socket writes it only if nothing waits: queued first, as
// libzmq queues it when the pipe is made, it was replaced by what a Send
// queued since (see queue.prepend, the same for inproc). Either way it is
// a message sent.
func (c *conn) probe() {
	if c.s.opts.probeRouter {
		c.p.out.countPut(probeMsg) // a message sent (Stats().Sent), once a connection
		if c.s.opts.conflate && c.p.out.len() > 0 {
			return
		}
		c.w.writeMsg(probeMsg)
	}
}

// probeInproc queues the probe (WithProbeRouter) for a new inproc peer.
func (p *pipe) probeInproc() {
	if p.s.opts.probeRouter && !p.trySend(probeMsg) {
		p.s.drop(p, "probe to a peer with no room")
	}
}

// onEvict sets how to end the connection that serves p, should a ROUTER
// hand p's identity over to a new peer (WithRouterHandover); if that
// already happened, it ends it now.
func (p *pipe) onEvict(f func()) {
	if p.s.typ != Router || !p.s.opts.routerHandover {
		return // never handed over
	}
	p.evictMu.Lock()
	p.evict = f
	evicted := p.evicted
	p.evictMu.Unlock()
	if evicted {
		f()
	}
}

// kick ends the connection serving a pipe whose identity went to a new peer.
func (p *pipe) kick() {
	p.evictMu.Lock()
	p.evicted = true
	f := p.evict
	p.evictMu.Unlock()
	if f != nil {
		f()
	}
}

// sendLB sends m to one peer, round-robin over the peers that have room
// (libzmq's lb_t), waiting within ctx when none has. It returns the pipe used.
func (s *Socket) sendLB(ctx context.Context, m Msg) (*pipe, error) {
	if p := s.tryLB(m); p != nil {
		return p, nil
	}
	for {
		// Load the signals before looking, so a change after the look wakes us.
		changed, room := s.waitChanged(), s.room.wait()
		if p := s.tryLB(m); p != nil {
			return p, nil
		}
		if err := s.checkOpen(); err != nil {
			return nil, err
		}
		if err := s.waitRoom(ctx, changed, room); err != nil {
			return nil, err
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

// waitRoom blocks until a queue this socket sends into makes room or the
// peer set changes (nil: try again), ctx ends or the socket closes.
func (s *Socket) waitRoom(ctx context.Context, changed, room <-chan struct{}) error {
	select {
	case <-room:
		return nil
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrClosed
	}
}

// sendAll offers m to every peer that wants it (libzmq's dist_t): a peer at
// its high-water mark misses it, and the drop is counted and reported. It
// returns the number of peers that missed it.
func (s *Socket) sendAll(m Msg, wants func(*pipe) bool) (missed int) {
	for _, p := range *s.sendables.Load() {
		if wants != nil && !wants(p) || p.gone.Load() {
			continue
		}
		if !p.trySend(m) {
			s.drop(p, p.refusal())
			missed++
		}
	}
	return missed
}

// refusal says why p's peer took no message: its high-water mark, or, an
// inproc peer's socket, that it stopped receiving (StopReceiving).
func (p *pipe) refusal() string {
	if r := p.peer.Load(); r != nil && r.s.recvStopped.Load() {
		return "peer stopped receiving"
	}
	return "peer at high-water mark"
}

// drop counts a message the socket could not deliver and reports it.
func (s *Socket) drop(p *pipe, why string) { s.dropFor(p, dropError{why: why}) }

// dropFor counts a message the socket could not deliver and reports it
// with its reason.
func (s *Socket) dropFor(p *pipe, why dropError) {
	s.dropped.Add(1)
	ep := ""
	if p != nil {
		ep = p.endpoint
	}
	s.mon.emit(Event{Kind: EventDropped, Endpoint: ep, Err: why})
}

// dropError is why a message was dropped; err, if not nil, is the
// sentinel it wraps for errors.Is.
type dropError struct {
	why string
	err error
}

func (e dropError) Error() string { return "socket: message dropped: " + e.why }
func (e dropError) Unwrap() error { return e.err }

// errDropHandedOver is why a ROUTER drops a message for a peer whose
// identity a new peer took over (WithRouterHandover) as it was sent.
var errDropHandedOver = dropError{"the peer with that routing identity was replaced by a new one", ErrHandedOver}
