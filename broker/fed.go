package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/broker/internal/ppp"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// FederatedBroker is a load balancer that lends and borrows workers: the
// guide's broker peering (ch. 3 "Inter-Broker Routing", "Prototyping the
// Local and Cloud Flows", peering2 and peering3). A request from a local
// client goes to a local worker when one is idle; when none is and a peer
// broker has said it has idle workers, it goes to that peer, which serves
// it like a client's, and the reply comes back the way the request went and
// on to the client.
//
// Sockets, named as in the guide:
//
//	localfe  ROUTER, bound: clients (Client, REQ or DEALER), as a LoadBalancer's frontend
//	localbe  ROUTER, bound: PPP workers, a LoadBalancer's backend
//	cloudfe  ROUTER, bound, identity = name: requests from peers' cloudbe
//	cloudbe  ROUTER, connected to each peer's cloudfe, identity = name
//	statebe  PUB, bound: this broker's idle capacity, every heartbeat
//	         interval and whenever it changes: two frames, name and count
//	statefe  SUB, connected to each peer's statebe
//
// Design: the local worker side is a LoadBalancer, unchanged and private
// (its frontend is an inproc endpoint only this broker connects to), so
// that workers get the same PPP with heartbeats, dead-worker detection,
// requeues and duplicate suppression as with a plain LoadBalancer, and the
// guide's ppworker serves a FederatedBroker too. The LoadBalancer's loop
// does not tell which of its requests were read and which wait, so a
// FederatedBroker does not hand it more requests than it has idle workers
// (counted from its Stats: idle workers less requests sent and not yet
// taken); the others wait in the FederatedBroker, which is what lets them
// go to a peer instead. Building on the LoadBalancer keeps lb.go as it is
// and puts all of federation in this file; the cost is one inproc hop.
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
// stack, as in LoadBalancer: a resend of a request outstanding locally is
// dropped; a resend of one outstanding at a peer is sent to that peer again
// (which drops it if it still has it, and serves it if it lost it); of
// several replies to one request only the first reaches the client. A peer
// whose announcements stop for the liveness of the heartbeat is gone: the
// requests it held go back to the head of the queue (at-least-once, as
// with a dead worker).
//
// Concurrency: a FederatedBroker is safe for concurrent use. Besides its
// LoadBalancer's three goroutines it runs seven: one reader for each of
// localfe, cloudfe, cloudbe, statefe and the LoadBalancer's replies, one
// that watches the LoadBalancer's stats, and one that owns all the state
// and does all the sending. NewFederatedBroker starts them and Close
// returns after they have ended and every socket is closed. Peer, Stats
// and Wait may be called from any goroutine.
type FederatedBroker struct {
	name string
	cfg  config
	lb   *pirate.LoadBalancer

	front, cloudFE, cloudBE *socket.Socket
	toLB                    *socket.Socket // DEALER to lb's frontend
	statePub, stateSub      *socket.Socket
	frontEP, cloudEP        string
	stateEP                 string

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	board statsBoard[FedStats]
	mu    sync.Mutex
	err   error
}

// FedStats are a FederatedBroker's gauges (now) and counters (since it
// started).
type FedStats struct {
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
}

// fedSeq names the inproc endpoints of FederatedBrokers' LoadBalancers.
var fedSeq atomic.Uint64

// fedMaxPending bounds the requests a FederatedBroker reads ahead from its
// clients; past it they wait in the clients' queues.
const fedMaxPending = 1024

