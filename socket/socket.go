package socket

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/internal/oneframe"
	"github.com/zmqflow/zmqflow/telemetry"
)

// Socket is a ZeroMQ socket with libzmq's semantics for its type.
//
// Concurrency: a Socket is safe for concurrent use. Bind, Connect, Unbind,
// Disconnect, Subscribe and Unsubscribe may be called from any goroutine at any
// time. Send and Recv may be called from several goroutines at once on the
// stateless types (PUSH, PULL, PUB, SUB, XPUB, XSUB, DEALER, ROUTER, PAIR);
// REQ and REP carry one conversation at a time, so a call out of turn, from
// any goroutine, fails with ErrState.
//
// Blocking: Send blocks only where libzmq would (PUSH, DEALER, REQ and PAIR at
// the high-water mark or with no peer; ROUTER with WithRouterMandatory at the
// mark); Recv blocks until a message arrives. Both return when their ctx
// ends, with ctx.Err().
//
// Goroutines: each tcp or ipc connection has one reader and one writer
// goroutine; each Bind has an accept loop and each Connect a dialer. inproc
// connections have none. Close ends all of them and returns after they ended.
type Socket struct {
	typ  Type
	opts options
	mon  monitor
	log  logger

	fq      fairQueue       // received messages, by peer, in turn
	budget  *recvBudget     // WithRecvBudget's; nil for none
	closing chan struct{}   // closed when Close starts
	life    context.Context // ends when Close starts: handshakes under way give up
	endLife context.CancelFunc
	shut    chan struct{} // closed when the first Close or Shutdown has ended
	closed  atomic.Bool
	wg      sync.WaitGroup // every goroutine the socket started

	mu        sync.RWMutex // guards the fields below
	pipes     []*pipe      // peers, in attach order
	routes    map[string]*pipe
	binds     map[string]*binding
	dials     map[string]*dialing
	changed   atomic.Pointer[chan struct{}] // closed and replaced whenever pipes change
	nextID    uint32                        // generated routing identities
	sendables atomic.Pointer[[]*pipe]

	room      signal        // a queue this socket sends into made room
	rr        atomic.Uint64 // round-robin cursor
	dropped   atomic.Uint64 // messages dropped (PUB/XPUB at HWM, ROUTER unroutable)
	discarded atomic.Uint64 // messages queued for a peer that went, or still queued at the end of Close
	// Messages sent that no live pipe's queue counts (see sentTotal):
	// those to an inproc PUB or XPUB, and the counts of pipes gone.
	sentAside   packed
	sentLast    atomic.Uint64 // the last Stats().Sent (see rising)
	swept       atomic.Bool   // Close emptied the inproc receive queues (see discardReceived)
	discardHold discardHold   // WithDiscarded calls deferred while locks are held

	recvStopped atomic.Bool   // StopReceiving: the receive queues take nothing more
	unreceived  atomic.Uint64 // messages tcp or ipc peers sent after StopReceiving, read and discarded

	confirming  atomic.Bool  // ShutdownConfirmed: each connection waits for its peer's end (see conn.drain)
	unconfirmed atomic.Int64 // connections that ended during ShutdownConfirmed unconfirmed (see conn.serve)

	state   atomic.Int32 // REQ/REP conversation state
	reqPipe *pipe        // REQ: where the outstanding request went
	reqID   uint32       // REQ with WithReqCorrelate: the outstanding request's id
	repPipe *pipe        // REP: where the reply goes
	repEnv  Msg          // REP: the request's envelope, delimiter included

	subs subscriptions // SUB/XSUB: our subscriptions; XPUB: topic counts over peers

	prof       socketProfile // telemetry, when profiling was on at New
	loneWrites bool          // the profile exporter's: see writeBuf.lone
	tel        atomic.Pointer[sockTel]

	// made: the small messages its readers made, given back to be
	// reused (oneframe.Recycle). inproc: bound or connected to an inproc
	// endpoint once, so that some of its messages may be an inproc peer's
	// own, which are never given back (see oneframe.ReadersList).
	made   oneframe.List
	inproc atomic.Bool
}

func init() {
	oneframe.ReadersList = func(sock any) *oneframe.List {
		if s, ok := sock.(*Socket); ok && !s.inproc.Load() {
			return &s.made
		}
		return nil
	}
}

