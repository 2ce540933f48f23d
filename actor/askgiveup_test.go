package actor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
)

// stashRemote is a Remote that keeps each request it is told, and runs then
// (if set) before returning from Tell.
type stashRemote struct {
	reqs chan actor.Request[int, int]
	then func(actor.Request[int, int])
}

func (r *stashRemote) Tell(_ context.Context, m actor.Request[int, int]) error {
	if r.then != nil {
		r.then(m)
	}
	r.reqs <- m
	return nil
}
func (r *stashRemote) TryTell(m actor.Request[int, int]) error {
	return r.Tell(context.Background(), m)
}
func (r *stashRemote) Name() string       { return "stash" }
func (r *stashRemote) Stats() actor.Stats { return actor.Stats{} }

// A reply made before the asker's ctx ended is Ask's answer, even when Ask
// finds both the reply and the ended ctx on waking: its maker was told the
// reply was taken (Reply returned true), so it must not be lost.
func TestAskTakesReplyMadeBeforeCtxEnded(t *testing.T) {
	for _, way := range askWays[int, int]() {
		t.Run(way.name, func(t *testing.T) {
			var cancel context.CancelFunc
			r := &stashRemote{reqs: make(chan actor.Request[int, int], 1), then: func(req actor.Request[int, int]) {
				if !req.Reply(req.Query*2, nil) {
					t.Errorf("Reply before the ctx ended reported false")
				}
				cancel()
			}}
			ask := way.asker(actor.RefTo[actor.Request[int, int]](r))
			for i := range 200 {
				var askCtx context.Context
				askCtx, cancel = context.WithCancel(ctx)
				got, err := ask(askCtx, i)
				cancel()
				<-r.reqs
				if err != nil || got != 2*i {
					t.Fatalf("Ask %d = %d, %v; want the reply made before ctx ended", i, got, err)
				}
			}
		})
	}
}

// Once an Ask gave up, a Reply to its request reports false: a remote
// reference counts such a reply as late by it. The next request, which an
// Asker makes in the same slot, gets its own reply.
func TestReplyAfterAskGaveUpReportsFalse(t *testing.T) {
	for _, way := range askWays[int, int]() {
		t.Run(way.name, func(t *testing.T) {
			r := &stashRemote{reqs: make(chan actor.Request[int, int], 1)}
			ask := way.asker(actor.RefTo[actor.Request[int, int]](r))
			askCtx, cancel := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() {
				_, err := ask(askCtx, 1)
				errc <- err
			}()
			req := <-r.reqs
			cancel()
			if err := <-errc; !errors.Is(err, actor.ErrAskTimeout) {
				t.Fatalf("Ask = %v, want ErrAskTimeout", err)
			}
			if req.Reply(2, nil) {
				t.Fatal("Reply after the asker gave up reported true: nobody took it")
			}
			got := make(chan int, 1)
			go func() {
				v, err := ask(ctx, 3)
				if err != nil {
					t.Error(err)
				}
				got <- v
			}()
			next := <-r.reqs
			if req.Reply(2, nil) {
				t.Fatal("the first request's Reply counted for the next")
			}
			if !next.Reply(6, nil) {
				t.Fatal("the next request's Reply reported false")
			}
			if v := <-got; v != 6 {
				t.Fatalf("the next Ask got %d, want 6", v)
			}
		})
	}
}
