package socket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// The libzmq socket options beyond the basics of options.go, each with
// libzmq 4.3's meaning. Each feature's behaviour lives with its socket
// type's logic; this file only records what was asked for and checks that
// it applies to the socket's type.

// ErrHandedOver is why a ROUTER with WithRouterHandover dropped a peer: a
// new peer announced the same routing identity and took it over. It is the
// Err of the EventDisconnected of the old peer's connection. A Send that
// routed a message to the old peer as it was replaced sends it to the new
// one; if that one has left too, the message is dropped with an
// EventDropped whose reason (errors.Is) is ErrHandedOver, or with
// WithRouterMandatory the Send fails with ErrHostUnreachable wrapping it.
var ErrHandedOver = errors.New("socket: routing identity handed over to a new peer")

// libzmqOptions is the part of options this file sets.
type libzmqOptions struct {
	xpubVerbose    bool // pass every subscribe upstream (ZMQ_XPUB_VERBOSE)
	xpubVerboser   bool // and every cancel (ZMQ_XPUB_VERBOSER)
	xpubManual     bool // subscriptions applied by the application (ZMQ_XPUB_MANUAL)
	xpubWelcome    Msg  // sent to each new subscriber (ZMQ_XPUB_WELCOME_MSG)
	reqRelaxed     bool // REQ may send again before the reply (ZMQ_REQ_RELAXED)
	reqCorrelate   bool // REQ requests carry an id frame (ZMQ_REQ_CORRELATE)
	routerHandover bool // a new peer takes over an identity in use (ZMQ_ROUTER_HANDOVER)
	probeRouter    bool // an empty message to each new peer (ZMQ_PROBE_ROUTER)
	immediate      bool // queue only to completed connections (ZMQ_IMMEDIATE)
	conflate       bool // keep only the last message (ZMQ_CONFLATE)
	invertMatching bool // PUB, XPUB, SUB: the subscriptions exclude (ZMQ_INVERT_MATCHING)
	keepAlive      *net.KeepAliveConfig

	typed []typedOption // options set that apply to some types only
}

// typedOption is an option that New accepts only on some socket types.
type typedOption struct {
	name  string
	types []Type
}

// only notes that the option name was given and applies to types alone.
func (o *options) only(name string, types ...Type) {
	o.typed = append(o.typed, typedOption{name, types})
}

// checkTypes refuses an option given to a socket type it does not apply to,
// as libzmq's zmq_setsockopt mostly does (EINVAL): silently ignoring it would
// leave the application believing it has a behaviour it has not.
func (o *options) checkTypes(t Type) error {
	for _, to := range o.typed {
		if slices.Contains(to.types, t) {
			continue
		}
		names := make([]string, len(to.types))
		for i, tt := range to.types {
			names[i] = tt.String()
		}
		return fmt.Errorf("%w: %s does not apply to %v (only to %s)", ErrBadOption, to.name, t, strings.Join(names, ", "))
	}
	return nil
}

// WithXPubVerbose makes an XPUB pass every subscription message to the
// application, a second subscription to a prefix already subscribed
// included (libzmq's ZMQ_XPUB_VERBOSE). By default only the first
// subscription to each prefix is passed on: a proxy forwarding them
// upstream needs no more, but a last-value cache must see each subscriber
// come (see WithXPubWelcome). Cancels are still passed only when no
// subscriber holds the prefix any more; WithXPubVerboser passes them all.
// XPUB only.
func WithXPubVerbose() Option {
	return optionFunc(func(o *options) error {
		o.only("WithXPubVerbose", XPub)
		o.xpubVerbose = true
		return nil
	})
}

// WithXPubVerboser is WithXPubVerbose for cancels too: every subscribe and
// every cancel a subscriber sends reaches the application (libzmq's
// ZMQ_XPUB_VERBOSER), and a subscriber that leaves is reported with a
// cancel for each of its subscriptions. A cancel of a prefix the
// subscriber never subscribed is not passed on. XPUB only.
func WithXPubVerboser() Option {
	return optionFunc(func(o *options) error {
		o.only("WithXPubVerboser", XPub)
		o.xpubVerbose, o.xpubVerboser = true, true
		return nil
	})
}

