package actor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Request is a query of type Q that wants a reply of type R: the message Ask
// sends. An actor that answers requests has Request[Q, R] as its message
// type, or as one case of it (see AskWith).
//
// The actor replies with Reply, once; it may reply later or from another
// goroutine (pass the Request on to a worker), and the first Reply wins.
// Reply never blocks. A Request is a small value, safe to copy.
type Request[Q, R any] struct {
	// Query is what the caller of Ask asked.
	Query Q
	slot  *replySlot[R]
	gen   uint64 // the slot's generation this request owns
}

// replySlot is where a reply goes. Slots are reused (an Ask in the steady
// state allocates nothing; an Asker keeps one): each use is a generation,
// and only the first Reply of the current generation counts, moving the
// slot on to the next; a Request kept past its Ask holds an old generation
// and cannot reach a later Ask. An Ask that gives up moves its generation
// on itself, so that a Reply after it fails (and its maker knows the reply
// was late), or, if a Reply moved it first, takes that reply: a reply is
// taken by its Ask or refused, never lost between them. A slot is reused
// only after its Ask took the reply or gave up; one whose request was not
// delivered is left to the collector, since a dead letter may reply into
// it.
type replySlot[R any] struct {
	state atomic.Uint64        // the generation whose Reply counts next
	ch    chan reply[R]        // capacity 1: Ask waits on it, or
	fn    func(v R, err error) // NewRequest's: the reply goes back over a socket
}

// getSlot returns a free slot of the cell's pool, or a new one.
func getSlot[M, R any](c *cell[M]) *replySlot[R] {
	if c != nil {
		if s, ok := c.slots.Get().(*replySlot[R]); ok {
			return s
		}
	}
	return newSlot[R]()
}

func newSlot[R any]() *replySlot[R] { return &replySlot[R]{ch: make(chan reply[R], 1)} }

// putSlot recycles a slot whose reply Ask has taken: its Reply has moved it
// on to a new generation, in which the old Request's Reply fails.
func putSlot[M, R any](c *cell[M], s *replySlot[R]) {
	if c != nil {
		c.slots.Put(s)
	}
}

// NewRequest makes a Request for q whose Reply calls reply, once: the first
// Reply's value and error, or, when the actor will not answer it (stopped,
// dropped, failed while handling it), the zero R and an error that wraps
// ErrStopped, ErrDropped or ErrNoReply. It is how a mailbox outside the
// process (package patterns' ROUTER mailbox) hands a request that came over a
// socket to an actor and sends the answer back. reply is called from
// whichever goroutine replied, and must not block for long.
func NewRequest[Q, R any](q Q, reply func(v R, err error)) Request[Q, R] {
	return Request[Q, R]{Query: q, slot: &replySlot[R]{fn: reply}}
}

type reply[R any] struct {
	v   R
	err error
}

// Reply answers the request with v, or with err, which Ask returns as it is.
// Only the first Reply (or the package's own notice that the request was
// dropped or failed) counts; Reply reports whether this one did. Replying
// after the caller of Ask gave up (its ctx ended) is harmless and reports
// false: the reply is late, and nobody takes it.
func (r Request[Q, R]) Reply(v R, err error) bool {
	if r.slot == nil || !r.slot.state.CompareAndSwap(r.gen, r.gen+1) {
		return false
	}
	if r.slot.fn != nil {
		r.slot.fn(v, err)
		return true
	}
	r.slot.ch <- reply[R]{v, err}
	return true
}

// abandon tells the caller of Ask that the request will not get a reply.
func (r Request[Q, R]) abandon(reason error) {
	var zero R
	r.Reply(zero, &abandoned{reason})
}

// abandoned marks a reply made by the package, not the actor.
type abandoned struct{ reason error }

func (a *abandoned) Error() string { return a.reason.Error() }
func (a *abandoned) Unwrap() error { return a.reason }

// Ask sends q to the actor at ref and waits for its reply, within ctx's
// deadline. It is safe for concurrent use; it blocks the calling goroutine
// only, and starts none. The errors say what happened to the request:
//
//   - not delivered: ctx had ended already, and the error wraps ctx's
//     error; or Tell failed, and the error wraps ErrStopped (the actor is
//     gone) or ErrMailboxFull with ctx's error (no room before the deadline).
//   - delivered and then not handled: the actor stopped or failed with the
//     request still in its mailbox (ErrStopped), or a dropping mailbox
//     dropped it (ErrDropped). Ask returns as soon as that happens.
//   - delivered and handled without a reply: Receive failed on it, or the
//     actor was closed or restarted while handling it (ErrNoReply, wrapping
//     the failure). A request an actor keeps to answer later gets no such
//     notice: its Ask ends with ctx.
//   - delivered, no reply in time: ErrAskTimeout wrapping ctx's error.
//
// An error the actor passes to Reply is returned as it is.
//
// An actor must not Ask itself from inside its own Receive: the request
// waits in the mailbox for the goroutine that is waiting for its reply, so
// the Ask ends only with ctx (never, without a deadline). Ask does not
// detect it.
func Ask[Q, R any](ctx context.Context, ref Ref[Request[Q, R]], q Q) (R, error) {
	// AskWith's body without its wrap: a call through a generic func
	// value is a measurable part of an in-process round trip.
	done := ctx.Done()
	if ended(done) {
		var zero R
		return zero, notDelivered(ref.Name(), ctx.Err())
	}
	c := ref.local()
	slot := getSlot[Request[Q, R], R](c)
	req := Request[Q, R]{Query: q, slot: slot, gen: slot.state.Load()}
	if !handed(c, req) {
		if err := send(ctx, ref, c, req); err != nil {
			var zero R
			return zero, err
		}
	}
	rep, ok := await(done, slot.ch)
	if ok && rep.err == nil { // the usual answer, without result's call
		putSlot(c, slot)
		return rep.v, nil
	}
	return result(ctx, ref, c, slot, req.gen, rep, ok)
}

