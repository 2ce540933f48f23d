package pirate

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/attempt"
	"github.com/zmqflow/zmqflow/socket"
)

// Who reads a Client's socket. One reader at a time, whoever holds the
// token: a Request while it waits for its reply, so that a reply reaches
// its Request with no hand-over between goroutines, as a REQ socket's
// does; the replies to the other Requests it reads it hands to them
// (waitTable), and what nobody waits for it notes as the actor would. When
// no Request has waited for a while (lateWatchAfter), the actor's feed
// takes the token and reads the late replies that come, until a Request
// waits again: so late replies are counted, and the socket's queue
// drained, without a goroutine besides the Requests' waking at each reply.
// The reader waits in the socket's Recv, as a REQ socket's caller does, on
// its attempt (package attempt), a context its slot keeps from Request to
// Request: its time, and the Request's ctx, end the wait.

// lateWatchAfter is how long the socket goes unread once no Request waits,
// before the actor's feed reads it.
const lateWatchAfter = 20 * time.Millisecond

// maxDrain bounds what the feed takes from the socket before it looks at
// its ctx and the Requests again.
const maxDrain = 64

// errAttempt ends an attempt whose time is up: resend, or give up.
var errAttempt = attempt.ErrExpired

// reader is what the Requests and the actor's feed share to read the
// socket in turn.
type reader struct {
	sock     *socket.Socket
	waiting  *waitTable
	counts   *clientCounts
	log      *zap.Logger
	tok      chan struct{} // capacity 1; holds the token while nobody reads
	idle     *time.Timer   // fires when no Request has waited for lateWatchAfter
	want     chan struct{} // capacity 1: a Request waits, the feed should give the token back
	armed    atomic.Bool   // idle is set to fire
	watching atomic.Bool   // the feed holds the token
}

func newReader(sock *socket.Socket, waiting *waitTable, counts *clientCounts, log *zap.Logger) *reader {
	r := &reader{sock: sock, waiting: waiting, counts: counts, log: log,
		tok: make(chan struct{}, 1), want: make(chan struct{}, 1), idle: time.NewTimer(lateWatchAfter)}
	r.tok <- struct{}{}
	r.armed.Store(true)
	return r
}

// waitingNow tells the feed, if it reads, that a Request waits now: the
// Request should read. Called after the Request is in the table.
func (r *reader) waitingNow() {
	if r.watching.Load() {
		select {
		case r.want <- struct{}{}:
		default:
		}
	}
}

// await returns the reply that ch brings, reading the socket while it
// holds the token; errAttempt when the attempt's time is up, ErrClosed
// once closed is, or the Request's ctx's error. The token is tried first
// on its own: a Request alone in flight finds it free, and waits in the
// socket at once.
func (r *reader) await(seq uint64, a *attempt.Attempt, ch <-chan [][]byte, closed <-chan struct{}) ([][]byte, error) {
	select {
	case <-r.tok:
		return r.readFor(seq, a, ch)
	default:
	}
	select {
	case reply := <-ch:
		return reply, nil
	case <-r.tok:
		return r.readFor(seq, a, ch)
	case <-a.Done():
		return nil, a.Ended()
	case <-closed:
		return nil, ErrClosed
	}
}

// readFor is await with the token in hand: it reads until it has the
// reply to seq, from the socket or on ch, and gives the token back. While
// it holds the token nobody else gives replies, so ch is looked at only
// when it took the token (the reader before may have given the reply
// first) and after each message. It waits in the socket's Recv: Close
// closes the socket, which ends that.
func (r *reader) readFor(seq uint64, a *attempt.Attempt, ch <-chan [][]byte) ([][]byte, error) {
	defer r.release()
	for {
		select {
		case reply := <-ch:
			return reply, nil
		default:
		}
		select {
		case <-a.Done(): // replies to others may keep Recv from looking
			return nil, a.Ended()
		default:
		}
		m, err := r.sock.Recv(a)
		switch {
		case err == nil:
		case errors.Is(err, socket.ErrClosed):
			return nil, ErrClosed
		case a.Ended() != nil:
			return nil, a.Ended()
		default:
			return nil, fmt.Errorf("pirate: client: receive: %w", err)
		}
		id, body, err := clientReply(m)
		if err == nil {
			if own, ok := r.waiting.seq(id); ok && own == seq && r.waiting.claim(seq) {
				return body, nil
			}
			if r.waiting.give(id, body) {
				continue
			}
		}
		r.unclaimed(m)
	}
}

// release gives the token back.
func (r *reader) release() { r.tok <- struct{}{} }

// done takes a Request that returns out of the table; the last one out
// has the feed read the socket if no Request waits lateWatchAfter later.
// The clock is set only when it is not set already: under load it fires
// every lateWatchAfter and finds Requests waiting, which costs less than
// setting it again at each Request.
func (r *reader) done(seq uint64) {
	if r.waiting.leave(seq) && r.armed.CompareAndSwap(false, true) {
		r.idle.Reset(lateWatchAfter)
	}
}

// drain reads what the socket holds now, up to maxDrain messages: each
// reply goes to the Request waiting for it, the rest to other. Its error
// is the socket's (ErrClosed once the Client is closed) or other's.
func (r *reader) drain(other func(socket.Msg) error) error {
	for range maxDrain {
		m, err := r.sock.TryRecv()
		switch {
		case errors.Is(err, socket.ErrWouldBlock):
			return nil
		case errors.Is(err, socket.ErrClosed):
			return ErrClosed
		case err != nil:
			return fmt.Errorf("pirate: client: receive: %w", err)
		}
		if id, body, err := clientReply(m); err == nil && r.waiting.give(id, body) {
			continue
		}
		if err := other(m); err != nil {
			return err
		}
	}
	return nil
}

// unclaimed notes a message no Request waits for: a late reply, counted,
// or a malformed one, logged.
func (r *reader) unclaimed(m socket.Msg) {
	if _, _, err := clientReply(m); err != nil {
		r.log.Warn("reply dropped", zap.Error(err), zap.Stringer("msg", m))
		return
	}
	r.counts.late.Add(1)
	r.counts.publish()
}

// replyFeed is the actor's feed: when no Request waits lateWatchAfter
// after the last one returned, it takes the token and puts what the socket brings in
// the actor's mailbox, until a Request waits again.
type replyFeed struct{ r *reader }

func (f *replyFeed) Run(ctx context.Context, in actor.Inlet[socket.Msg]) error {
	r := f.r
	for {
		select {
		case <-r.idle.C:
		case <-ctx.Done():
			return nil
		}
		r.armed.Store(false)
		if !r.waiting.empty() {
			continue // the last Request out sets the clock again
		}
		select {
		case <-r.tok:
		case <-ctx.Done():
			return nil
		}
		err := f.watch(ctx, in)
		r.tok <- struct{}{}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, actor.ErrStopped) {
				return nil
			}
			return err
		}
	}
}

// watch reads the socket into the mailbox while no Request waits.
func (f *replyFeed) watch(ctx context.Context, in actor.Inlet[socket.Msg]) error {
	r := f.r
	// watching before the look at the table, a Request's the other way
	// round: one of the two sees the other.
	r.watching.Store(true)
	defer r.watching.Store(false)
	for r.waiting.empty() {
		if err := r.drain(in.Put); err != nil {
			return err
		}
		select {
		case <-r.sock.Readable():
		case <-r.want:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// Close stops the clock: the socket is the Client's, closed after the
// actor.
func (f *replyFeed) Close() error {
	f.r.idle.Stop()
	return nil
}
