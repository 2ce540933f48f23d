// Package peering is the guide's broker federation (ch. 3 "Inter-Broker
// Routing"): load balancers that lend and borrow workers (Broker). A
// request from a local client goes to a local worker when one is idle;
// when none is and a peer broker has said it has idle workers, it goes to
// that peer, which serves it like a client's, and the reply comes back the
// way the request went and on to the client.
//
//	Guide ("ZeroMQ - The Guide", https://zguide.zeromq.org)    Here
//	Ch. 3 "Inter-Broker Routing", "Prototyping the State
//	      Flow" (peering1)                                   the state flow: Broker.State, Peer
//	Ch. 3 "Prototyping the Local and Cloud Flows"
//	      (peering2)                                         Broker: localfe, localbe, cloudfe, cloudbe
//	Ch. 3 "Putting it All Together" (peering3)               Broker's capacity announcements
//	Ch. 4 "Robust Reliable Queuing (Paranoid Pirate
//	      Pattern)"; spec 6/PPP                              the local workers (package pirate)
//
// The local side is a pirate.LoadBalancer: workers speak PPP with
// heartbeats to Broker.Backend (pirate.Worker, the guide's ppworker), and
// clients send requests with ids to Broker.Frontend (pirate.Client, or REQ
// sockets).
//
// A Broker is one actor (package actor) under a supervisor, whose mailbox
// is fed by its sockets (patterns.Feed), its local load balancer's stats,
// and a clock (actor.Ticker): it owns the state and does the sending. It
// reports to an actor.Observer (WithObserver): its actor's lifecycle and
// messages, and its Stats as figures (actor.Figures); its local load
// balancer reports there too, as package pirate's.
//
// For the other patterns, and when to use which package, see the root
// package's doc, "Choosing a package" (package zmqflow).
package peering

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/board"
	"github.com/zmqflow/zmqflow/broker/internal/ppp"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// Errors returned by the package, wrapped with detail and matched with
// errors.Is.
var (
	// ErrBadOption is an option value out of range, or a bad name.
	ErrBadOption = errors.New("peering: invalid option")
	// ErrClosed is a call on a broker after Close, or after it failed for
	// good (its Err says why).
	ErrClosed = errors.New("peering: closed")
	// ErrMalformed is a message that does not follow PPP or the state flow:
	// a request or reply without an address stack, an announcement that is
	// not a name and a count. The broker counts and drops such messages;
	// the error appears in logs.
	ErrMalformed = errors.New("peering: malformed message")
	// ErrTooManyPeers is an announcement from a new peer that a broker
	// dropped because it knows maxPeers peers already (Stats.PeersRefused):
	// a state publisher naming a new peer in each announcement would
	// otherwise grow the broker's table of peers without bound.
	ErrTooManyPeers = errors.New("peering: too many peers")
)