// WithXPubWelcome makes an XPUB send m to each subscriber as it connects,
// and again after each reconnect, before anything else (libzmq's
// ZMQ_XPUB_WELCOME_MSG, there of one frame). A SUB filters the welcome as
// any message: it must subscribe to the welcome's first frame before it
// connects. Receiving it tells the subscriber that it has reached the
// publisher and that its subscriptions are on their way.
//
// In a last-value cache (the guide's chapter 5, "Last Value Caching") the
// cache's XPUB answers each subscription with the value it holds for the
// prefix. With a plain XPUB the second subscriber to a prefix is never
// answered: its subscription duplicates the first and is not passed on.
// WithXPubVerbose closes that gap; the welcome message alone does not (it
// is the same for every subscriber and goes before any subscription
// arrives), but it tells each subscriber when it has reached the cache, so
// that its wait for the value starts then and not at Connect. See the
// example. The value sent for the second subscriber reaches every
// subscriber of the prefix, the first one again: subscribers that must not
// act on a value twice number them. XPUB only; m must have at least one
// frame.
func WithXPubWelcome(m Msg) Option {
	return optionFunc(func(o *options) error {
		o.only("WithXPubWelcome", XPub)
		if len(m) == 0 {
			return fmt.Errorf("%w: empty welcome message", ErrBadOption)
		}
		o.xpubWelcome = make(Msg, len(m))
		for i, f := range m {
			o.xpubWelcome[i] = append([]byte{}, f...)
		}
		return nil
	})
}

// WithXPubManual makes an XPUB leave its subscribers' subscriptions to the
// application (libzmq's ZMQ_XPUB_MANUAL): a subscription message is not
// applied, only passed to Recv, every one of them, repeats and cancels
// included. The application applies what it decides with Subscribe and
// Unsubscribe on the XPUB, which act on the peer whose subscription message
// the last Recv returned: it may grant the prefix asked for, another one
// (a narrower topic, say, that the peer is entitled to), or none. A
// subscriber that leaves is reported with a cancel for each prefix it had
// asked for, whether or not another subscriber holds it too.
//
// Concurrency: "the last Recv" is the socket's, not a goroutine's. Receive
// from one goroutine and call Subscribe from it, between its Recvs. XPUB
// only.
func WithXPubManual() Option {
	return optionFunc(func(o *options) error {
		o.only("WithXPubManual", XPub)
		o.xpubManual = true
		return nil
	})
}

// WithInvertMatching turns subscriptions into exclusions (libzmq's
// ZMQ_INVERT_MATCHING). A PUB or XPUB sends each message to the
// subscribers none of whose subscriptions prefixes its first frame, so to
// a subscriber that subscribed to nothing, everything; a SUB receives only
// the messages that match none of its subscriptions. A SUB and its
// publishers must agree: a SUB with it, under a PUB without it, receives
// nothing. XSUB does not filter what it receives, so it needs nothing to
// talk to an inverting publisher, and as in libzmq the option does not apply
// to it. PUB, XPUB and SUB only.
func WithInvertMatching() Option {
	return optionFunc(func(o *options) error {
		o.only("WithInvertMatching", Pub, XPub, Sub)
		o.invertMatching = true
		return nil
	})
}

// WithReqRelaxed lets a REQ send a new request before the reply to the last
// one came (libzmq's ZMQ_REQ_RELAXED): the last request is abandoned, the
// replies already received for it are discarded, and the new request goes
// to the next peer in turn, which may be another one. Use it to give up on
// a peer that does not answer, without closing the socket: the guide's
// "Lazy Pirate" does it by closing and reopening. A reply to the abandoned
// request that arrives later from the peer the new request went to would
// pass for the new reply: add WithReqCorrelate, which tells them apart.
// REQ only.
func WithReqRelaxed() Option {
	return optionFunc(func(o *options) error {
		o.only("WithReqRelaxed", Req)
		o.reqRelaxed = true
		return nil
	})
}

// WithReqCorrelate makes a REQ number its requests (libzmq's
// ZMQ_REQ_CORRELATE): each goes out as [id, "", body...], where id is a
// 4-byte frame that changes with each request, and a reply is accepted
// only if it comes back with the id of the outstanding request. A REP, ours
// or libzmq's, returns the id with the rest of the envelope without the
// application seeing it; a ROUTER's application receives it as the frame
// after the routing identity, and must copy it into the reply. REQ only.
func WithReqCorrelate() Option {
	return optionFunc(func(o *options) error {
		o.only("WithReqCorrelate", Req)
		o.reqCorrelate = true
		return nil
	})
}

// WithRouterHandover makes a ROUTER give a routing identity already in use
// to the new peer that announces it, and drop the peer that had it, as
// libzmq's ZMQ_ROUTER_HANDOVER: a client that reconnects before its old
// connection is known to be dead gets its replies at once. The old peer's
// connection is closed (EventDisconnected with ErrHandedOver) and what was
// queued for it is discarded; what it sent before is still received, with
// the identity, and a reply to it goes to the new peer, as does a Send
// that raced the handover. By default a ROUTER
// refuses the new peer instead. A peer that was dropped and redials takes
// the identity back in turn. ROUTER only.
func WithRouterHandover() Option {
	return optionFunc(func(o *options) error {
		o.only("WithRouterHandover", Router)
		o.routerHandover = true
		return nil
	})
}

