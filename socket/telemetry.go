package socket

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Profiling (package telemetry). A socket made while profiling is on is
// measured from its first Bind or Connect, when its endpoint is known:
// messages and bytes each way, drops and peers. One that was made while it
// was off costs one atomic load per Send and Recv.

func init() { telemetry.SetTransport(dialProfile) }

// socketProfile is what a socket keeps for profiling.
type socketProfile struct {
	on     bool      // profiling was on at New, and this is not the exporter's socket
	once   sync.Once // registers the series at the first Bind or Connect
	remove []func()  // takes the socket's functions out of the registry at Close
}

// sockTel counts a measured socket's messages and bytes, each way, with
// one atomic add per Send or Recv: the message count and the bytes share
// a word (a message in the top bits, its size in the low ones), folded
// into exact totals when the exporter reads them, or by the writer when
// the word fills up.
type sockTel struct {
	in, out packed
}

// packed is a count of messages (top 24 bits) and of their bytes (low 40
// bits), and the totals it is folded into.
type packed struct {
	word         atomic.Uint64
	msgs, nbytes atomic.Uint64
	_            [64 - 3*8]byte // a cache line of its own: sockets on other cores count apart
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
// whoever folds.
func (p *packed) fold() {
	v := p.word.Swap(0)
	p.msgs.Add(v / packMsg)
	p.nbytes.Add(v & packBytes)
}

func (p *packed) messages() uint64 { p.fold(); return p.msgs.Load() }

func (p *packed) bytes() uint64 { p.fold(); return p.nbytes.Load() }

func (t *sockTel) sent(m Msg) { t.out.add(m.Size()) }

func (t *sockTel) received(m Msg) { t.in.add(m.Size()) }

var socketSeq atomic.Int64

// trace registers the socket's series, named by ep, the first time it is
// bound or connected, if profiling was on when it was made.
func (s *Socket) trace(ep string) {
	if !s.prof.on {
		return
	}
	s.prof.once.Do(func() {
		attrs := []telemetry.Attr{
			telemetry.Int(telemetry.AttrSocketID, socketSeq.Add(1)),
			telemetry.String(telemetry.AttrSocketType, s.typ.String()),
			telemetry.String(telemetry.AttrSocketEndpoint, ep),
		}
		in := append(attrs[:3:3], telemetry.String(telemetry.AttrDirection, "in"))
		out := append(attrs[:3:3], telemetry.String(telemetry.AttrDirection, "out"))
		t := &sockTel{}
		s.prof.remove = []func(){
			telemetry.CounterFunc(telemetry.MetricSocketMessages, "{message}", t.in.messages, in...),
			telemetry.CounterFunc(telemetry.MetricSocketMessages, "{message}", t.out.messages, out...),
			telemetry.CounterFunc(telemetry.MetricSocketBytes, "By", t.in.bytes, in...),
			telemetry.CounterFunc(telemetry.MetricSocketBytes, "By", t.out.bytes, out...),
			telemetry.CounterFunc(telemetry.MetricSocketDrops, "{message}", func() uint64 {
				return s.dropped.Load() + s.discarded.Load()
			}, attrs...),
			telemetry.GaugeFunc(telemetry.MetricSocketPeers, "{peer}", func() int64 {
				s.mu.RLock()
				defer s.mu.RUnlock()
				return int64(len(s.pipes))
			}, attrs...),
		}
		s.tel.Store(t)
	})
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

// profileHWM is the exporter's send high-water mark: a few batches may
// wait for a slow collector; beyond that, batches are dropped and counted.
const profileHWM = 4

// dialProfile is package telemetry's transport: a PUSH socket connected
// to the collector. It is not itself measured.
func dialProfile(endpoint string) (telemetry.Sender, error) {
	s, err := New(Push, WithSendHWM(profileHWM), WithLinger(0), WithReconnectIntervalMax(time.Second))
	if err != nil {
		return nil, err
	}
	s.prof.on = false
	if err := s.Connect(endpoint); err != nil {
		s.Close()
		return nil, err
	}
	return profileSender{s}, nil
}

type profileSender struct{ s *Socket }

func (p profileSender) TrySend(frames [][]byte) error { return p.s.TrySend(Msg(frames)) }

func (p profileSender) Close(ctx context.Context) error { return p.s.Shutdown(ctx) }
