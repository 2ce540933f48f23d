package patterns_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// holdingRep serves a raw REP socket that echoes each request, but holds
// one whose body is "hold", saying so on held, until it takes a token from
// release (its asker has gone by then, and the reply is dropped), and calls
// before as it answers one whose body is "racing".
func holdingRep(t *testing.T, held chan<- struct{}, release <-chan struct{}, before func()) string {
	t.Helper()
	ctx := testCtx(t)
	rep := rawSocket(t, socket.Rep)
	ep := must[string](t)(rep.Bind(endpoint(t, "inproc")))
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			if string(m[0]) == "hold" {
				held <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
					return
				}
			}
			if string(m[0]) == "racing" {
				before()
			}
			if rep.Send(ctx, m) != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { rep.Close(); <-served })
	return ep
}

// A Req reference waits for each request in one context it uses again: a
// request whose asker gave up, or whose time ran out, leaves nothing that
// ends the next one early, and an asker's ctx that ends as its reply comes
// either gets the reply or gives up, and never reaches a later request.
func TestReqAttemptReused(t *testing.T) {
	ctx := testCtx(t)
	held := make(chan struct{}, 2)
	release := make(chan struct{}, 1)
	var cancelRacing context.CancelFunc // ends the ctx of an ask as its reply goes
	ep := holdingRep(t, held, release, func() { cancelRacing() })
	askOK := func(t *testing.T, ref actor.Ref[echoReq], q string) {
		t.Helper()
		if got, err := actor.Ask(ctx, ref, []byte(q)); err != nil || string(got) != q {
			t.Fatalf("Ask(%q) = %q, %v", q, got, err)
		}
	}
	t.Run("asker gave up", func(t *testing.T) {
		out := must[*patterns.Outbox[echoReq]](t)(patterns.Req(patterns.Bytes{}, patterns.Bytes{}, patterns.Connect(ep)))
		defer out.Close()
		ref := out.Ref()
		askOK(t, ref, "before")
		actx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-held:
			case <-ctx.Done():
			}
			cancel()
		}()
		if _, err := actor.Ask(actx, ref, []byte("hold")); !errors.Is(err, actor.ErrAskTimeout) {
			t.Fatalf("Ask of a held request = %v, want ErrAskTimeout", err)
		}
		release <- struct{}{}
		askOK(t, ref, "after")
		// Askers whose ctx ends as their request is in flight.
		for i := range 200 {
			var actx context.Context
			actx, cancelRacing = context.WithCancel(ctx)
			if got, err := actor.Ask(actx, ref, []byte("racing")); err == nil && string(got) != "racing" {
				t.Fatalf("Ask %d racing its ctx's end = %q", i, got)
			}
			askOK(t, ref, "next")
		}
	})
	t.Run("time ran out", func(t *testing.T) {
		// The attempt's clock fires on the held request (or before the
		// server took it); the next request, answered at once, has a
		// clock of its own.
		out := must[*patterns.Outbox[echoReq]](t)(patterns.Req(patterns.Bytes{}, patterns.Bytes{}, patterns.Connect(ep),
			patterns.LazyPirate(time.Second, 0)))
		defer out.Close()
		ref := out.Ref()
		if _, err := actor.Ask(ctx, ref, []byte("hold")); !errors.Is(err, patterns.ErrNoReply) {
			t.Fatalf("Lazy Pirate's Ask of a held request = %v, want ErrNoReply", err)
		}
		release <- struct{}{}
		for range 100 {
			askOK(t, ref, "after")
		}
	})
}
