package actor

import (
	"context"
	"errors"
)

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
// An Asker asks an actor whose message type is Request[Q, R]; one whose
// type holds requests among other messages is asked with AskWith, which has
// no Asker.
//
// An Asker is not safe for concurrent use: one Ask at a time, as with a
// bufio.Reader. Two at once would share the slot, where one could take the
// other's reply or wait for ever, so an Ask that finds another in progress,
// or finds the slot moved by another, panics: the checks are cheap, and
// catch most such uses, not all. Goroutines that ask the same actor at
// once each make their own Asker, or call Ask. An Asker must not be copied
// (go vet reports copies), and its zero value asks nobody: make one with
// NewAsker. Its Ask blocks only the calling goroutine, as Ask does; an
// Asker starts no goroutine and holds nothing to release.
type Asker[Q, R any] struct {
	_    noCopy
	ref  Ref[Request[Q, R]]
	slot *replySlot[R]
	// The slot's channel, and the generation its next request owns:
	// kept here, so that an Ask reads nothing from the slot, whose state
	// its actor's Reply writes.
	ch   chan reply[R]
	gen  uint64
	busy bool // an Ask is in progress: plain, as the check is best effort
}

// NewAsker returns an Asker of the actor at ref, local or remote.
func NewAsker[Q, R any](ref Ref[Request[Q, R]]) *Asker[Q, R] {
	a := &Asker[Q, R]{ref: ref}
	a.newSlot()
	return a
}

// newSlot gives the Asker a new slot.
func (a *Asker[Q, R]) newSlot() {
	a.slot = newSlot[R]()
	a.ch, a.gen = a.slot.ch, 0
}

// Ask sends q to the Asker's actor and waits for its reply, within ctx's
// deadline, as Ask does.
func (a *Asker[Q, R]) Ask(ctx context.Context, q Q) (R, error) {
	// Ask's body, with the Asker's slot for the pool's: calling a
	// function shared by both would put a frame between the wait and the
	// caller, and that frame is a measurable part of the round trip (see
	// await).
	if a.busy {
		panic(errAskerShared)
	}
	done := ctx.Done()
	if ended(done) {
		var zero R
		return zero, notDelivered(a.ref.Name(), ctx.Err())
	}
	a.busy = true
	c := a.ref.local()
	req := Request[Q, R]{Query: q, slot: a.slot, gen: a.gen}
	if !handed(c, req) {
		if err := a.send(ctx, c, req); err != nil {
			var zero R
			return zero, err
		}
	}
	// Whatever ends the request moves the slot on by one generation: the
	// Reply that Ask takes, or Ask giving up before any.
	a.gen++
	rep, ok := await(done, a.ch)
	if ok && rep.err == nil {
		a.busy = false
		return rep.v, nil
	}
	// Given up, result waits for a reply whose Reply moved the slot on
	// (to req.gen+1). One moved elsewhere is another Ask's doing, whose
	// reply may never come: waiting for it, this Ask would never end.
	if st := a.slot.state.Load(); !ok && st != req.gen && st != req.gen+1 {
		panic(errAskerShared)
	}
	// result's pool is nil's: the slot stays the Asker's, which may reuse
	// it once result took the reply or moved the slot past the request.
	v, err := result[Request[Q, R]](ctx, a.ref, nil, a.slot, req.gen, rep, ok)
	a.busy = false
	return v, err
}

// send is send for an Ask of a, whose request the actor's cell c (or nil)
// did not take by hand. A request not delivered ends the Ask, and a dead
// letter may have replied into the slot: the next request takes a new one.
// A Remote's Tell that panics ends the Ask too, and the Asker stays usable.
func (a *Asker[Q, R]) send(ctx context.Context, c *cell[Request[Q, R]], req Request[Q, R]) (err error) {
	sent := false
	defer func() {
		if !sent || err != nil {
			a.newSlot()
			a.busy = false
		}
	}()
	err = send(ctx, a.ref, c, req)
	sent = true
	return err
}

// errAskerShared is the panic of an Ask made while another Ask of the same
// Asker was in progress (or on a copy of it).
var errAskerShared = errors.New("actor: Asker.Ask called while another Ask of the same Asker was in progress: an Asker is for one goroutine at a time")

// noCopy makes go vet's copylocks check report a copied Asker: a copy
// shares the slot and not the generation that goes with it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