// WithProbeRouter makes the socket send an empty message, one empty frame,
// to each peer as its connection is made, before anything else (libzmq's
// ZMQ_PROBE_ROUTER). A ROUTER peer so learns the socket's routing identity
// at once, and can send to it before it has sent anything. The peer's
// application receives the probe (a ROUTER as [identity, ""]) and must
// expect it; use it only towards ROUTERs. A reconnect probes again, where
// libzmq probes a peer only on the first connection of a Connect. With
// WithConflate the probe is a message like any other, as in libzmq: one
// sent after it, before the peer took it (or before the connection was
// up), replaces it. ROUTER, DEALER and REQ only.
func WithProbeRouter() Option {
	return optionFunc(func(o *options) error {
		o.only("WithProbeRouter", Router, Dealer, Req)
		o.probeRouter = true
		return nil
	})
}

// WithImmediate makes the socket queue messages only for peers whose
// connection is complete (libzmq's ZMQ_IMMEDIATE). By default a Connect of
// a PUSH, DEALER, REQ or PAIR makes the peer's queue at once, so that
// messages sent before the peer is up wait for it; round-robin then puts
// some of them in the queue of a peer that may never come, while others
// are up. With WithImmediate a Connect's queue is made when the handshake
// completes and goes with the connection: Send picks among connected
// peers only, and with none it blocks until one connects or its ctx ends
// (a ctx already done makes it a non-blocking try). What was queued for a
// connection that is lost is discarded, as for a peer of a Bind (counted in
// Stats().Discarded). It changes nothing for the other types, whose peers
// are always those connected. Unlike libzmq, it applies to inproc too: a
// Connect before the Bind queues nothing.
func WithImmediate() Option {
	return optionFunc(func(o *options) error {
		o.immediate = true
		return nil
	})
}

// WithConflate makes each of the socket's queues keep only the last message
// (libzmq's ZMQ_CONFLATE): a new message replaces the one waiting to be
// sent to a peer, or to be received from it, instead of queueing behind
// it. Use it for state that only matters when fresh, a gauge or a
// position: a slow receiver gets the latest value, never a backlog. The
// high-water marks do not apply; Send never waits for room, only for a
// peer (PUSH, DEALER). A replaced message is not counted as dropped: being
// replaced is what it was sent for.
//
// As libzmq, it is for single-frame messages: Send and Publish refuse a
// message of several frames (ErrNotSupported), where libzmq would keep one
// frame of it. A message of several frames from a peer is kept whole.
// PULL, PUSH, SUB, PUB and DEALER only.
func WithConflate() Option {
	return optionFunc(func(o *options) error {
		o.only("WithConflate", Pull, Push, Sub, Pub, Dealer)
		o.conflate = true
		return nil
	})
}

// WithTCPKeepAlive sets TCP keep-alive on the socket's tcp connections,
// dialled and accepted, as libzmq's ZMQ_TCP_KEEPALIVE, _IDLE, _INTVL and
// _CNT do: with c.Enable, the system probes a connection idle for c.Idle,
// every c.Interval, and drops it after c.Count probes unanswered; without
// it, keep-alive is off. A zero field takes Go's default (15 s, 15 s, 9), a
// negative one leaves the system's. Without this option Go's defaults
// apply: keep-alive on, at 15 s. Keep-alive finds a peer gone without a
// word at the TCP level, in minutes; WithHeartbeat does it at the ZMTP
// level, and also finds a peer that is connected but stuck. It does not
// apply to ipc or inproc.
func WithTCPKeepAlive(c net.KeepAliveConfig) Option {
	return optionFunc(func(o *options) error {
		o.keepAlive = &c
		return nil
	})
}

// dialer is how the socket dials a tcp or ipc peer.
func (o *options) dialer() net.Dialer {
	d := net.Dialer{Timeout: o.handshakeTimeout}
	switch {
	case o.keepAlive == nil:
	case o.keepAlive.Enable:
		d.KeepAliveConfig = *o.keepAlive
	default:
		d.KeepAlive = -1 // off
	}
	return d
}

// listen is how the socket listens on a tcp or ipc endpoint.
func (o *options) listen(network, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	switch {
	case o.keepAlive == nil:
	case o.keepAlive.Enable:
		lc.KeepAliveConfig = *o.keepAlive
	default:
		lc.KeepAlive = -1 // off
	}
	return lc.Listen(context.Background(), network, addr)
}