// AskWith is Ask to an actor whose message type M is not Request[Q, R] but
// can hold one: wrap makes the message. For Ask's early "not handled" errors,
// the message must be the Request itself (M an interface type) or a struct
// that embeds it; otherwise such a request ends in ErrAskTimeout.
func AskWith[M, Q, R any](ctx context.Context, ref Ref[M], q Q, wrap func(Request[Q, R]) M) (R, error) {
	done := ctx.Done()
	if ended(done) {
		// Not sent: a request whose caller has already given up would be
		// work for nothing, and its reply would race the ended ctx.
		var zero R
		return zero, notDelivered(ref.Name(), ctx.Err())
	}
	c := ref.local()
	slot := getSlot[M, R](c)
	gen := slot.state.Load()
	m := wrap(Request[Q, R]{Query: q, slot: slot, gen: gen})
	if !handed(c, m) {
		if err := send(ctx, ref, c, m); err != nil {
			var zero R
			return zero, err
		}
	}
	rep, ok := await(done, slot.ch)
	if ok && rep.err == nil {
		putSlot(c, slot)
		return rep.v, nil
	}
	return result(ctx, ref, c, slot, gen, rep, ok)
}

// ended says whether done, a ctx's Done channel, is closed: cheaper than
// ctx.Err, which may take a lock, and free for a ctx that never ends (nil).
func ended(done <-chan struct{}) bool {
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func notDelivered(name string, err error) error {
	return fmt.Errorf("actor: ask %q: request not delivered: %w", name, err)
}

// handed hands m, which holds a Request, to the actor of cell c (or nil)
// if it sleeps, as its Tell would (see queue.hand), and reports whether it
// did. It is send's first step taken in the caller's own frame: an Ask to an
// idle actor, the usual one, then makes none of send's, tell's and push's
// calls, each a measurable part of an in-process round trip. An observer
// that times every message wants tell's clock reading first.
func handed[M any](c *cell[M], m M) bool {
	return c != nil && c.timing != timeAll && c.q.hand(envelope[M]{msg: m})
}

// send tells m, which holds a Request, to ref (whose cell is c, or nil).
func send[M any](ctx context.Context, ref Ref[M], c *cell[M], m M) error {
	var err error
	if c != nil {
		err = c.tell(ctx, m, true)
	} else {
		err = ref.Tell(ctx, m)
	}
	if err != nil {
		// The slot is left to the collector: a dead letter may have
		// replied into it.
		return notDelivered(ref.Name(), err)
	}
	return nil
}

// await waits for the reply on ch, a slot's, or for done (ok false). It is small
// enough to be inlined, so that the caller wakes in Ask's own frame: after
// a switch of goroutines the CPU mispredicts every return up the stack,
// and a frame more between the wait and Ask's caller was a measurable part
// of an in-process round trip.
func await[R any](done <-chan struct{}, ch <-chan reply[R]) (rep reply[R], ok bool) {
	if done == nil {
		return <-ch, true // no deadline: a plain receive is cheaper than a select
	}
	select {
	case rep = <-ch:
		return rep, true
	case <-done:
		return rep, false
	}
}

// result is Ask's answer from the reply it took, or from ctx's end. gen is
// the slot's generation the request owns.
func result[M, R any](ctx context.Context, ref Ref[M], c *cell[M], slot *replySlot[R], gen uint64, rep reply[R], ok bool) (R, error) {
	var zero R
	if !ok {
		if slot.state.CompareAndSwap(gen, gen+1) {
			// Given up before any Reply: one that comes now fails, and
			// its maker (a remote reference counting late replies)
			// knows nobody took it.
			putSlot(c, slot)
			return zero, fmt.Errorf("%w (actor %q): %w", ErrAskTimeout, ref.Name(), ctx.Err())
		}
		// A Reply won the race with ctx's end: it is in the slot, or
		// about to be.
		rep = <-slot.ch
	}
	putSlot(c, slot)
	if a, ok := rep.err.(*abandoned); ok {
		if errors.Is(a.reason, ErrNoReply) {
			return zero, fmt.Errorf("actor: ask %q: %w", ref.Name(), a.reason)
		}
		return zero, fmt.Errorf("actor: ask %q: request queued, never handled: %w", ref.Name(), a.reason)
	}
	return rep.v, rep.err
}
