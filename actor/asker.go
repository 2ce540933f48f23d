package actor

import "context"

// Asker asks one actor, from one goroutine at a time, and keeps its reply
// slot from one request to the next: what a loop that makes its reply
// channel once, and sends it with every request, does by hand. Ask takes a
// slot from the actor's pool for each request and gives it back after; an
// Asker saves that exchange, which is a measurable part of an in-process
// round trip, and, asking an actor in another process, the slot's
// allocation. Otherwise its Ask is Ask: the same request, the same errors,
// the same promise that a reply made after it gave up reaches nobody (nor
// its next request).
//
// An Asker is not safe for concurrent use: one Ask at a time, as with a
// bufio.Reader. Goroutines that ask the same actor at once each make their
// own, or call Ask. Ask blocks the calling goroutine as Ask does; an Asker
// starts no goroutine and holds nothing to release.
type Asker[Q, R any] struct {
	ref  Ref[Request[Q, R]]
	slot *replySlot[R]
	// asks counts the Asks made, in a plain write: two at once are a
	// data race that the race detector reports, where they would
	// otherwise share the slot and one of them wait for its ctx.
	asks uint64
}

// NewAsker returns an Asker of the actor at ref, local or remote.
func NewAsker[Q, R any](ref Ref[Request[Q, R]]) *Asker[Q, R] {
	return &Asker[Q, R]{ref: ref, slot: newSlot[R]()}
}

// Ask sends q to the Asker's actor and waits for its reply, within ctx's
// deadline, as Ask does.
func (a *Asker[Q, R]) Ask(ctx context.Context, q Q) (R, error) {
	// Ask's body, with the Asker's slot for the pool's: calling a
	// function shared by both would put a frame between the wait and the
	// caller, and that frame is a measurable part of the round trip (see
	// await).
	a.asks++
	done := ctx.Done()
	if ended(done) {
		var zero R
		return zero, notDelivered(a.ref.Name(), ctx.Err())
	}
	c := a.ref.local()
	slot := a.slot
	req := Request[Q, R]{Query: q, slot: slot, gen: slot.state.Load()}
	if !handed(c, req) {
		if err := send(ctx, a.ref, c, req); err != nil {
			// A dead letter may have replied into the slot: the next
			// request takes a new one.
			a.slot = newSlot[R]()
			var zero R
			return zero, err
		}
	}
	rep, ok := await(done, slot)
	if ok && rep.err == nil {
		return rep.v, nil
	}
	// result's pool is nil's: the slot stays the Asker's, which may reuse
	// it once result took the reply or moved the slot past the request.
	return result[Request[Q, R]](ctx, a.ref, nil, slot, req.gen, rep, ok)
}
