package socket

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// Polling: the guide's zmq_poll loops, in Go. A loop that serves several
// sockets waits until one of them can go on, then receives (or sends)
// without blocking: Readable gives a channel for a select, Poll waits on a
// list of sockets, and TryRecv, TryRecvBatch and TrySend never wait.
//
// Nothing here runs unless it is called: no goroutine, and Recv and Send do
// no extra work. The receive side's one hook is in fairQueue.ready, which
// already runs only when a peer's queue gets a message while it is off the
// turn list; there it loads one pointer, and closes a channel only if a
// poller waits. Readiness is always worked out afresh from the queues, so
// it is level-triggered, and a message is never taken out of its queue
// until TryRecv or Recv takes it: a select that picks another case loses
// nothing.
//
// There is no Writable channel to go with Readable: room to send is told
// by two of the send side's signals (a queue made room, the peer set
// changed), which one channel could only merge with a goroutine. Poll waits
// on both, so PollOut is Poll's.

// Events are the conditions Poll waits for and reports, as zmq_poll's
// ZMQ_POLLIN and ZMQ_POLLOUT.
type Events uint8

const (
	// PollIn: Recv would return at once. A message is queued (for SUB, one
	// that matches a subscription; for REQ, while it awaits its reply; for
	// REP, while it owes no reply), or the socket is closed.
	PollIn Events = 1 << iota
	// PollOut: Send would not block. PUB, XPUB and XSUB are always
	// writable, as is ROUTER without WithRouterMandatory; PUSH, DEALER, PAIR
	// and REQ (between requests) when a peer has room under its high-water
	// mark; ROUTER with WithRouterMandatory when any peer has room; REP while
	// it owes a reply. PULL and SUB never are. A closed socket is.
	PollOut
)

// String names the events: "PollIn|PollOut", "PollIn", "0".
func (e Events) String() string {
	if e&^(PollIn|PollOut) != 0 {
		return fmt.Sprintf("Events(%#x)", uint8(e))
	}
	switch e {
	case 0:
		return "0"
	case PollIn:
		return "PollIn"
	case PollOut:
		return "PollOut"
	}
	return "PollIn|PollOut"
}

// PollItem is one socket Poll watches: the Events it waits for, and the
// Ready events Poll found.
type PollItem struct {
	Socket *Socket
	Events Events // what to wait for; an item with none, or no Socket, is skipped
	Ready  Events // set by Poll: those of Events that hold
}

// ErrWouldBlock is TryRecv or TrySend finding that the call would have to
// wait (libzmq's EAGAIN with ZMQ_DONTWAIT).
var ErrWouldBlock = errors.New("socket: operation would block")

