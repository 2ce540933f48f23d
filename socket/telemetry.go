package socket

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Profiling (package telemetry). A socket made while profiling is on is
// measured from its first Bind or Connect, when its endpoint is known:
// messages and bytes each way, drops and peers. One that was made while it
// was off costs one atomic load per Send and Recv.
//
// PUSH, PULL, DEALER and PAIR, the types of pipelines, count their
// messages in their pipes' queues, under the locks that Send and Recv take
// there anyway (see queue.counted): no atomic instruction of its own per
// message. The other types count at Send and Recv, where the message is
// the caller's (ROUTER's identity, REQ's envelope) or goes to many peers
// (PUB), with one atomic add.

func init() { telemetry.SetTransport(dialProfile) }

// socketProfile is what a socket keeps for profiling.
type socketProfile struct {
	on     bool      // profiling was on at New, and this is not the exporter's socket
	queued bool      // on, and the messages are counted in the queues (countsInQueues)
	once   sync.Once // registers the series at the first Bind or Connect
	remove []func()  // takes the socket's functions out of the registry at Close

	// queued: where the takes of pipes gone are counted, set at the
	// first Bind or Connect. (The count out is Stats().Sent's.)
	counted atomic.Pointer[sockTel]
}

// countsInQueues says whether a measured socket of type t counts its
// messages in its pipes' queues: the types whose Send queues the caller's
// message as it is, to one peer, and whose Recv returns every message it
// takes, as it is.
func countsInQueues(t Type) bool {
	switch t {
	case Push, Pull, Dealer, Pair:
		return true
	}
	return false
}

// sockTel counts a measured socket's messages and bytes, each way, with
// one atomic add per Send or Recv: the message count and the bytes share
// a word (a message in the top bits, its size in the low ones), folded
// into exact totals when the exporter reads them, or by the writer when
// the word fills up. A queued socket's (countsInQueues) holds what Recv
// took from pipes gone; its messages out are those of Stats().Sent.
type sockTel struct {
	in, out packed
	// queued: the last totals read, each way, messages and bytes (see
	// rising).
	last [4]atomic.Uint64
}

// packed is a count of messages (top 24 bits) and of their bytes (low 40
// bits), and the totals it is folded into.
type packed struct {
	word         atomic.Uint64
	msgs, nbytes atomic.Uint64
	foldMu       sync.Mutex         // folds one at a time (see fold)
	_            [64 - 3*8 - 8]byte // a cache line of its own: sockets on other cores count apart
}

const (
	packMsg   = 1 << 40       // one message in the word
	packBytes = packMsg - 1   // the bytes' bits
	foldAt    = 1 << 63       // half the messages' bits: fold
	bigMsg    = packBytes / 4 // a message this big goes to the totals directly
)

func (p *packed) add(size int) {
	if uint64(size) >= bigMsg {
		p.msgs.Add(1)
		p.nbytes.Add(uint64(size))
		return
	}
	if v := p.word.Add(packMsg | uint64(size)); v >= foldAt || v&packBytes >= bigMsg {
		p.fold()
	}
}

// fold moves the word into the totals. Swap makes each count land once,
// whoever folds; foldMu makes a fold wait for one under way, which has
// taken counts from the word and not yet added them to the totals: a read
// after its own fold would otherwise miss them. Only readers, and a writer
// whose word fills up, take it.
func (p *packed) fold() {
	p.foldMu.Lock()
	v := p.word.Swap(0)
	p.msgs.Add(v / packMsg)
	p.nbytes.Add(v & packBytes)
	p.foldMu.Unlock()
}

func (p *packed) addTotals(c msgCount) {
	p.msgs.Add(c.msgs)
	p.nbytes.Add(c.bytes)
}

func (p *packed) messages() uint64 { p.fold(); return p.msgs.Load() }

func (p *packed) bytes() uint64 { p.fold(); return p.nbytes.Load() }

func (t *sockTel) sent(m Msg) { t.out.add(m.Size()) }

func (t *sockTel) received(m Msg) { t.in.add(m.Size()) }