// Broker is a load balancer that lends and borrows workers: the guide's
// broker peering (ch. 3 "Inter-Broker Routing", "Prototyping the Local and
// Cloud Flows", peering2 and peering3).
//
// Sockets, named as in the guide:
//
//	localfe  ROUTER, bound: clients (pirate.Client, REQ or DEALER), as a load balancer's frontend
//	localbe  ROUTER, bound: PPP workers, the local load balancer's backend
//	cloudfe  ROUTER, bound, identity = name: requests from peers' cloudbe
//	cloudbe  ROUTER, connected to each peer's cloudfe, identity = name
//	statebe  PUB, bound: this broker's idle capacity, every heartbeat
//	         interval and whenever it changes: two frames, name and count
//	statefe  SUB, connected to each peer's statebe
//
// Design: the local worker side is a pirate.LoadBalancer, private (its
// frontend is an inproc endpoint only this broker connects to), so that
// workers get the same PPP with heartbeats, dead-worker detection,
// requeues and duplicate suppression as with a plain load balancer, and
// the guide's ppworker serves a Broker too. The load balancer does not
// tell which of its requests were read and which wait, so a Broker does
// not hand it more requests than it has idle workers (counted from its
// Stats: idle workers less requests sent and not yet taken); the others
// wait in the Broker, which is what lets them go to a peer instead. The
// cost is one inproc hop.
//
// Requests that come from a peer (through cloudfe) go to local workers
// only, never on to another peer, so a request crosses at most one broker
// boundary and cannot loop. The peer a request goes to is the one that
// announced the most idle workers; what was announced is lowered by one at
// each request sent to it until its next announcement. An announcement may
// be stale: a peer that gets more requests than it has idle workers keeps
// them until one is, like any other request.
//
// Replies: a request's address stack (the client's routing id and request
// id) goes through unchanged; cloudfe adds the sending broker's name in
// front of it, which routes the reply back to that broker's cloudbe, which
// takes it off again. Each outstanding request is known by its address
// stack, as in pirate.LoadBalancer: a resend of a request outstanding
// locally is dropped; a resend of one outstanding at a peer is sent to
// that peer again (which drops it if it still has it, and serves it if it
// lost it); of several replies to one request only the first reaches the
// client. A peer whose announcements stop for the liveness of the
// heartbeat is gone: the requests it held go back to the head of the queue
// (at-least-once, as with a dead worker). Clients are read while fewer
// than a thousand of their requests wait in the broker, and peers while
// fewer than a thousand of theirs do: a peer's requests wait for a local
// worker, and a peer sending more than the workers take waits, without
// holding up the clients.
//
// The broker is one actor, "peering broker", under a supervisor. A
// failure of the actor (a bug: a panic) restarts it with fresh state on
// the same sockets: the restart forgets the requests outstanding (their
// clients resend, as after a restart of the broker's process; a reply
// that comes for one is dropped as late) and the peers (their next
// announcements, every heartbeat interval, bring them back), and the
// counters of Stats go on. The local load balancer and its workers do
// not notice. If the local load balancer ends, the broker fails for good.
//
// Concurrency: a Broker is safe for concurrent use. Besides its load
// balancer's goroutines it runs its actor's (which reads localfe itself,
// patterns.Feed), its supervisor's, one per other socket it reads (cloudfe,
// cloudbe, statefe and the load balancer's replies), one that watches the
// load balancer's stats and one for its clock. NewBroker starts them and Close returns after they have
// ended and every socket is closed. Peer, Stats and Wait may be called
// from any goroutine.
type Broker struct {
	name              string
	lb                *pirate.LoadBalancer
	g                 *run.Group
	cloudBE, stateSub *socket.Socket
	frontEP, cloudEP  string
	stateEP           string
	board             board.Board[Stats]
	ref               actor.Ref[msg]
}

// Stats are a Broker's gauges (now) and counters (since it started).
type Stats struct {
	Workers   int // local workers registered
	LocalIdle int // local workers idle and not yet promised a request
	Peers     int // peers heard from within the heartbeat liveness
	CloudIdle int // idle workers the peers announced, less requests sent since
	Pending   int // requests waiting for a local worker or a peer
	Local     int // requests on their way to or at a local worker
	Cloud     int // requests forwarded to a peer and not answered

	Requests      uint64 // requests from local clients
	PeerRequests  uint64 // requests from peers (served by local workers only)
	Forwarded     uint64 // requests sent to a peer, resends included
	Replies       uint64 // replies passed to local clients
	PeerReplies   uint64 // replies passed back to peers
	Duplicates    uint64 // resent requests dropped: the same request was outstanding here
	LateReplies   uint64 // replies dropped: their request was answered already, or is unknown
	Requeued      uint64 // requests taken back from a peer that went silent
	Malformed     uint64 // messages dropped because they do not follow PPP or the state flow
	Announcements uint64 // capacity announcements received from peers
	PeersRefused  uint64 // announcements dropped: a new peer past the most a broker knows (ErrTooManyPeers)
}

// brokerName is the broker's actor, as the observer knows it.
const brokerName = "peering broker"

// lbSeq names the inproc endpoints of the brokers' load balancers.
var lbSeq atomic.Uint64

