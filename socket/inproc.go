package socket

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// inproc connects sockets of one process without ZMTP: a pipe pair whose
// ends deliver straight into the other end's receive queue. A connect may
// come before the bind, as in libzmq 4; it is linked when the name is bound,
// and linked again if the name is bound anew after its socket went away. A
// link that a PAIR refused because it had its peer waits too, and is
// linked at the next Bind of the name or as soon as the PAIR loses its
// peer, whichever comes first.
// Meanwhile the types that queue for a peer of their own (PUSH, DEALER, REQ,
// PAIR) queue up to their send high-water mark, as libzmq's pending inproc
// connections do: the queue becomes the binder's receive queue at the link.

type inprocRegistry struct {
	mu      sync.Mutex
	bound   map[string]*Socket
	waiting map[string][]*inprocLink // connects whose name is not bound
	links   map[string][]*inprocLink // live links, by name
}

// inprocLink is one Connect to an inproc name.
type inprocLink struct {
	name      string
	endpoint  string
	connector *Socket
	cp, bp    *pipe // the connector's end (from the Connect, for types that queue) and the binder's end, once linked
}

var inprocs = inprocRegistry{
	bound:   make(map[string]*Socket),
	waiting: make(map[string][]*inprocLink),
	links:   make(map[string][]*inprocLink),
}

