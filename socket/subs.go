package socket

import (
	"errors"
	"fmt"
	"sync"
)

// Subscriptions travel as ZMTP 3.0 messages: 0x01 then the prefix to
// subscribe, 0x00 then the prefix to cancel (RFC 29). libzmq peers speak
// the same when the greeting says 3.0, as ours does.
const (
	subscribeByte   = 1
	unsubscribeByte = 0
)

// subscriptions is a socket's view of topics.
//
// SUB and XSUB: the prefixes this socket subscribed to, counted (subscribing
// twice needs two cancels, as libzmq), re-sent to every new peer, and, for
// SUB, the filter applied to what arrives.
//
// XPUB: how many peers subscribed to each prefix, so that only the first
// subscription and the last cancel reach the application (libzmq without
// ZMQ_XPUB_VERBOSE).
type subscriptions struct {
	mu     sync.Mutex
	count  map[string]int
	maxLen int
	last   *pipe // XPUB with WithXPubManual: whose subscription Recv returned last
}

func (t *subscriptions) init() { t.count = make(map[string]int) }

// add counts a prefix and reports whether it is new.
func (t *subscriptions) add(prefix string) bool {
	t.count[prefix]++
	if len(prefix) > t.maxLen {
		t.maxLen = len(prefix)
	}
	return t.count[prefix] == 1
}

// remove uncounts a prefix and reports whether it is gone. A prefix never
// added reports false.
func (t *subscriptions) remove(prefix string) bool {
	n, ok := t.count[prefix]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(t.count, prefix)
		return true
	}
	t.count[prefix] = n - 1
	return false
}

// matchLocked reports whether some prefix matches topic.
func (t *subscriptions) matchLocked(topic []byte) bool {
	return matchPrefixes(t.count, t.maxLen, topic)
}

func (t *subscriptions) match(topic []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.matchLocked(topic)
}

// matchPrefixes looks each prefix of topic up to maxLen bytes in set: at most
// maxLen+1 map lookups, whatever the number of subscriptions.
func matchPrefixes[V any](set map[string]V, maxLen int, topic []byte) bool {
	if len(set) == 0 {
		return false
	}
	n := min(len(topic), maxLen)
	for l := 0; l <= n; l++ {
		if _, ok := set[string(topic[:l])]; ok {
			return true
		}
	}
	return false
}

// sendAllLocked sends every current subscription to a new peer. t.mu is held.
func (t *subscriptions) sendAllLocked(p *pipe) {
	for prefix := range t.count {
		if !p.trySend(subscriptionMsg(subscribeByte, prefix)) {
			p.s.drop(p, "subscription to a peer at high-water mark")
		}
	}
}

func subscriptionMsg(kind byte, prefix string) Msg {
	b := make([]byte, 1+len(prefix))
	b[0] = kind
	copy(b[1:], prefix)
	return Msg{b}
}

// Subscribe makes a SUB socket receive messages whose first frame starts with
// prefix; an empty prefix receives everything. A SUB receives nothing until
// it subscribes. The subscription goes to every publisher, now and after each
// reconnect. XSUB sockets subscribe by sending 0x01+prefix with Send instead.
//
// On an XPUB made with WithXPubManual, Subscribe subscribes the peer whose
// subscription message the last Recv returned, to prefix: that peer now
// receives what the XPUB sends whose first frame starts with prefix. It
// fails with ErrState if the last Recv returned something else (a message
// from a peer, or nothing yet), and does nothing if the peer has left.
func (s *Socket) Subscribe(prefix []byte) error {
	return s.subscribe(subscribeByte, prefix)
}

// Unsubscribe cancels one Subscribe of the same prefix. On an XPUB made with
// WithXPubManual it removes prefix from the subscriptions of the peer whose
// subscription message the last Recv returned, as Subscribe adds it.
func (s *Socket) Unsubscribe(prefix []byte) error {
	return s.subscribe(unsubscribeByte, prefix)
}