// maxPending bounds the requests a Broker reads ahead from its clients,
// and, apart, those from its peers; past it they wait in the clients' or
// the peers' queues. Requests from peers have their own bound: they wait
// for a local worker only, and nothing else takes them off.
const maxPending = 1024

// maxPeers bounds the peers a Broker knows at once. Each is a peer's name
// and the capacity it announced, and each dispatch looks at them all; a
// name stays until it has been silent for the liveness. A federation has a
// peer for each Peer call: far fewer.
const maxPeers = 1024

// validName reports whether name may name a broker: it is the routing id
// of its cloud sockets, which ZeroMQ bounds to 255 bytes and whose leading
// zero byte is kept for ids a ROUTER makes up.
func validName(name string) bool { return len(name) >= 1 && len(name) <= 255 && name[0] != 0 }

// NewBroker binds a broker's client frontend, worker backend, cloud
// frontend (for peers' requests) and state endpoint (where it announces
// its idle workers), and starts it. name identifies the broker to its
// peers: 1 to 255 bytes, not starting with a zero byte, and different from
// every peer's. Each endpoint is bound, or connected when written with a
// leading '>' (a leading '@' means bind); tcp port "*" picks a free one
// (see Frontend, Backend, Cloud, State). Peers are added with Peer.
// Options: WithHeartbeat (workers, and how often the broker announces its
// capacity and how soon a silent peer is gone), WithMaxDeliveries,
// WithHoldLimit, WithSocketOptions, WithLogger, WithObserver.
func NewBroker(name, frontend, backend, cloud, state string, opts ...Option) (_ *Broker, err error) {
	cfg, err := build(opts)
	if err != nil {
		return nil, err
	}
	if !validName(name) {
		return nil, fmt.Errorf("%w: peering.NewBroker: name %q: want 1 to 255 bytes, not starting with a zero byte", ErrBadOption, name)
	}
	b := &Broker{name: name}
	var socks []*socket.Socket
	defer func() {
		if err != nil {
			run.CloseAll(socks)
			if b.lb != nil {
				b.lb.Close()
			}
			err = fmt.Errorf("peering: broker %q: %w", name, err)
		}
	}()
	base := append([]socket.Option{socket.WithLinger(0)}, cfg.SockOpts...)
	idOpt := socket.WithIdentity([]byte(name))
	open := func(t socket.Type, ep string, extra ...socket.Option) (*socket.Socket, string, error) {
		s, ep, err := run.Open(t, ep, append(extra, base...))
		if err == nil {
			socks = append(socks, s)
		}
		return s, ep, err
	}
	newSocket := func(t socket.Type, extra ...socket.Option) (*socket.Socket, error) {
		s, err := socket.New(t, append(extra, base...)...)
		if err == nil {
			socks = append(socks, s)
		}
		return s, err
	}
	var front, cloudFE, toLB, statePub *socket.Socket
	if front, b.frontEP, err = open(socket.Router, frontend); err != nil {
		return nil, err
	}
	if cloudFE, b.cloudEP, err = open(socket.Router, cloud, idOpt); err != nil {
		return nil, err
	}
	if b.cloudBE, err = newSocket(socket.Router, idOpt, socket.WithRouterMandatory()); err != nil {
		return nil, err
	}
	if statePub, b.stateEP, err = open(socket.Pub, state); err != nil {
		return nil, err
	}
	if b.stateSub, err = newSocket(socket.Sub); err != nil {
		return nil, err
	}
	if err = b.stateSub.Subscribe(nil); err != nil {
		return nil, err
	}
	lbOpts := []pirate.Option{pirate.WithHeartbeat(cfg.Interval, cfg.Liveness), pirate.WithMaxDeliveries(cfg.MaxDeliveries),
		pirate.WithHoldLimit(cfg.X.holdLimit), pirate.WithSocketOptions(cfg.SockOpts...), pirate.WithLogger(cfg.Log)}
	if cfg.Observer != nil {
		lbOpts = append(lbOpts, pirate.WithObserver(cfg.Observer))
	}
	if b.lb, err = pirate.NewLoadBalancer(fmt.Sprintf("inproc://zmqflow-peering-%d", lbSeq.Add(1)), backend, lbOpts...); err != nil {
		return nil, err
	}
	if toLB, err = newSocket(socket.Dealer); err != nil {
		return nil, err
	}
	if err = toLB.Connect(b.lb.Frontend()); err != nil {
		return nil, err
	}
	b.board.Report(cfg.Observer, brokerName)

	sh := &shared{cfg: &cfg, name: name, front: front, cloudFE: cloudFE, cloudBE: b.cloudBE, toLB: toLB,
		statePub: statePub, lb: b.lb, gate: patterns.NewGate(), peerGate: patterns.NewGate(), board: &b.board}
	feed := func(s *socket.Socket, from source, gate *patterns.Gate) actor.Option {
		return actor.WithFeed(patterns.Feed(s, func(m socket.Msg) msg { return msg{from: from, m: m} }, gate))
	}
	child := actor.NewChild(brokerName, func() actor.Behavior[msg] { return newFederation(sh) },
		feed(front, fromClient, sh.gate),
		feed(cloudFE, fromPeer, sh.peerGate),
		feed(b.cloudBE, fromCloud, nil),
		feed(toLB, fromLocal, nil),
		feed(b.stateSub, fromState, nil),
		actor.WithFeed[msg](&lbWatch{sh: sh}),
		actor.WithFeed(actor.Ticker(cfg.Interval, func(t time.Time) msg { return msg{from: fromClock, now: t} })))
	b.ref = child.Ref()
	sockets := append([]*socket.Socket(nil), socks...)
	socks = nil // the group's now, or closed by run.Start
	if b.g, err = run.Start(context.Background(), brokerName+" supervisor", sockets, []actor.ChildSpec{child}, cfg.Supervision()...); err != nil {
		return nil, err
	}
	return b, nil
}