func (s *Socket) bindInproc(e endpoint) (string, error) {
	ep := e.String()
	r := &inprocs
	var held []*Socket // connectors a refused link discards for (see holdInproc)
	defer func() { releaseAll(held) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.bound[e.addr]; taken {
		return "", fmt.Errorf("%w: %s", ErrAddrInUse, ep)
	}
	for _, l := range r.waiting[e.addr] {
		held = holdInproc(held, l.connector)
	}
	r.bound[e.addr] = s
	s.mu.Lock()
	s.binds[ep] = &binding{s: s, endpoint: ep, given: ep}
	s.mu.Unlock()
	var still []*inprocLink
	for _, l := range r.waiting[e.addr] {
		if !r.linkLocked(l, s) {
			still = append(still, l)
		}
	}
	if len(still) > 0 {
		r.waiting[e.addr] = still
	} else {
		delete(r.waiting, e.addr)
	}
	s.mon.emit(Event{Kind: EventListening, Endpoint: ep})
	return ep, nil
}

func (s *Socket) connectInproc(ep string, e endpoint) error {
	r := &inprocs
	held := holdInproc(nil, s)
	defer func() { releaseAll(held) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.closed.Load() {
		// Closed since Connect looked: its closeInproc may have run, and a
		// link filed now would keep it in the registry.
		return ErrClosed
	}
	s.mu.Lock()
	if _, dup := s.dials[ep]; dup {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s: already connected", ErrBadEndpoint, ep)
	}
	s.dials[ep] = &dialing{s: s, endpoint: ep, e: e}
	s.mu.Unlock()
	l := &inprocLink{name: e.addr, endpoint: ep, connector: s}
	if b, ok := r.bound[e.addr]; !ok || !r.linkLocked(l, b) {
		r.waitLocked(l)
	}
	return nil
}

// waitLocked files a link whose name is not bound. A connector of a type
// that queues gets its end now, sending into a queue that waits for the
// binder. r.mu held.
func (r *inprocRegistry) waitLocked(l *inprocLink) {
	r.waiting[l.name] = append(r.waiting[l.name], l)
	c := l.connector
	if !c.keepsPipe() || l.cp != nil {
		return
	}
	cp := c.newPipe(l.endpoint, false)
	cp.peerq = newQueue(c.opts.sendHWM, &c.room)
	cp.peerq.countPuts = true // the binder is never a PUB or XPUB (see inprocCounted)
	if c.opts.conflate {
		cp.peerq.setConflate()
	}
	if c.attach(cp) {
		l.cp = cp
	}
}

// linkLocked makes the pipe pair between a connector and the binder. It
// returns false if the link is to wait for the next Bind of the name: one
// end refused it (a PAIR that has its peer, a ROUTER with the identity in
// use, or a binder closing); a PAIR that loses its peer takes it earlier
// (see takeWaitingLocked). r.mu held.
func (r *inprocRegistry) linkLocked(l *inprocLink, b *Socket) bool {
	c := l.connector
	if !c.typ.Compatible(b.typ) {
		err := fmt.Errorf("%w: %v cannot talk to %v", ErrHandshake, c.typ, b.typ)
		c.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: l.endpoint, Err: err})
		b.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: l.endpoint, Err: err})
		l.unlink()                                   // what was queued for the bind cannot go anywhere
		r.links[l.name] = append(r.links[l.name], l) // kept, so Disconnect finds it
		return true
	}
	pending := l.cp != nil // made at the Connect, with what was sent since
	cp, bp := l.cp, b.newPipe(l.endpoint, false)
	if cp == nil {
		cp = c.newPipe(l.endpoint, false)
		cp.peerq = bp.inq
	} else if bp.inq != nil {
		bp.inq = cp.peerq // holds what was sent before the bind
		bp.inq.setCountTakes(b.prof.queued)
	}
	bp.peerq = cp.inq
	// Each direction holds the sender's mark plus the receiver's, as
	// libzmq's inproc pipes do.
	if bp.inq != nil {
		bp.inq.setProducer(b.opts.recvHWM+c.opts.sendHWM, &c.room)
	}
	if cp.inq != nil {
		cp.inq.setProducer(c.opts.recvHWM+b.opts.sendHWM, &b.room)
	}
	// Each direction conflates if its sender or its receiver does (a
	// queue made for the Bind was made with the connector's options).
	if bp.inq != nil && (c.opts.conflate || b.opts.conflate) {
		bp.inq.setConflate()
	}
	if cp.inq != nil && b.opts.conflate {
		cp.inq.setConflate()
	}
	cp.peerID, bp.peerID = b.opts.identity, c.opts.identity
	// Linked before attach: attaching a SUB sends its subscriptions.
	cp.peer.Store(bp)
	bp.peer.Store(cp)
	// A ROUTER that hands an identity over ends the link for both ends.
	cp.onEvict(func() { b.detach(bp) })
	bp.onEvict(func() { c.detach(cp) })
	if !pending && !c.attach(cp) {
		// Undone, so that neither end keeps the other. A closing
		// connector's link ends here; a PAIR that has its peer, or a
		// ROUTER that has the binder's identity, refuses it as over tcp,
		// and waits with it for the next Bind of the name (or for the
		// PAIR to lose its peer), where Disconnect finds it.
		cp.peer.Store(nil)
		bp.peer.Store(nil)
		if c.closed.Load() {
			return true
		}
		err := errRefusedPeer(c.typ)
		c.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: l.endpoint, Err: err})
		b.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: l.endpoint, Err: err})
		return false
	}
	if !b.attach(bp) {
		// Undone: a connector that queued for the Bind keeps its queue,
		// and waits with it for the next one.
		cp.peer.Store(nil)
		bp.peer.Store(nil)
		err := errRefusedPeer(b.typ)
		c.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: l.endpoint, Err: err})
		b.mon.emit(Event{Kind: EventHandshakeFailed, Endpoint: l.endpoint, Err: err})
		if pending {
			cp.peerq.setProducer(c.opts.sendHWM, &c.room)
		} else {
			c.detach(cp)
		}
		return false
	}
	l.cp, l.bp = cp, bp
	r.links[l.name] = append(r.links[l.name], l)
	if pending {
		// Before what was queued for the Bind, as on a new connection; not
		// queued at the Connect, where it would keep Close lingering for a
		// Bind that may never come.
		if c.opts.probeRouter {
			cp.peerq.prepend(probeMsg)
		}
	} else {
		cp.probeInproc()
	}
	bp.probeInproc()
	if pending {
		if bp.inq != nil && bp.inq.len() > 0 {
			b.fq.ready(bp) // sent before the bind
		}
		c.mu.Lock()
		c.publishLocked() // a closing connector may be waiting for this (see awaitInprocBinds)
		c.mu.Unlock()
	}
	c.mon.emit(Event{Kind: EventHandshakeOK, Endpoint: l.endpoint})
	b.mon.emit(Event{Kind: EventHandshakeOK, Endpoint: l.endpoint})
	return true
}

// unlink ends the link: both ends are detached, and what the connector
// queued for a bind that never came is discarded.
func (l *inprocLink) unlink() {
	if l.cp != nil {
		l.connector.detach(l.cp)
	}
	if l.bp != nil {
		l.bp.s.detach(l.bp)
	}
	l.cp, l.bp = nil, nil
}