// NewFederatedBroker binds a federated broker's client frontend, worker
// backend, cloud frontend (for peers' requests) and state endpoint (where
// it announces its idle workers), and starts it. name identifies the
// broker to its peers: 1 to 255 bytes, not starting with a zero byte, and
// different from every peer's. Endpoints are as socket.Bind takes them; tcp
// port "*" picks a free one (see Frontend, Backend, Cloud, State). Peers are
// added with Peer. Options: WithHeartbeat (workers, and how often the
// broker announces its capacity and how soon a silent peer is gone),
// WithMaxDeliveries, WithSocketOptions, WithLogger.
func NewFederatedBroker(name, frontend, backend, cloud, state string, opts ...Option) (_ *FederatedBroker, err error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	idOpt := socket.WithIdentity([]byte(name))
	b := &FederatedBroker{name: name, cfg: cfg, done: make(chan struct{})}
	var socks []*socket.Socket
	defer func() {
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
			if b.lb != nil {
				b.lb.Close()
			}
		}
	}()
	mk := func(typ socket.Type, extra ...socket.Option) (*socket.Socket, error) {
		o := append([]socket.Option{socket.WithLinger(0)}, extra...)
		s, err := socket.New(typ, append(o, cfg.sockOpts...)...)
		if err != nil {
			return nil, fmt.Errorf("broker: federated broker %q: %w", name, err)
		}
		socks = append(socks, s)
		return s, nil
	}
	if b.front, err = mk(socket.Router); err != nil {
		return nil, err
	}
	if b.cloudFE, err = mk(socket.Router, idOpt); err != nil {
		return nil, err
	}
	if b.cloudBE, err = mk(socket.Router, idOpt, socket.WithRouterMandatory()); err != nil {
		return nil, err
	}
	if b.toLB, err = mk(socket.Dealer); err != nil {
		return nil, err
	}
	if b.statePub, err = mk(socket.Pub); err != nil {
		return nil, err
	}
	if b.stateSub, err = mk(socket.Sub); err != nil {
		return nil, err
	}
	if err = b.stateSub.Subscribe(nil); err != nil {
		return nil, fmt.Errorf("broker: federated broker %q: %w", name, err)
	}
	if b.frontEP, err = b.front.Bind(frontend); err == nil {
		if b.cloudEP, err = b.cloudFE.Bind(cloud); err == nil {
			b.stateEP, err = b.statePub.Bind(state)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("broker: federated broker %q: %w", name, err)
	}
	lbFront := fmt.Sprintf("inproc://zmqflow-fed-%d", fedSeq.Add(1))
	if b.lb, err = pirate.NewLoadBalancer(lbFront, backend, pirate.WithHeartbeat(cfg.interval, cfg.liveness),
		pirate.WithMaxDeliveries(cfg.maxDeliveries), pirate.WithSocketOptions(cfg.sockOpts...), pirate.WithLogger(cfg.log)); err != nil {
		return nil, fmt.Errorf("broker: federated broker %q: %w", name, err)
	}
	if err = b.toLB.Connect(b.lb.Frontend()); err != nil {
		return nil, fmt.Errorf("broker: federated broker %q: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.run(ctx)
	return b, nil
}

// Name returns the name the broker is known by to its peers.
func (b *FederatedBroker) Name() string { return b.name }

// Frontend returns the endpoint clients connect to, as bound.
func (b *FederatedBroker) Frontend() string { return b.frontEP }

// Backend returns the endpoint workers connect to, as bound.
func (b *FederatedBroker) Backend() string { return b.lb.Backend() }

// Cloud returns the endpoint peers' cloud backends connect to, as bound.
func (b *FederatedBroker) Cloud() string { return b.cloudEP }

// State returns the endpoint peers subscribe to for this broker's
// capacity, as bound.
func (b *FederatedBroker) State() string { return b.stateEP }

// Peer connects the broker to a peer: its cloud backend to the peer's
// Cloud endpoint and its state subscriber to the peer's State endpoint. It
// returns at once; requests go to the peer after its first announcement.
// Peering is one-way: for the peer to send requests here too, it calls
// Peer with this broker's endpoints.
func (b *FederatedBroker) Peer(cloud, state string) error {
	if err := b.cloudBE.Connect(cloud); err != nil {
		return fmt.Errorf("broker: federated broker %q: peer cloud: %w", b.name, err)
	}
	if err := b.stateSub.Connect(state); err != nil {
		b.cloudBE.Disconnect(cloud)
		return fmt.Errorf("broker: federated broker %q: peer state: %w", b.name, err)
	}
	return nil
}

// Stats returns a snapshot of the broker's gauges and counters.
func (b *FederatedBroker) Stats() FedStats { return b.board.get() }

// Wait blocks until cond holds for the broker's stats, or ctx ends
// (ctx.Err()), or the broker is closed (ErrClosed). cond is called with no
// lock held, from the calling goroutine only.
func (b *FederatedBroker) Wait(ctx context.Context, cond func(FedStats) bool) error {
	return b.board.wait(ctx, b.done, cond)
}

// Close stops the broker and its local LoadBalancer and closes their
// sockets, dropping requests and replies on their way. It returns after
// their goroutines have ended. Calls after the first return nil.
func (b *FederatedBroker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.cancel()
		<-b.done
		err = errors.Join(b.front.Close(), b.cloudFE.Close(), b.cloudBE.Close(),
			b.toLB.Close(), b.statePub.Close(), b.stateSub.Close(), b.lb.Close())
		b.mu.Lock()
		if b.err != nil && err == nil {
			err = b.err
		}
		b.mu.Unlock()
	})
	return err
}

// Markers put before a request's address stack on its way through the
// local LoadBalancer, so that its reply is known to be for a local client
// or for a peer.
const (
	fedFromClient = "L"
	fedFromPeer   = "C"
)

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