// closedChan is the channel of a socket that is ready now.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Poll waits until at least one item's socket is ready for one of its
// Events, or ctx ends, as zmq_poll does. It sets every item's Ready and
// returns how many items have some; when ctx ends first it returns 0 and
// ctx.Err(). A closed socket is ready for whatever its item waits for, so
// that the TryRecv or TrySend that follows returns ErrClosed.
//
// Readiness is level-triggered and worked out afresh at each call: a
// message that a loop does not receive keeps its socket ready for the next
// Poll. It is a snapshot, though. Another goroutine receiving from the same
// socket may take the message first, and a REQ or REP socket whose Send or
// Recv another goroutine makes does not wake a Poll under way. With one
// goroutine receiving from each socket, as in the guide's loops, a PollIn
// socket's TryRecv returns a message (for REQ, unless it is a late reply
// to an earlier request, which Recv drops).
//
// Poll may be called from any goroutine, on sockets other goroutines poll
// too. It starts no goroutine. When nothing is ready yet, waiting costs an
// allocation or two per socket; a Poll that finds something ready does not
// wait.
func Poll(ctx context.Context, items []PollItem) (int, error) {
	if n := pollItems(items); n > 0 {
		return n, nil
	}
	var cases []reflect.SelectCase
	for {
		// Load every signal before looking, so that what happens after the
		// look wakes the wait.
		cases = cases[:0]
		for i := range items {
			it := &items[i]
			s := it.Socket
			if s == nil {
				continue
			}
			if it.Events&PollIn != 0 {
				cases = append(cases, recvCase(s.fq.polled.wait()))
			}
			if it.Events&PollOut != 0 {
				cases = append(cases, recvCase(s.waitChanged()), recvCase(s.room.wait()), recvCase(s.closing))
			}
		}
		if n := pollItems(items); n > 0 {
			return n, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		cases = append(cases, recvCase(ctx.Done()))
		reflect.Select(cases)
	}
}

func recvCase[T any](ch <-chan T) reflect.SelectCase {
	return reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
}

// pollItems sets each item's Ready and returns how many have some.
func pollItems(items []PollItem) int {
	n := 0
	for i := range items {
		it := &items[i]
		it.Ready = 0
		if it.Socket == nil {
			continue
		}
		if it.Events&PollIn != 0 && it.Socket.pollIn() {
			it.Ready |= PollIn
		}
		if it.Events&PollOut != 0 && it.Socket.pollOut() {
			it.Ready |= PollOut
		}
		if it.Ready != 0 {
			n++
		}
	}
	return n
}

// Readable returns a channel that is closed once the socket is ready for
// PollIn: a Recv would return at once, with a message or with ErrClosed.
// If it is ready now the channel is already closed. It is for a select
// among other cases:
//
//	for {
//		select {
//		case <-s.Readable():
//			m, err := s.TryRecv() // ErrWouldBlock if another receiver was first
//			...
//		case <-ticker.C:
//			...
//		}
//	}
//
// Call it afresh each time round the loop: the channel is closed once and
// stays closed. A case that is not picked loses nothing, since the message
// stays queued until a receive takes it. Readable may be called from any
// goroutine; see Poll for what readiness promises. PUSH and PUB, which
// receive nothing, are readable only once closed. It starts no goroutine.
func (s *Socket) Readable() <-chan struct{} {
	if s.pollIn() {
		return closedChan
	}
	ch := s.fq.polled.wait()
	if s.pollIn() {
		return closedChan
	}
	return ch
}

// TryRecv is Recv that never waits: it returns a queued message, or
// ErrWouldBlock when there is none (or only messages Recv drops: late
// replies on REQ, for instance). It returns ErrClosed after Close, and
// ErrState or ErrNotSupported as Recv does. It may be called from any
// goroutine, as Recv may.
func (s *Socket) TryRecv() (Msg, error) {
	m, err := s.Recv(ended)
	if errors.Is(err, context.Canceled) {
		return nil, ErrWouldBlock
	}
	return m, err
}

// TrySend is Send that never waits: when every peer that could take m is at
// its high-water mark (or there is none), it returns ErrWouldBlock and m
// is not sent. On PUB, XPUB, XSUB and ROUTER without WithRouterMandatory,
// which never wait, it is Send. It may be called from any goroutine, as
// Send may.
func (s *Socket) TrySend(m Msg) error {
	err := s.Send(ended, m)
	if errors.Is(err, context.Canceled) {
		return ErrWouldBlock
	}
	return err
}

// pollIn reports whether the socket is ready for PollIn.
func (s *Socket) pollIn() bool {
	if s.closed.Load() {
		return true
	}
	if !s.typ.canRecv() {
		return false
	}
	queued := s.fq.queued(s.keep())
	switch s.typ {
	case Req:
		return queued && s.state.Load() == stPending
	case Rep:
		return queued && s.state.Load() == stIdle
	}
	return queued
}

// keep is the test a message must pass to be delivered, where Recv drops
// some whatever the socket's state: SUB's unsubscribed topics, and REP's
// messages without an envelope. Poll drops them too (as libzmq's has_in
// does), so that a ready socket's Recv does not block on them.
func (s *Socket) keep() func(Msg) bool {
	switch s.typ {
	case Sub:
		return func(m Msg) bool { return s.subs.match(m[0]) }
	case Rep:
		return func(m Msg) bool {
			i := 0
			for i < len(m) && len(m[i]) != 0 {
				i++
			}
			return i < len(m)-1
		}
	}
	return nil
}

// queued reports whether some peer's queue has a message that passes keep
// (nil: any). It takes the pipes it finds empty off the turn list, as take
// does, so that the next message to any of them calls ready, which wakes
// the pollers.
func (q *fairQueue) queued(keep func(Msg) bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	defer func() { q.listed.Store(int32(len(q.turns))) }()
	for i := 0; i < len(q.turns); {
		p := q.turns[i]
		if p.inq.head(keep) {
			return true
		}
		q.turns = slices.Delete(q.turns, i, i+1)
		if i < q.cur {
			q.cur--
		}
		p.listed.Store(false)
		// Once more, for a message that came while its sender saw the
		// pipe listed.
		if p.inq.head(keep) {
			p.listed.Store(true)
			q.turns = append(q.turns, p)
			return true
		}
	}
	return false
}

// head reports whether the queue's next message passes keep (nil: any),
// dropping those before it that do not.
func (q *queue) head(keep func(Msg) bool) bool {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	for {
		if q.pos == len(q.batch) {
			q.mu.Lock()
			more := len(q.in) > 0
			q.mu.Unlock()
			if !more || !q.refill() {
				return false
			}
		}
		if keep == nil || keep(q.batch[q.pos]) {
			return true
		}
		// Dropped as get would take it.
		if q.budget != nil {
			q.budget.released(q.batch[q.pos])
		}
		q.batch[q.pos] = nil
		q.pos++
		if q.taken++; q.taken >= int(q.lwm.Load()) {
			q.report(false)
		}
	}
}

// pollOut reports whether the socket is ready for PollOut.
func (s *Socket) pollOut() bool {
	if s.closed.Load() {
		return true
	}
	switch s.typ {
	case Pub, XPub, XSub:
		return true
	case Pull, Sub:
		return false
	case Rep:
		return s.state.Load() == stPending
	case Req:
		if s.state.Load() != stIdle {
			return false
		}
	case Router:
		if !s.opts.routerMandatory {
			return true
		}
	}
	for _, p := range *s.sendables.Load() {
		if p.hasRoom() {
			return true
		}
	}
	return false
}

// hasRoom reports whether trySend would take a message now. When it would
// not, the queue remembers that a sender waits, as tryPut does, so that
// room made later notifies the socket's room signal.
func (p *pipe) hasRoom() bool {
	if p.gone.Load() {
		return false
	}
	if p.out != nil {
		return p.out.hasRoom()
	}
	if r := p.peer.Load(); r != nil {
		return !r.gone.Load() && r.inq != nil && r.inq.hasRoom()
	}
	return p.peerq != nil && p.peerq.hasRoom()
}

func (q *queue) hasRoom() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.sealed || q.stopped {
		return false
	}
	if q.n >= q.hwm {
		q.full = true
		return false
	}
	return true
}

// notifyPolled wakes the pollers waiting on sig, if any; it costs one load
// when there are none.
func (sig *signal) notifyPolled() {
	if sig.ch.Load() != nil {
		sig.notify()
	}
}