// Name returns the name the broker is known by to its peers.
func (b *Broker) Name() string { return b.name }

// Frontend returns the endpoint clients connect to, as bound.
func (b *Broker) Frontend() string { return b.frontEP }

// Backend returns the endpoint workers connect to, as bound.
func (b *Broker) Backend() string { return b.lb.Backend() }

// Cloud returns the endpoint peers' cloud backends connect to, as bound.
func (b *Broker) Cloud() string { return b.cloudEP }

// State returns the endpoint peers subscribe to for this broker's
// capacity, as bound.
func (b *Broker) State() string { return b.stateEP }

// Peer connects the broker to a peer: its cloud backend to the peer's
// Cloud endpoint and its state subscriber to the peer's State endpoint. It
// returns at once; requests go to the peer after its first announcement.
// Peering is one-way: for the peer to send requests here too, it calls
// Peer with this broker's endpoints. After Close, or once the broker has
// failed for good, it fails with ErrClosed.
func (b *Broker) Peer(cloud, state string) error {
	select {
	case <-b.g.Done():
		return fmt.Errorf("%w: broker %q: peer %s", ErrClosed, b.name, cloud)
	default:
	}
	if err := b.cloudBE.Connect(cloud); err != nil {
		return b.peerErr("peer cloud", err)
	}
	if err := b.stateSub.Connect(state); err != nil {
		b.cloudBE.Disconnect(cloud)
		return b.peerErr("peer state", err)
	}
	return nil
}

// peerErr is Peer's error: ErrClosed when Close closed the socket
// meanwhile, so that a caller racing Close can tell.
func (b *Broker) peerErr(what string, err error) error {
	if errors.Is(err, socket.ErrClosed) {
		return fmt.Errorf("%w: broker %q: %s: %w", ErrClosed, b.name, what, err)
	}
	return fmt.Errorf("peering: broker %q: %s: %w", b.name, what, err)
}

// Stats returns a snapshot of the broker's gauges and counters.
func (b *Broker) Stats() Stats { return b.board.Get() }