// fedPeer is a peer as the loop knows it from its announcements.
type fedPeer struct {
	name     string
	capacity int
	expiry   time.Time
}

type fedLoop struct {
	b           *FederatedBroker
	log         *zap.Logger
	lbst        pirate.Stats
	sentLocal   uint64 // requests sent to the LoadBalancer
	repliedLB   uint64 // replies received from the LoadBalancer
	peers       map[string]*fedPeer
	pending     []*fedRequest
	outstanding map[string]*fedRequest
	announced   int // the last capacity published, -1 before the first
	st          FedStats
}

func (b *FederatedBroker) run(ctx context.Context) {
	defer close(b.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	frontCh, cloudFECh := make(chan socket.Msg, 256), make(chan socket.Msg, 256)
	cloudBECh, lbCh, stateCh := make(chan socket.Msg, 256), make(chan socket.Msg, 256), make(chan socket.Msg, 64)
	lbStats := make(chan pirate.Stats, 1)
	want := make(chan struct{}, fedMaxPending)
	failed := make(chan error, 5)
	wg.Add(6)
	go func() { defer wg.Done(); readLoop(ctx, b.front, want, frontCh, failed) }()
	go func() { defer wg.Done(); readLoop(ctx, b.cloudFE, nil, cloudFECh, failed) }()
	go func() { defer wg.Done(); readLoop(ctx, b.cloudBE, nil, cloudBECh, failed) }()
	go func() { defer wg.Done(); readLoop(ctx, b.toLB, nil, lbCh, failed) }()
	go func() { defer wg.Done(); readLoop(ctx, b.stateSub, nil, stateCh, failed) }()
	go func() { defer wg.Done(); b.watchLB(ctx, lbStats) }()

	l := &fedLoop{b: b, log: b.cfg.log, peers: map[string]*fedPeer{}, outstanding: map[string]*fedRequest{}, announced: -1}
	tick := time.NewTicker(b.cfg.interval)
	defer tick.Stop()
	asked := 0
	for {
		for asked+len(l.pending) < fedMaxPending {
			want <- struct{}{}
			asked++
		}
		select {
		case <-ctx.Done():
			return
		case err := <-failed:
			b.mu.Lock()
			b.err = err
			b.mu.Unlock()
			l.log.Warn("federated broker stopped", zap.Error(err))
			return
		case m := <-frontCh:
			asked--
			l.fromClient(ctx, m)
		case m := <-cloudFECh:
			l.fromPeer(ctx, m)
		case m := <-cloudBECh:
			l.fromCloud(ctx, m)
		case m := <-lbCh:
			l.fromLocal(ctx, m)
		case m := <-stateCh:
			l.announcement(m)
		case st := <-lbStats:
			l.lbst = st
		case now := <-tick.C:
			l.expire(now)
			l.announced = -1 // announce again, changed or not
		}
		l.dispatch(ctx)
		l.announce(ctx)
		l.publish()
	}
}

// watchLB passes each new LoadBalancer stats snapshot to the loop, the
// latest replacing one the loop has not taken yet.
func (b *FederatedBroker) watchLB(ctx context.Context, out chan pirate.Stats) {
	var last pirate.Stats
	first := true
	for {
		var st pirate.Stats
		err := b.lb.Wait(ctx, func(s pirate.Stats) bool {
			if first || s != last {
				st = s
				return true
			}
			return false
		})
		if err != nil {
			return
		}
		first, last = false, st
		select {
		case <-out: // stale
		default:
		}
		select {
		case out <- st:
		case <-ctx.Done():
			return
		}
	}
}

// localFree is how many more requests the LoadBalancer can hand to an idle
// worker at once. Its last stats snapshot lags behind: from the idle
// workers it counted go the requests sent that it had not taken then, and
// those it holds for a worker; to them come the workers that have replied
// since (the LoadBalancer sends a reply and counts the worker idle in one
// step, before its next snapshot).
func (l *fedLoop) localFree() int {
	taken := l.lbst.Requests + l.lbst.Duplicates + l.lbst.Malformed
	unread := int(l.sentLocal - taken)
	since := int(l.repliedLB) - int(l.lbst.Replies)
	return l.lbst.Idle - unread - l.lbst.Pending + max(0, since)
}

func (l *fedLoop) publish() {
	l.st.Workers = l.lbst.Workers
	l.st.LocalIdle = max(0, l.localFree())
	l.st.Peers = len(l.peers)
	l.st.CloudIdle = 0
	for _, p := range l.peers {
		l.st.CloudIdle += p.capacity
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
	l.b.board.publish(l.st)
}

// take records a new request, or handles a resend of an outstanding one.
// It reports whether the request is new.
func (l *fedLoop) take(ctx context.Context, m socket.Msg, marker string, fromPeer bool) bool {
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
	return true
}

func (l *fedLoop) fromClient(ctx context.Context, m socket.Msg) {
	if l.take(ctx, m, fedFromClient, false) {
		l.st.Requests++
	}
}

func (l *fedLoop) fromPeer(ctx context.Context, m socket.Msg) {
	if l.take(ctx, m, fedFromPeer, true) {
		l.st.PeerRequests++
	}
}

// fromLocal passes on a reply from a local worker: [marker, address stack,
// delimiter, body].
func (l *fedLoop) fromLocal(ctx context.Context, m socket.Msg) {
	l.repliedLB++
	if len(m) < 2 || (string(m[0]) != fedFromClient && string(m[0]) != fedFromPeer) {
		l.st.Malformed++
		return
	}
	l.reply(ctx, string(m[0]), m[1:])
}

// fromCloud passes on a reply from a peer: [peer, address stack,
// delimiter, body].
func (l *fedLoop) fromCloud(ctx context.Context, m socket.Msg) {
	if len(m) < 2 {
		l.st.Malformed++
		return
	}
	l.reply(ctx, fedFromClient, m[1:])
}

// reply sends the first reply to an outstanding request to where the
// request came from.
func (l *fedLoop) reply(ctx context.Context, marker string, m socket.Msg) {
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
	to := l.b.front
	if r.fromPeer {
		to = l.b.cloudFE
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
// the count in decimal.
func parseAnnouncement(m [][]byte) (name string, n int, err error) {
	if len(m) != 2 {
		return "", 0, fmt.Errorf("%w: announcement of %d frames", ErrMalformed, len(m))
	}
	n, err = strconv.Atoi(string(m[1]))
	if err != nil || n < 0 || len(m[0]) == 0 {
		return "", 0, fmt.Errorf("%w: announcement without a name and a count", ErrMalformed)
	}
	return string(m[0]), n, nil
}

// announcement records a peer's capacity: [name, count].
func (l *fedLoop) announcement(m socket.Msg) {
	name, n, err := parseAnnouncement(m)
	if err != nil {
		l.st.Malformed++
		return
	}
	if name == l.b.name {
		return
	}
	l.st.Announcements++
	p := l.peers[name]
	if p == nil {
		p = &fedPeer{name: name}
		l.peers[name] = p
		l.log.Debug("peer up", zap.String("peer", name))
	}
	p.capacity = n
	p.expiry = time.Now().Add(l.b.cfg.expiry())
}

// expire forgets the peers that have not announced within the liveness,
// and takes back the requests they held.
func (l *fedLoop) expire(now time.Time) {
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
func (l *fedLoop) dispatch(ctx context.Context) {
	if len(l.pending) == 0 {
		return
	}
	free := l.localFree()
	kept := make([]*fedRequest, 0, len(l.pending))
	for _, r := range l.pending {
		if free > 0 && l.sendLocal(ctx, r) {
			free--
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
func (l *fedLoop) bestPeer() *fedPeer {
	var best *fedPeer
	for _, p := range l.peers {
		if p.capacity > 0 && (best == nil || p.capacity > best.capacity || p.capacity == best.capacity && p.name < best.name) {
			best = p
		}
	}
	return best
}

func (l *fedLoop) sendLocal(ctx context.Context, r *fedRequest) bool {
	marker := fedFromClient
	if r.fromPeer {
		marker = fedFromPeer
	}
	out := make(socket.Msg, 0, len(r.msg)+1)
	out = append(append(out, []byte(marker)), r.msg...)
	if err := l.b.toLB.Send(ctx, out); err != nil {
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
func (l *fedLoop) sendCloud(ctx context.Context, r *fedRequest, peer string) bool {
	out := make(socket.Msg, 0, len(r.msg)+1)
	out = append(append(out, []byte(peer)), r.msg...)
	sctx, cancel := context.WithTimeout(ctx, l.b.cfg.interval)
	err := l.b.cloudBE.Send(sctx, out)
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
func (l *fedLoop) announce(ctx context.Context) {
	n := max(0, l.localFree())
	if n == l.announced {
		return
	}
	l.announced = n
	m := socket.Msg{[]byte(l.b.name), []byte(strconv.Itoa(n))}
	if err := l.b.statePub.Send(ctx, m); err != nil && ctx.Err() == nil {
		l.log.Debug("capacity not announced", zap.Error(err))
	}
}

// unpend takes an answered request off the pending queue.
func (l *fedLoop) unpend(r *fedRequest) {
	for i, x := range l.pending {
		if x == r {
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			return
		}
	}
}
