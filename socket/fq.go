package socket

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// fairQueue is how a socket receives from many peers (libzmq's fq_t): each
// pipe has its own receive queue, and the pipes that may have messages take
// turns, one message each. A peer that floods cannot starve another, and the
// receive high-water mark holds per peer.
//
// A pipe's reader (or inproc sender) puts a message in the pipe's queue and
// then calls ready; Recv calls take. A pipe is on the turn list (listed) from
// its first message until take finds its queue empty.
type fairQueue struct {
	mu      sync.Mutex
	turns   []*pipe      // listed pipes, in turn order
	cur     int          // whose turn it is
	listed  atomic.Int32 // len(turns), for next's fast path
	wake    chan struct{}
	waiters atomic.Int32 // Recv calls asleep on wake
	polled  signal       // Poll and Readable wait here (see poll.go)
}

func (q *fairQueue) init() { q.wake = make(chan struct{}, 1) }

// ready puts p on the turn list after a message went into its queue. A
// pipe the socket has not taken in is left off: an inproc peer can send
// into it while the socket decides, and one it refuses (a second PAIR
// peer, an identity in use) must not reach Recv; attach lists it if
// taken in. The check after the put here and the one after the flag is
// set in attach cannot both miss a message.
func (q *fairQueue) ready(p *pipe) {
	if p.listed.Load() || !p.attached.Load() {
		return
	}
	q.mu.Lock()
	if !p.listed.Load() {
		p.listed.Store(true)
		q.turns = append(q.turns, p)
		q.listed.Store(int32(len(q.turns)))
	}
	q.mu.Unlock()
	q.poke()
	q.polled.notifyPolled()
}

func (q *fairQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the next message in turn, if any.
func (q *fairQueue) take() (*pipe, Msg, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.turns) > 0 {
		if q.cur >= len(q.turns) {
			q.cur = 0
		}
		p := q.turns[q.cur]
		if m, ok := p.inq.get(); ok {
			q.cur++
			if q.waiters.Load() > 0 {
				q.poke() // another Recv may take the next
			}
			return p, m, true
		}
		// Empty: off the list, then look once more, for a message that
		// arrived while its sender still saw the pipe listed.
		q.turns = slices.Delete(q.turns, q.cur, q.cur+1)
		p.listed.Store(false)
		if m, ok := p.inq.get(); ok {
			p.listed.Store(true)
			q.turns = append(q.turns, p)
			q.listed.Store(int32(len(q.turns)))
			return p, m, true
		}
		q.listed.Store(int32(len(q.turns)))
	}
	return nil, nil, false
}

// only returns the socket's one peer when no other pipe has messages
// waiting: then Recv can take from its queue directly, without the turn
// list. This is most sockets most of the time (a worker's PULL, a client's
// REQ), and where the cost of fair queueing would show.
func (s *Socket) only() *pipe {
	ps := *s.sendables.Load()
	if len(ps) != 1 || ps[0].inq == nil {
		return nil
	}
	n := s.fq.listed.Load()
	if n == 0 || n == 1 && ps[0].listed.Load() {
		return ps[0]
	}
	return nil
}

// next waits for the next message from any peer, within ctx.
func (s *Socket) next(ctx context.Context) (*pipe, Msg, error) {
	q := &s.fq
	for {
		if p := s.only(); p != nil {
			if m, ok := p.inq.get(); ok {
				return p, m, nil
			}
		}
		if p, m, ok := q.take(); ok {
			return p, m, nil
		}
		// Nothing anywhere, and take has taken every pipe off the turn
		// list: the next message puts its pipe back on and pokes wake.
		q.waiters.Add(1)
		select {
		case <-q.wake:
			q.waiters.Add(-1)
		case <-ctx.Done():
			q.waiters.Add(-1)
			return nil, nil, ctx.Err()
		case <-s.closing:
			q.waiters.Add(-1)
			return nil, nil, ErrClosed
		}
	}
}