// trace registers the socket's series, named by its type and ep, the
// first time it is bound or connected, if profiling was on when it was
// made. Sockets of one type and endpoint add up in the same series, as
// actors of one name do: a program that opens a socket per request (a
// Lazy Pirate client, on every retry) keeps a bounded number of series.
func (s *Socket) trace(ep string) {
	if !s.prof.on {
		return
	}
	s.prof.once.Do(func() {
		attrs := []telemetry.Attr{
			telemetry.String(telemetry.AttrSocketType, s.typ.String()),
			telemetry.String(telemetry.AttrSocketEndpoint, ep),
		}
		in := append(attrs[:2:2], telemetry.String(telemetry.AttrDirection, "in"))
		out := append(attrs[:2:2], telemetry.String(telemetry.AttrDirection, "out"))
		t := &sockTel{}
		inMsgs, outMsgs, inBytes, outBytes := t.in.messages, t.out.messages, t.in.bytes, t.out.bytes
		if s.prof.queued {
			inMsgs, outMsgs = s.queuedTotal(t, 0), s.queuedTotal(t, 1)
			inBytes, outBytes = s.queuedTotal(t, 2), s.queuedTotal(t, 3)
		}
		s.prof.remove = []func(){
			telemetry.CounterFunc(telemetry.MetricSocketMessages, "{message}", inMsgs, in...),
			telemetry.CounterFunc(telemetry.MetricSocketMessages, "{message}", outMsgs, out...),
			telemetry.CounterFunc(telemetry.MetricSocketBytes, "By", inBytes, in...),
			telemetry.CounterFunc(telemetry.MetricSocketBytes, "By", outBytes, out...),
			telemetry.CounterFunc(telemetry.MetricSocketDrops, "{message}", func() uint64 {
				return s.dropped.Load() + s.discarded.Load()
			}, attrs...),
			telemetry.GaugeFunc(telemetry.MetricSocketPeers, "{peer}", func() int64 {
				s.mu.RLock()
				defer s.mu.RUnlock()
				return int64(len(s.pipes))
			}, attrs...),
		}
		if s.prof.queued {
			s.prof.counted.Store(t)
		} else {
			s.tel.Store(t) // Send and Recv count
		}
	})
}

// queuedTotal returns the function that reads one of a queued socket's
// totals: i is 0 for messages in, 1 out, 2 bytes in, 3 out.
func (s *Socket) queuedTotal(t *sockTel, i int) func() uint64 {
	return func() uint64 {
		var c [4]uint64
		// Under s.mu: a pipe leaves s.pipes before its takes move to the
		// socket's (retireCounts), so none is counted twice. One read
		// between the two misses them: rising hides the dip. (Its sends
		// move under s.mu as it leaves: see sentLocked.)
		s.mu.RLock()
		for _, p := range s.pipes {
			if p.inq != nil {
				n := p.inq.takeCount()
				c[0], c[2] = c[0]+n.msgs, c[2]+n.bytes
			}
		}
		c[1], c[3] = s.sentLocked()
		c[0] += t.in.messages()
		c[2] += t.in.bytes()
		s.mu.RUnlock()
		return rising(&t.last[i], c[i])
	}
}

// rising returns v, or the last value returned if that was higher: a
// total read while a pipe's counts move from its queue to the socket's
// totals would dip for that one read.
func rising(last *atomic.Uint64, v uint64) uint64 {
	for {
		old := last.Load()
		if v <= old {
			return old
		}
		if last.CompareAndSwap(old, v) {
			return v
		}
	}
}

// retireCounts moves the count of what Recv took from p.inq of a measured
// queued socket to its totals, when p has left s.pipes; what is still
// taken from it is counted there from now on. (What p sent moved as it
// left: see detach.)
func (s *Socket) retireCounts(p *pipe) {
	if t := s.prof.counted.Load(); t != nil && p.inq != nil {
		p.inq.retireTakes(&t.in)
	}
}

// inprocCounted says whether an inproc peer's receive queue counts what
// is sent to a socket of type t (see pipe.sentTo). A PUB or an XPUB takes
// subscriptions, which it queues for nobody or not always: what is sent
// to one is counted with sentInproc, an atomic add, which the messages
// that matter to a pipeline's rate (a SUB's data, a PUSH's tasks) never pay.
func inprocCounted(t Type) bool { return t != Pub && t != XPub }

// sentInproc counts a message sent to an inproc PUB or XPUB, which no
// queue counts (see inprocCounted).
func (s *Socket) sentInproc(m Msg) { s.sentAside.add(m.Size()) }