// Wait blocks until cond holds for the broker's stats (nil), or ctx ends
// (ctx.Err()), or the broker ends (ErrClosed); stats that met cond by then
// are reported (nil), even when they came with the end. cond is called
// with no lock held, from the calling goroutine only.
func (b *Broker) Wait(ctx context.Context, cond func(Stats) bool) error {
	return b.board.Wait(ctx, b.g.Done(), ErrClosed, cond)
}

// Done is closed when the broker has ended: closed, or failed for good
// (its actor kept failing, or its load balancer ended), when Err says why.
func (b *Broker) Done() <-chan struct{} { return b.g.Done() }

// Err is nil while the broker runs and after Close; otherwise why it
// failed.
func (b *Broker) Err() error {
	if err := b.g.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// Close stops the broker and its local load balancer and closes their
// sockets, dropping requests and replies on their way. It returns after
// their goroutines have ended, with the error that ended the broker
// early, if one did. Calls after the first return nil.
func (b *Broker) Close() error {
	err := errors.Join(b.g.Close(), b.lb.Close())
	b.board.Retire()
	return err
}

// source is where a message of the broker's mailbox came from.
type source uint8

const (
	fromClient source = iota + 1 // localfe
	fromPeer                     // cloudfe: a peer's request
	fromCloud                    // cloudbe: a peer's reply
	fromLocal                    // the local load balancer's reply
	fromState                    // statefe: a peer's announcement
	fromLB                       // the local load balancer's stats changed
	fromClock                    // the heartbeat clock
)

// msg is what the broker's actor receives.
type msg struct {
	from source
	m    socket.Msg // from a socket
	now  time.Time  // fromClock
}

// shared is what the actor's incarnations share, and what outlives a
// restart.
type shared struct {
	cfg                     *config
	name                    string
	front, cloudFE, cloudBE *socket.Socket
	toLB, statePub          *socket.Socket
	lb                      *pirate.LoadBalancer
	gate                    *patterns.Gate // clients' requests (localfe)
	peerGate                *patterns.Gate // peers' requests (cloudfe)
	board                   *board.Board[Stats]
	nudged                  atomic.Bool // a fromLB message is on its way
	// The traffic with the load balancer, for localFree. Written by the
	// actor's incarnations only, one after the other: the load balancer's
	// counters go on across a restart, so these do too.
	sentLocal uint64 // requests sent to the load balancer
	repliedLB uint64 // replies received from it
}

// lbWatch is a feed that wakes the actor when its load balancer's stats
// change (a worker idle, a request taken), since that may let a request
// go, or change what the broker announces. It does not carry the stats:
// the actor reads the latest at every message, and one wake-up waits in
// the mailbox at most.
type lbWatch struct{ sh *shared }

func (f *lbWatch) Run(ctx context.Context, in actor.Inlet[msg]) error {
	var last pirate.Stats
	first := true
	for {
		err := f.sh.lb.Wait(ctx, func(s pirate.Stats) bool {
			if first || s != last {
				last, first = s, false
				return true
			}
			return false
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("local load balancer: %w", err)
		}
		if !f.sh.nudged.Swap(true) {
			if in.Put(msg{from: fromLB}) != nil {
				return nil
			}
		}
	}
}

func (f *lbWatch) Close() error { return nil }

// fedRequest is an outstanding request: taken from a client or a peer, not
// answered.
type fedRequest struct {
	key      string     // marker and address stack
	msg      socket.Msg // address stack, delimiter, body (from a peer: its name first)
	fromPeer bool
	state    int    // fedPending, fedLocal or fedCloud
	peer     string // with fedCloud: the peer holding it
}

const (
	fedPending = iota
	fedLocal
	fedCloud
)

// Markers put before a request's address stack on its way through the
// local load balancer, so that its reply is known to be for a local client
// or for a peer.
const (
	fedFromClient = "L"
	fedFromPeer   = "C"
)

// fedPeer is a peer as the broker knows it from its announcements.
type fedPeer struct {
	name     string
	capacity int
	expiry   time.Time
}

// federation is the broker's actor: the state, owned by its goroutine,
// and the sending.
type federation struct {
	*shared
	log         *zap.Logger
	lbst        pirate.Stats // the load balancer's, as of this message
	peers       map[string]*fedPeer
	pending     []*fedRequest
	peerPending int // of pending, those from peers
	outstanding map[string]*fedRequest
	announced   int // the last capacity published, -1 before the first
	st          Stats
}

// newFederation makes the actor's state for a start or a restart: no
// peers and no requests, the counters as the last incarnation left them.
func newFederation(sh *shared) *federation {
	st := sh.board.Get()
	st.Workers, st.LocalIdle, st.Peers, st.CloudIdle, st.Pending, st.Local, st.Cloud = 0, 0, 0, 0, 0, 0, 0
	return &federation{shared: sh, log: sh.cfg.Log, peers: map[string]*fedPeer{},
		outstanding: map[string]*fedRequest{}, announced: -1, st: st}
}

// Start reads clients, and the load balancer's stats as they are.
func (l *federation) Start(context.Context) error {
	l.lbst = l.lb.Stats()
	l.flow()
	return nil
}

func (l *federation) Receive(ctx context.Context, m msg) error {
	if m.from == fromLB {
		l.nudged.Store(false)
	}
	l.lbst = l.lb.Stats()
	switch m.from {
	case fromClient:
		if l.take(ctx, m.m, fedFromClient, false) {
			l.st.Requests++
		}
	case fromPeer:
		if l.take(ctx, m.m, fedFromPeer, true) {
			l.st.PeerRequests++
		}
	case fromCloud:
		l.fromCloud(ctx, m.m)
	case fromLocal:
		l.fromLocal(ctx, m.m)
	case fromState:
		l.announcement(m.m)
	case fromLB:
	case fromClock:
		l.expire(m.now)
		l.announced = -1 // announce again, changed or not
	default:
		return fmt.Errorf("peering: broker: a message from nowhere (%d)", m.from)
	}
	l.dispatch(ctx)
	l.announce(ctx)
	l.flow()
	return nil
}

// flow reads clients while fewer than maxPending requests wait, peers
// while fewer than maxPending of theirs do, and publishes the stats.
func (l *federation) flow() {
	if len(l.pending)-l.peerPending < maxPending {
		l.gate.Open()
	} else {
		l.gate.Close()
	}
	if l.peerPending < maxPending {
		l.peerGate.Open()
	} else {
		l.peerGate.Close()
	}
	l.st.Workers = l.lbst.Workers
	l.st.LocalIdle = max(0, l.localFree())
	l.st.Peers = len(l.peers)
	l.st.CloudIdle = 0
	for _, p := range l.peers {
		// Saturated: two peers may each announce the largest int.
		l.st.CloudIdle = min(l.st.CloudIdle, math.MaxInt-p.capacity) + p.capacity
	}
	l.st.Pending = len(l.pending)
	l.st.Local, l.st.Cloud = 0, 0
	for _, r := range l.outstanding {
		switch r.state {
		case fedLocal:
			l.st.Local++
		case fedCloud:
			l.st.Cloud++
		}
	}
	l.board.Publish(l.st)
}

// localFree is how many more requests the load balancer can hand to an
// idle worker at once. Its last stats snapshot lags behind: from the idle
// workers it counted go the requests sent that it had not taken then, and
// those it holds for a worker; to them come the workers that have replied
// since (the load balancer sends a reply and counts the worker idle in one
// step, before its next snapshot).
func (l *federation) localFree() int {
	taken := l.lbst.Requests + l.lbst.Duplicates + l.lbst.Malformed
	unread := int(l.sentLocal - taken)
	since := int(l.repliedLB) - int(l.lbst.Replies)
	return l.lbst.Idle - unread - l.lbst.Pending + max(0, since)
}

// take records a new request, or handles a resend of an outstanding one.
// It reports whether the request is new.
func (l *federation) take(ctx context.Context, m socket.Msg, marker string, fromPeer bool) bool {
	env, _, ok := ppp.SplitEnvelope(m)
	if !ok {
		l.st.Malformed++
		l.log.Warn("request without an address stack dropped", zap.Error(ErrMalformed), zap.Stringer("msg", m))
		return false
	}
	key := marker + ppp.EnvelopeKey(env)
	if r := l.outstanding[key]; r != nil {
		if r.state == fedCloud {
			// The peer drops it if it still has it, and serves it if
			// it lost it.
			l.sendCloud(ctx, r, r.peer)
		} else {
			l.st.Duplicates++
		}
		return false
	}
	r := &fedRequest{key: key, msg: m, fromPeer: fromPeer}
	l.outstanding[key] = r
	l.pending = append(l.pending, r)
	if fromPeer {
		l.peerPending++
	}
	return true
}

// fromLocal passes on a reply from a local worker: [marker, address stack,
// delimiter, body].
func (l *federation) fromLocal(ctx context.Context, m socket.Msg) {
	l.repliedLB++
	if len(m) < 2 || (string(m[0]) != fedFromClient && string(m[0]) != fedFromPeer) {
		l.st.Malformed++
		return
	}
	l.reply(ctx, string(m[0]), m[1:])
}

// fromCloud passes on a reply from a peer: [peer, address stack,
// delimiter, body].
func (l *federation) fromCloud(ctx context.Context, m socket.Msg) {
	if len(m) < 2 {
		l.st.Malformed++
		return
	}
	l.reply(ctx, fedFromClient, m[1:])
}

// reply sends the first reply to an outstanding request to where the
// request came from.
func (l *federation) reply(ctx context.Context, marker string, m socket.Msg) {
	env, _, ok := ppp.SplitEnvelope(m)
	if !ok {
		l.st.Malformed++
		l.log.Warn("reply without an address stack dropped", zap.Error(ErrMalformed))
		return
	}
	key := marker + ppp.EnvelopeKey(env)
	r := l.outstanding[key]
	if r == nil {
		l.st.LateReplies++
		return
	}
	delete(l.outstanding, key)
	if r.state == fedPending {
		l.unpend(r)
	}
	to := l.front
	if r.fromPeer {
		to = l.cloudFE
		l.st.PeerReplies++
	} else {
		l.st.Replies++
	}
	// Without mandatory routing a ROUTER drops what it cannot route: a
	// client or peer that left.
	if err := to.Send(ctx, m); err != nil && ctx.Err() == nil {
		l.log.Debug("reply not sent", zap.Error(err))
	}
}

// parseAnnouncement reads a peer's capacity announcement: [name, count],
// the count in decimal, the name one a broker may have (validName).
func parseAnnouncement(m [][]byte) (name string, n int, err error) {
	if len(m) != 2 {
		return "", 0, fmt.Errorf("%w: announcement of %d frames", ErrMalformed, len(m))
	}
	n, err = strconv.Atoi(string(m[1]))
	if err != nil || n < 0 || len(m[0]) == 0 {
		return "", 0, fmt.Errorf("%w: announcement without a name and a count", ErrMalformed)
	}
	if !validName(string(m[0])) {
		return "", 0, fmt.Errorf("%w: announcement from %s, which is no broker's name (1 to 255 bytes, not starting with a zero byte)",
			ErrMalformed, ppp.QuoteFrame(m[0]))
	}
	return string(m[0]), n, nil
}

// announcement records a peer's capacity: [name, count].
func (l *federation) announcement(m socket.Msg) {
	name, n, err := parseAnnouncement(m)
	if err != nil {
		l.st.Malformed++
		return
	}
	if name == l.name {
		return
	}
	p := l.peers[name]
	if p == nil && len(l.peers) >= maxPeers {
		l.st.PeersRefused++
		l.log.Warn("announcement dropped", zap.Error(ErrTooManyPeers), zap.Int("peers", len(l.peers)),
			zap.String("peer", ppp.QuoteFrame(m[0])))
		return
	}
	l.st.Announcements++
	if p == nil {
		p = &fedPeer{name: name}
		l.peers[name] = p
		l.log.Debug("peer up", zap.String("peer", name))
	}
	p.capacity = n
	p.expiry = time.Now().Add(l.cfg.Expiry())
}

// expire forgets the peers that have not announced within the liveness,
// and takes back the requests they held.
func (l *federation) expire(now time.Time) {
	for name, p := range l.peers {
		if now.Before(p.expiry) {
			continue
		}
		delete(l.peers, name)
		l.log.Warn("peer gone", zap.String("peer", name))
		var back []*fedRequest
		for _, r := range l.outstanding {
			if r.state == fedCloud && r.peer == name {
				r.state, r.peer = fedPending, ""
				back = append(back, r)
				l.st.Requeued++
			}
		}
		l.pending = append(back, l.pending...)
	}
}

// dispatch sends pending requests to local workers while there are idle
// ones, then those from local clients to the peers with idle workers.
func (l *federation) dispatch(ctx context.Context) {
	if len(l.pending) == 0 {
		return
	}
	free := l.localFree()
	kept := make([]*fedRequest, 0, len(l.pending))
	for _, r := range l.pending {
		if free > 0 && l.sendLocal(ctx, r) {
			free--
			if r.fromPeer {
				l.peerPending--
			}
			continue
		}
		if !r.fromPeer {
			if p := l.bestPeer(); p != nil && l.sendCloud(ctx, r, p.name) {
				p.capacity--
				continue
			}
		}
		kept = append(kept, r)
	}
	l.pending = kept
}

// bestPeer returns the peer that announced the most idle workers, or nil
// when none has any.
func (l *federation) bestPeer() *fedPeer {
	var best *fedPeer
	for _, p := range l.peers {
		if p.capacity > 0 && (best == nil || p.capacity > best.capacity || p.capacity == best.capacity && p.name < best.name) {
			best = p
		}
	}
	return best
}

func (l *federation) sendLocal(ctx context.Context, r *fedRequest) bool {
	marker := fedFromClient
	if r.fromPeer {
		marker = fedFromPeer
	}
	out := make(socket.Msg, 0, len(r.msg)+1)
	out = append(append(out, []byte(marker)), r.msg...)
	if err := l.toLB.Send(ctx, out); err != nil {
		if ctx.Err() == nil {
			l.log.Warn("request not sent to local workers", zap.Error(err))
		}
		return false
	}
	l.sentLocal++
	r.state = fedLocal
	return true
}

// sendCloud sends a request to a peer's cloudfe through cloudbe. A peer
// not connected (yet, or any more) has no capacity until it announces
// again.
func (l *federation) sendCloud(ctx context.Context, r *fedRequest, peer string) bool {
	out := make(socket.Msg, 0, len(r.msg)+1)
	out = append(append(out, []byte(peer)), r.msg...)
	sctx, cancel := context.WithTimeout(ctx, l.cfg.Interval)
	err := l.cloudBE.Send(sctx, out)
	cancel()
	if err != nil {
		if p := l.peers[peer]; p != nil {
			p.capacity = 0
		}
		if ctx.Err() == nil {
			l.log.Debug("request not sent to peer", zap.String("peer", peer), zap.Error(err))
		}
		return false
	}
	l.st.Forwarded++
	r.state, r.peer = fedCloud, peer
	return true
}

// announce publishes the broker's idle capacity when it changed since the
// last announcement (or at a tick).
func (l *federation) announce(ctx context.Context) {
	n := max(0, l.localFree())
	if n == l.announced {
		return
	}
	l.announced = n
	m := socket.Msg{[]byte(l.name), []byte(strconv.Itoa(n))}
	if err := l.statePub.Send(ctx, m); err != nil && ctx.Err() == nil {
		l.log.Debug("capacity not announced", zap.Error(err))
	}
}

// unpend takes an answered request off the pending queue.
func (l *federation) unpend(r *fedRequest) {
	for i, x := range l.pending {
		if x == r {
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			if r.fromPeer {
				l.peerPending--
			}
			return
		}
	}
}