// unbindInproc releases a name: links to it end, and their connectors wait
// for the name to be bound again.
func (s *Socket) unbindInproc(ep string) error {
	e, _ := parseEndpoint(ep, true)
	r := &inprocs
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bound[e.addr] != s {
		return fmt.Errorf("%w: %s", ErrNotBound, ep)
	}
	s.mu.Lock()
	delete(s.binds, ep)
	s.mu.Unlock()
	left := append(r.connectorsLocked(e.addr), s)
	r.unbindLocked(e.addr)
	r.rehomeLocked(left)
	s.mon.emit(Event{Kind: EventClosed, Endpoint: ep})
	return nil
}

// connectorsLocked returns the connectors linked to a name. r.mu held.
func (r *inprocRegistry) connectorsLocked(name string) []*Socket {
	var cs []*Socket
	for _, l := range r.links[name] {
		cs = append(cs, l.connector)
	}
	return cs
}

// rehomeLocked has each PAIR of ps that has no peer left take a link that
// waits because it had one (see takeWaitingLocked). r.mu held.
func (r *inprocRegistry) rehomeLocked(ps []*Socket) {
	for _, p := range ps {
		r.takeWaitingLocked(p)
	}
}

// takeWaitingLocked links a PAIR that has lost its peer to a link refused
// while it had one, which waits in the registry: one to a name it binds,
// or one of its own Connects to a name that is bound. Over tcp the
// refused peer redials and is taken once the PAIR has no peer; this is
// the same for inproc, where there is no redial. (libzmq drops a refused
// inproc link for good: its connector sends into a void until it
// reconnects.) r.mu held.
func (r *inprocRegistry) takeWaitingLocked(s *Socket) {
	if s.typ != Pair || s.closed.Load() || s.peers() > 0 {
		return
	}
	for name, b := range r.bound {
		if b != s {
			continue
		}
		for i, l := range r.waiting[name] {
			if r.linkLocked(l, s) {
				r.unwaitLocked(name, i)
				return
			}
		}
	}
	for name, ls := range r.waiting {
		b, ok := r.bound[name]
		if !ok {
			continue
		}
		for i, l := range ls {
			if l.connector == s && r.linkLocked(l, b) {
				r.unwaitLocked(name, i)
				return
			}
		}
	}
}

// unwaitLocked takes the i-th waiting link of a name off the list, once
// linked. r.mu held.
func (r *inprocRegistry) unwaitLocked(name string, i int) {
	if r.waiting[name] = slices.Delete(r.waiting[name], i, i+1); len(r.waiting[name]) == 0 {
		delete(r.waiting, name)
	}
}