// New makes a socket of type t. It has no endpoints yet: Bind or Connect it.
func New(t Type, opts ...Option) (*Socket, error) {
	if !t.valid() {
		return nil, fmt.Errorf("%w: %d", ErrBadType, int(t))
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.apply(&o); err != nil {
			return nil, err
		}
	}
	if err := o.checkTypes(t); err != nil {
		return nil, err
	}
	if o.plainClient && o.plainAuth != nil {
		return nil, fmt.Errorf("%w: a socket is either a PLAIN client or a PLAIN server", ErrBadOption)
	}
	if err := o.checkCurve(); err != nil {
		return nil, err
	}
	s := &Socket{
		typ:     t,
		opts:    o,
		closing: make(chan struct{}),
		shut:    make(chan struct{}),
		routes:  make(map[string]*pipe),
		binds:   make(map[string]*binding),
		dials:   make(map[string]*dialing),
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	if o.recvBudget > 0 {
		s.budget = newRecvBudget(o.recvBudget)
	}
	s.log = logger{o.logger.With(zapType(t))}
	s.subs.init()
	s.fq.init()
	s.sendables.Store(new([]*pipe))
	changed := make(chan struct{})
	s.changed.Store(&changed)
	s.prof.on = telemetry.Enabled()
	s.prof.queued = s.prof.on && countsInQueues(t)
	return s, nil
}

// Type returns the socket's type.
func (s *Socket) Type() Type { return s.typ }

// Linger returns the socket's linger period (WithLinger): how long Close
// keeps sending what is queued; 0 discards it at once, a negative value
// waits without bound. Safe for concurrent use; it never changes.
func (s *Socket) Linger() time.Duration { return s.opts.linger }

// Monitor returns a channel of connection events: listening, accepted,
// connected, handshake results, disconnects and dropped messages. Call it
// before Bind and Connect to see every event. Events that find the channel
// full are not waited for: they are counted in Stats().EventsDropped. The
// channel is closed when Close returns. Every call returns the same channel.
func (s *Socket) Monitor() <-chan Event { return s.mon.open() }

// Stats are counters a socket keeps for its owner.
type Stats struct {
	Peers         int    // peers attached now (PUSH, DEALER, REQ, PAIR: a Connect counts from the call, as libzmq's pipes, unless WithImmediate)
	Subscribers   int    // PUB, XPUB: peers that have subscribed to something (a slow joiner has arrived)
	Dropped       uint64 // messages dropped: PUB/XPUB at a subscriber's HWM, ROUTER to an unknown peer
	Discarded     uint64 // messages queued for a peer that went away (a bound side's peer; an inproc peer that closed before it received them), or still queued when Close or Shutdown gave up
	EventsDropped uint64 // monitor events dropped because the Monitor channel was full
	Queued        int    // messages received from peers and not yet taken by Recv (at most the receive high-water mark per peer)
	Unreceived    uint64 // messages tcp or ipc peers sent after StopReceiving, read off the wire and discarded (an inproc peer's are refused at its Send instead)
	Sent          uint64 // messages Send queued for a peer or wrote to it, whether or not the peer got them (those discarded later count in Discarded too; with WithConflate, those replaced too): a PUB's once for each subscriber that took it; a SUB's subscriptions, a ROUTER's probes and an XPUB's welcome among them
}

// Stats returns the socket's counters.
func (s *Socket) Stats() Stats {
	s.mu.RLock()
	pipes := slices.Clone(s.pipes)
	s.mu.RUnlock()
	subscribers, queued := 0, 0
	for _, p := range pipes {
		if p.subscribed() {
			subscribers++
		}
		if p.inq != nil {
			queued += p.inq.len()
		}
	}
	// A peer that left leaves what it sent in the queue for Recv.
	s.fq.mu.Lock()
	for _, p := range s.fq.turns {
		if p.gone.Load() && p.inq != nil && !slices.Contains(pipes, p) {
			queued += p.inq.len()
		}
	}
	s.fq.mu.Unlock()
	return Stats{Peers: len(pipes), Subscribers: subscribers, Queued: queued, Unreceived: s.unreceived.Load(), Sent: s.sentTotal(), Dropped: s.dropped.Load(), Discarded: s.discarded.Load(), EventsDropped: s.mon.dropped.Load()}
}

// Sent returns Stats().Sent alone, for a reader that wants nothing else
// (an exporter at each batch, say): it looks at each peer's send count
// and nothing more, under the locks a Send holds for a moment, and never
// waits on a Send or a Recv. Safe for concurrent use, as Stats is; like
// Stats().Sent, it never goes backwards, and it keeps counting what was
// sent to peers that left and after Close.
func (s *Socket) Sent() uint64 { return s.sentTotal() }

// Close closes the socket. Messages already queued keep going out for up to
// the linger period (WithLinger, 30 s by default), including those queued for
// a Connect whose peer has not come up yet: Close waits for it, as libzmq's
// context does at exit. Then every connection is closed, and what is still
// queued is discarded (counted in Stats().Discarded). Close returns after
// every goroutine the socket started has ended. Use WithLinger(0) where
// undelivered messages do not matter, and Shutdown to bound the wait by a
// ctx and learn whether anything was lost.
// A call after the first waits until the first has ended, and returns nil;
// Send and Recv return ErrClosed.
func (s *Socket) Close() error {
	ctx := context.Background()
	switch l := s.opts.linger; {
	case l == 0:
		ctx = ended
	case l > 0:
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l)
		defer cancel()
	}
	if _, first := s.shutdown(ctx); !first {
		<-s.shut
	}
	return nil
}

