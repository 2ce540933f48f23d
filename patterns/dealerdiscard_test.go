package patterns_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// A Dealer that binds, whose server leaves with requests still queued for
// it in the Dealer's socket: each of those is a dead letter, and its Ask
// ends at once with ErrStopped wrapping socket.ErrDiscarded (not sent: safe
// to ask again), instead of waiting for its ctx.
func TestDealerDiscardedRequestEndsItsAsk(t *testing.T) {
	obs := actortest.NewRecorder()
	dealer, err := patterns.Dealer(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind("tcp://127.0.0.1:*"), patterns.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	defer dealer.Close()
	// The server takes one request and reads no more: with room for one
	// more in its queue, what follows fills the connection, then waits in
	// the Dealer's socket, however fast the Dealer writes.
	server, err := socket.New(socket.Router, socket.WithRecvHWM(1))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Connect(dealer.Endpoint()); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	askCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	const n = 64
	query := make([]byte, 256<<10)
	errs := make(chan error, n)
	var asks sync.WaitGroup
	for range n {
		asks.Add(1)
		go func() {
			defer asks.Done()
			_, err := actor.Ask(askCtx, dealer.Ref(), query)
			errs <- err
		}()
	}
	if _, err := server.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	// Every request is sent or queued once the Dealer has handed it to
	// the socket (its Tell returned): its Stats count them.
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for dealer.Stats().Handled < n {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d requests handed to the socket", dealer.Stats().Handled, n)
		case <-poll.C:
		}
	}
	server.Close()

	// The socket counts what it discards before it hands each over.
	ended := 0
	for ended == 0 || uint64(ended) < dealer.Socket().Stats().Discarded {
		select {
		case err := <-errs:
			if !errors.Is(err, actor.ErrStopped) || !errors.Is(err, socket.ErrDiscarded) {
				t.Fatalf("an Ask ended with %v before its ctx, want ErrStopped wrapping socket.ErrDiscarded", err)
			}
			ended++
		case <-ctx.Done():
			t.Fatalf("%d Asks ended, %d requests discarded", ended, dealer.Socket().Stats().Discarded)
		}
	}
	t.Logf("%d of %d requests discarded", ended, n)
	cancel() // the rest were on the wire, lost with the server: they end with ctx
	asks.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, actor.ErrAskTimeout) {
			t.Fatalf("an Ask whose request was not discarded ended with %v, want ErrAskTimeout", err)
		}
	}
	if k := obs.Count(actortest.DeadLetter, ""); ended != k {
		t.Fatalf("%d Asks ended for a discarded request, %d dead letters", ended, k)
	}
}