// sentTo returns the queue that counts what p sends: its out queue
// (tcp, ipc), or the inproc peer's receive queue it alone sends into (nil,
// or one that counts nothing, if the peer cannot receive or is a PUB or an
// XPUB).
func (p *pipe) sentTo() *queue {
	if p.out != nil {
		return p.out
	}
	return p.peerq
}

// sentLocked returns the messages and bytes handed to peers: what the
// live pipes' queues counted, and the rest. s.mu is held: a pipe's count
// moves to sentAside (retirePuts) as the pipe leaves s.pipes, under s.mu
// held to write, so it is seen once, in the queue or retired.
func (s *Socket) sentLocked() (msgs, bytes uint64) {
	for _, p := range s.pipes {
		if q := p.sentTo(); q != nil {
			n := q.putCount()
			msgs, bytes = msgs+n.msgs, bytes+n.bytes
		}
	}
	return msgs + s.sentAside.messages(), bytes + s.sentAside.bytes()
}

// sentTotal is Stats().Sent and Sent. A read sees every count made
// before it (a pipe's moves under s.mu, sentAside's folds one at a time:
// see packed.fold); rising keeps the promise that it never goes backwards
// in one place.
func (s *Socket) sentTotal() uint64 {
	s.mu.RLock()
	n, _ := s.sentLocked()
	s.mu.RUnlock()
	return rising(&s.sentLast, n)
}

// untrace freezes the socket's series at Close: its totals stay, its peers
// leave the gauge.
func (s *Socket) untrace() {
	if !s.prof.on {
		return
	}
	s.prof.once.Do(func() {}) // a Bind racing Close registers first or never
	for _, f := range s.prof.remove {
		f()
	}
}

// profileHWM is the exporter's send high-water mark: the batch being
// written and the next may wait for a slow or absent collector; beyond
// that, batches are dropped and counted. Every batch carries the totals,
// so a dropped one loses no count, and each one waiting is heap that the
// profiled program's GC must work around.
const profileHWM = 2

// dialProfile is package telemetry's transport: a PUSH socket connected
// to the collector. It is not itself measured.
func dialProfile(endpoint string) (telemetry.Sender, error) {
	s, err := New(Push, WithSendHWM(profileHWM), WithLinger(0), WithReconnectIntervalMax(time.Second))
	if err != nil {
		return nil, err
	}
	s.prof.on, s.prof.queued = false, false
	s.loneWrites = true // a batch each interval
	if err := s.Connect(endpoint); err != nil {
		s.Close()
		return nil, err
	}
	return profileSender{s}, nil
}

type profileSender struct{ s *Socket }

// TrySend's error says, with telemetry.ErrNoCollector, when no collector
// is connected: the batch found no room because nobody takes them, not
// because a collector is slow.
func (p profileSender) TrySend(frames [][]byte) error {
	err := p.s.TrySend(Msg(frames))
	if err != nil && p.s.noPeerUp() {
		return fmt.Errorf("%w: %w", err, telemetry.ErrNoCollector)
	}
	return err
}

// Close delivers what is queued within ctx, unless the collector is known
// to be away (a dial refused or a connection lost, and no handshake
// since): then nothing could be delivered before ctx ends, so it discards
// at once, and a profiled program exits promptly when the collector is
// absent. A collector still being reached for the first time is waited
// for, so that a short program's batch goes out.
func (p profileSender) Close(ctx context.Context) error {
	if !p.s.peersDown() {
		none := p.s.noPeerUp() // before the shutdown takes the connections away
		err := p.s.Shutdown(ctx)
		if err != nil && none {
			return fmt.Errorf("%w: %w", err, telemetry.ErrNoCollector)
		}
		return err
	}
	if n, first := p.s.shutdown(ended); first && n > 0 {
		return fmt.Errorf("%w: %d messages: %w", ErrDiscarded, n, telemetry.ErrNoCollector)
	}
	return nil
}

// noPeerUp reports whether the socket connects to tcp or ipc endpoints
// only, and has no connection up on any of them (an inproc peer is not
// known this way, and is taken to be there).
func (s *Socket) noPeerUp() bool {
	if s.inproc.Load() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, d := range s.dials {
		if d.set.established() {
			return false
		}
	}
	return len(s.dials) > 0
}

// peersDown reports whether every endpoint the socket connects to is known
// to be away (see dialing.down).
func (s *Socket) peersDown() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, d := range s.dials {
		if !d.down.Load() {
			return false
		}
	}
	return len(s.dials) > 0
}