// takeWaitingInproc is takeWaitingLocked for a PAIR that lost a tcp or ipc
// peer.
func (s *Socket) takeWaitingInproc() {
	r := &inprocs
	held := holdInproc(nil, s)
	defer func() { releaseAll(held) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.takeWaitingLocked(s)
}

func (r *inprocRegistry) unbindLocked(name string) {
	delete(r.bound, name)
	for _, l := range r.links[name] {
		l.unlink()
		if !l.connector.closed.Load() {
			r.waitLocked(l)
		}
	}
	delete(r.links, name)
}

// disconnectInproc ends one connector's link.
func (s *Socket) disconnectInproc(ep string, name string) {
	r := &inprocs
	held := holdInproc(nil, s)
	defer func() { releaseAll(held) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.links[name] = removeLink(r.links[name], s, ep); len(r.links[name]) == 0 {
		delete(r.links, name)
	}
	r.waiting[name] = removeLink(r.waiting[name], s, ep)
	if len(r.waiting[name]) == 0 {
		delete(r.waiting, name)
	}
	left := []*Socket{s}
	if b, ok := r.bound[name]; ok {
		left = append(left, b)
	}
	r.rehomeLocked(left)
}

// holdInproc holds s's discards (holdDiscards) for the time the registry's
// lock is held, and adds s to held, the sockets to release after it: a
// link that ends with messages queued for a Bind discards them under that
// lock, and a hook that went to the registry (a Connect, a Close) would
// wait for it for ever.
func holdInproc(held []*Socket, s *Socket) []*Socket {
	if s.opts.onDiscard == nil || slices.Contains(held, s) {
		return held
	}
	s.holdDiscards()
	return append(held, s)
}

func releaseAll(held []*Socket) {
	for _, s := range held {
		s.releaseDiscards()
	}
}

// removeLink unlinks and drops the links of connector s to ep ("" for all).
// The slots they leave are cleared: a closed socket must not stay reachable
// from the registry.
func removeLink(ls []*inprocLink, s *Socket, ep string) []*inprocLink {
	return slices.DeleteFunc(ls, func(l *inprocLink) bool {
		if l.connector == s && (ep == "" || l.endpoint == ep) {
			l.unlink()
			return true
		}
		return false
	})
}

// awaitInprocBinds lingers, until ctx ends, while messages wait for inproc
// names to be bound: once bound, they are in the binder's queue, delivered.
func (s *Socket) awaitInprocBinds(ctx context.Context) {
	for ctx.Err() == nil {
		changed := s.waitChanged()
		if !s.inprocPending() {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
	}
}

// inprocPending reports whether messages wait for an inproc Bind.
func (s *Socket) inprocPending() bool {
	for _, p := range *s.sendables.Load() {
		if p.peerq != nil && p.peer.Load() == nil && p.peerq.len() > 0 {
			return true
		}
	}
	return false
}

// closeInproc releases everything inproc a closing socket holds.
func (s *Socket) closeInproc() {
	r := &inprocs
	held := holdInproc(nil, s)
	defer func() { releaseAll(held) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	var left []*Socket // peers that lost s: a PAIR among them takes a waiting link
	for name, b := range r.bound {
		if b == s {
			left = append(left, r.connectorsLocked(name)...)
			r.unbindLocked(name)
		}
	}
	for name := range r.links {
		for _, l := range r.links[name] {
			if l.connector == s && l.bp != nil {
				left = append(left, l.bp.s)
			}
		}
		if r.links[name] = removeLink(r.links[name], s, ""); len(r.links[name]) == 0 {
			delete(r.links, name)
		}
	}
	for name := range r.waiting {
		r.waiting[name] = removeLink(r.waiting[name], s, "")
		if len(r.waiting[name]) == 0 {
			delete(r.waiting, name)
		}
	}
	r.rehomeLocked(left)
}

// inprocReceivers returns the inproc pipes a closing socket receives from
// now, which closeInproc is about to detach (see discardReceived).
func (s *Socket) inprocReceivers() []*pipe {
	s.mu.RLock()
	ps := slices.Clone(s.pipes)
	s.mu.RUnlock()
	return slices.DeleteFunc(ps, func(p *pipe) bool { return p.out != nil || p.inq == nil })
}

// discardReceived empties the inproc receive queues of a closing socket,
// once its links are ended: those of ps, and those of peers that left
// with messages still queued for Recv (on the turn list). Nobody will Recv
// what they hold. The peer that sent a message counts it as discarded
// (Stats().Discarded, WithDiscarded), as it counts what it queued for a
// peer that went away: an inproc Send puts the message straight into the
// receiver's queue, so the sender knows of every one, and this is where
// they end. A tcp or ipc peer's messages in the queue are not counted:
// what it wrote is out of its reach and its count, as in libzmq.
func (s *Socket) discardReceived(ps []*pipe) {
	s.swept.Store(true) // before the turn list is read: see afterSweep
	s.fq.mu.Lock()
	for _, p := range s.fq.turns {
		if p.out == nil && p.inq != nil && !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	s.fq.mu.Unlock()
	for _, p := range ps {
		p.discardReceived()
	}
}

// afterSweep discards what an inproc peer put in p's queue after Close
// emptied the queues it knew of: a sender that held p as it left, whose
// put then listed p too late for the sweep to see it.
func (s *Socket) afterSweep(p *pipe) {
	if s.swept.Load() {
		p.discardReceived()
	}
}

// discardReceived empties an inproc pipe's receive queue for good and has
// its sender count what it held. A sender that still holds the pipe then
// finds no room in it.
func (p *pipe) discardReceived() {
	left := p.inq.discard()
	if r := p.peer.Load(); r != nil {
		r.s.discardLeft(left)
	}
}