// Shutdown closes the socket as Close does, but lingers until ctx ends
// instead of for the linger period: queued messages keep going out until
// they are all out or ctx is done; then every connection is closed and what
// is still queued is discarded. It returns nil if nothing queued was lost
// while it ran, and otherwise an error wrapping ErrDiscarded (and ctx's
// error, if that is why) that says how many messages were discarded. Like
// Close, it returns after every goroutine the socket started has ended. A
// call after the first (or after Close) waits until that one has ended, or
// until its own ctx ends, and returns nil.
func (s *Socket) Shutdown(ctx context.Context) error {
	n, first := s.shutdown(ctx)
	return discardedErr(ctx, n, first)
}

// discardedErr is Shutdown's error, for n messages discarded by the first
// shutdown (first) that lingered until ctx ended.
func discardedErr(ctx context.Context, n uint64, first bool) error {
	switch {
	case !first || n == 0:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %d messages: %w", ErrDiscarded, n, ctx.Err())
	}
	// Discarded before ctx ended: queued for a peer that went, or for a
	// Connect that gave up.
	return fmt.Errorf("%w: %d messages", ErrDiscarded, n)
}

// ShutdownConfirmed is Shutdown that also waits, within ctx, for each peer
// to confirm that it has read everything sent to it: once what is queued
// for a tcp or ipc peer is written, the socket ends its stream to the peer
// and waits for the peer to end its own, which a peer (libzmq's too) does
// only after reading all that came before. So when it returns nil, what
// the socket sent is in its peers' receive queues, not on the wire: a
// peer that is closed after it loses none of it to the connection's
// buffers. (An inproc peer has each message in its queue once Send
// returns.) A peer whose queue is full waits for its reader to make room,
// so ShutdownConfirmed waits for it too, within ctx. It returns Shutdown's
// errors, or one wrapping ErrUnconfirmed (and ctx's error, if that is why)
// that says how many connections' peers did not confirm.
func (s *Socket) ShutdownConfirmed(ctx context.Context) error {
	s.confirming.Store(true) // for nothing if it is closed already
	discarded, first := s.shutdown(ctx)
	if err := discardedErr(ctx, discarded, first); err != nil || !first {
		return err
	}
	n := s.unconfirmed.Load()
	switch {
	case n == 0:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %d connections: %w", ErrUnconfirmed, n, ctx.Err())
	}
	return fmt.Errorf("%w: %d connections", ErrUnconfirmed, n)
}

// ended is a context that has ended: stop now, lingering for nothing.
var ended = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// shutdown closes the socket, lingering until ctx ends. It returns how many
// queued messages it discarded, and false if the socket was already closed.
//
// A later call waits for the first to end, or for its own ctx: it must not
// return while the first still lingers with the socket's goroutines, but a
// Shutdown's ctx bounds its wait.
func (s *Socket) shutdown(ctx context.Context) (discarded uint64, first bool) {
	if s.closed.Swap(true) {
		select {
		case <-s.shut:
		case <-ctx.Done():
		}
		return 0, false
	}
	defer close(s.shut)
	before := s.discarded.Load()
	close(s.closing)
	if s.budget != nil {
		s.budget.close() // readers read on, for the writers' linger (see inbound)
	}
	s.fq.polled.notify() // pollers see it closed
	s.endLife()

	s.awaitInprocBinds(ctx)
	received := s.inprocReceivers() // before closeInproc detaches them
	s.closeInproc()
	s.discardReceived(received)
	s.mu.Lock()
	binds := make([]*binding, 0, len(s.binds))
	for k, b := range s.binds {
		if k == b.endpoint && b.l != nil {
			binds = append(binds, b)
		}
	}
	dials := make([]*dialing, 0, len(s.dials))
	for _, d := range s.dials {
		if d.e.transport != "inproc" {
			dials = append(dials, d)
		}
	}
	s.mu.Unlock()

	// Every endpoint lingers at once, so Close takes one linger period at most.
	var stopping sync.WaitGroup
	for _, b := range binds {
		stopping.Go(func() { b.stop(ctx) })
	}
	for _, d := range dials {
		stopping.Go(func() { d.stop(ctx) })
	}
	stopping.Wait()
	s.wg.Wait()

	s.mu.Lock()
	pipes := append([]*pipe(nil), s.pipes...)
	s.mu.Unlock()
	for _, p := range pipes {
		s.detach(p)
	}
	s.mon.close()
	s.untrace()
	return s.discarded.Load() - before, true
}

// checkOpen returns ErrClosed once Close has begun.
func (s *Socket) checkOpen() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// waitChanged returns the channel that is closed at the next change of the
// peer set. Load it before looking at the peers, so no change is missed.
func (s *Socket) waitChanged() <-chan struct{} { return *s.changed.Load() }

// publishLocked makes the peer set visible to senders and wakes waiters.
// s.mu must be held for writing.
func (s *Socket) publishLocked() {
	ps := make([]*pipe, len(s.pipes))
	copy(ps, s.pipes)
	s.sendables.Store(&ps)
	next := make(chan struct{})
	close(*s.changed.Swap(&next))
}