func (s *Socket) subscribe(kind byte, prefix []byte) error {
	if s.typ == XPub && s.opts.xpubManual {
		if err := s.checkOpen(); err != nil {
			return err
		}
		return s.xpubApply(kind, prefix)
	}
	if s.typ != Sub {
		return errors.Join(ErrNotSupported, errors.New("socket: Subscribe is for SUB sockets; XSUB sends subscription messages"))
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.updateSubs(subscriptionMsg(kind, string(prefix)))
	return nil
}

// updateSubs applies a subscription message of ours (SUB, XSUB) and passes
// it upstream: every subscribe, and a cancel only when no subscription of
// that prefix is left, as libzmq's xsub does.
func (s *Socket) updateSubs(m Msg) {
	// An inproc publisher closing as the message reaches it may discard
	// it here (see afterSweep): the hook runs once subs.mu is released.
	s.holdDiscards()
	defer s.releaseDiscards()
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	prefix := string(m[0][1:])
	if m[0][0] == subscribeByte {
		s.subs.add(prefix)
	} else if !s.subs.remove(prefix) {
		return
	}
	s.sendAll(m, nil)
}

// onSubscription applies a subscription message from a subscriber p (PUB,
// XPUB). It reports whether an XPUB should pass the message to the
// application: the first subscription to a prefix, or the last cancel
// (every subscription with WithXPubVerbose, and every cancel with
// WithXPubVerboser). With WithXPubManual nothing is applied and every
// subscription message is passed on.
func (s *Socket) onSubscription(p *pipe, m Msg) bool {
	if len(m) != 1 || len(m[0]) == 0 || m[0][0] > subscribeByte {
		return false
	}
	prefix := string(m[0][1:])
	subscribe := m[0][0] == subscribeByte
	// Under the subscriber's lock until the socket's count has it: an
	// inproc subscriber may subscribe as it leaves, and what it adds once
	// xpubPeerGone has cancelled its subscriptions would never be
	// cancelled (see pipe.swept).
	p.subMu.Lock()
	defer p.subMu.Unlock()
	if p.swept {
		return false
	}
	if s.typ == XPub && s.opts.xpubManual {
		if subscribe {
			p.asked[prefix] = struct{}{}
		} else {
			delete(p.asked, prefix)
		}
		return true
	}
	if !p.applySubLocked(subscribe, prefix) {
		// The peer subscribed again, or cancelled what it never had.
		return s.typ == XPub && subscribe && s.opts.xpubVerbose
	}
	if s.typ != XPub {
		return false
	}
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	if subscribe {
		return s.subs.add(prefix) || s.opts.xpubVerbose
	}
	return s.subs.remove(prefix) || s.opts.xpubVerboser
}

// applySub adds a prefix to subscriber p's subscriptions or removes it, and
// reports whether that changed them.
func (p *pipe) applySub(subscribe bool, prefix string) bool {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	return !p.swept && p.applySubLocked(subscribe, prefix)
}

// applySubLocked is applySub with p.subMu held.
func (p *pipe) applySubLocked(subscribe bool, prefix string) bool {
	_, had := p.subs[prefix]
	switch {
	case subscribe && !had:
		p.subs[prefix] = struct{}{}
		p.maxSub = max(p.maxSub, len(prefix))
		if prefix == "" {
			p.all.Store(true)
		}
	case !subscribe && had:
		delete(p.subs, prefix)
		if prefix == "" {
			p.all.Store(false)
		}
	default:
		return false
	}
	return true
}

// received notes what an XPUB's Recv returned, for WithXPubManual: the
// peer whose subscription it was, or none.
func (s *Socket) received(p *pipe, m Msg) {
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	s.subs.last = nil
	if isSubscription(m) {
		s.subs.last = p
	}
}

// xpubApply is Subscribe and Unsubscribe on an XPUB with WithXPubManual:
// the prefix is added to, or removed from, the subscriptions of the peer
// whose subscription message the last Recv returned.
func (s *Socket) xpubApply(kind byte, prefix []byte) error {
	s.subs.mu.Lock()
	p := s.subs.last
	s.subs.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: XPUB Subscribe applies to the peer whose subscription the last Recv returned, and it returned none", ErrState)
	}
	if p.gone.Load() {
		return nil // the peer left; its cancels are on their way to Recv
	}
	p.applySub(kind == subscribeByte, string(prefix))
	return nil
}

// welcome queues the welcome message (WithXPubWelcome) for a new
// subscriber, first of all it will receive. s.mu is held.
func (s *Socket) welcome(p *pipe) {
	if s.opts.xpubWelcome != nil && !p.trySend(s.opts.xpubWelcome) {
		s.drop(p, "welcome message to a peer with no room")
	}
}

// subscribed reports whether the peer has any subscription (PUB, XPUB).
func (p *pipe) subscribed() bool {
	if p.subs == nil {
		return false
	}
	p.subMu.Lock()
	defer p.subMu.Unlock()
	return len(p.subs) > 0
}

// wants reports whether subscriber p subscribed to a prefix of topic.
func (p *pipe) wants(topic []byte) bool {
	if p.all.Load() {
		return true
	}
	p.subMu.Lock()
	defer p.subMu.Unlock()
	return matchPrefixes(p.subs, p.maxSub, topic)
}

// wants reports whether a PUB or XPUB sends a message with this topic to
// subscriber p: p subscribed to a prefix of it, or, with
// WithInvertMatching, did not.
func (s *Socket) wants(p *pipe, topic []byte) bool {
	return p.wants(topic) != s.opts.invertMatching
}

// dropSubscriptions forgets a departed subscriber's subscriptions, so that
// their memory goes with it.
func (p *pipe) dropSubscriptions() {
	p.subMu.Lock()
	p.subs = map[string]struct{}{}
	p.maxSub = 0
	p.all.Store(false)
	p.subMu.Unlock()
}

// xpubPeerGone cancels the subscriptions of a subscriber that left, passing
// to the application those no other subscriber holds, as libzmq does. With
// WithXPubManual the application is passed a cancel for each prefix the
// subscriber had asked for, whoever else holds it: it decides.
func (s *Socket) xpubPeerGone(p *pipe) {
	// The subscriber's lock is held until the socket's count no longer
	// has its subscriptions, and swept keeps it from adding any after.
	p.subMu.Lock()
	p.swept = true
	var cancels []string
	if s.opts.xpubManual {
		for prefix := range p.asked {
			cancels = append(cancels, prefix)
		}
		p.asked = map[string]struct{}{}
	} else {
		s.subs.mu.Lock()
		for prefix := range p.subs {
			if s.subs.remove(prefix) || s.opts.xpubVerboser {
				cancels = append(cancels, prefix)
			}
		}
		s.subs.mu.Unlock()
	}
	p.subs = map[string]struct{}{}
	p.maxSub = 0
	p.all.Store(false)
	p.subMu.Unlock()
	for _, prefix := range cancels {
		if !s.closed.Load() {
			s.queueUp(p, subscriptionMsg(unsubscribeByte, prefix))
		}
	}
}
