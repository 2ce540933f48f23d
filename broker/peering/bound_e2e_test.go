package peering_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/peering"
	"github.com/zmqflow/zmqflow/socket"
)

// A peer that sends requests faster than the local workers take them (here
// there are none yet) is read up to peering.MaxPending of them and then waits:
// the broker does not hold them all. None is lost: a worker that comes
// serves every one, and the local clients are read meanwhile.
func TestPeerRequestsBounded(t *testing.T) {
	ctx := testCtx(t)
	b := newBroker(t, "B")
	x := newSocket(t, socket.Dealer, socket.WithIdentity([]byte("X")))
	if err := x.Connect(b.Cloud()); err != nil {
		t.Fatal(err)
	}
	const sent = 4 * peering.MaxPending
	sendErr := make(chan error, 1)
	go func() {
		for i := range sent {
			if err := x.Send(ctx, socket.NewMsgString("client-"+strconv.Itoa(i), "", "req")); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	if err := b.Wait(ctx, func(s peering.Stats) bool { return s.Pending >= peering.MaxPending }); err != nil {
		t.Fatalf("waiting for %d requests of the peer: %v; stats %+v", peering.MaxPending, err, b.Stats())
	}
	// The broker reads no more of them: within a second (a thousand times
	// what it takes to read the rest), Pending does not pass the bound and
	// what had been read into the broker's mailbox, and by its feed, as
	// the gate shut.
	short, cancel := context.WithTimeout(ctx, time.Second)
	const slack = actor.DefaultMailboxSize + 1
	err := b.Wait(short, func(s peering.Stats) bool { return s.Pending > peering.MaxPending+slack })
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a peer's requests read past %d: %v; stats %+v", peering.MaxPending+slack, err, b.Stats())
	}
	// A local client is still read.
	cl := newSocket(t, socket.Dealer)
	if err := cl.Connect(b.Frontend()); err != nil {
		t.Fatal(err)
	}
	if err := cl.Send(ctx, socket.NewMsgString("local", "", "req")); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(ctx, func(s peering.Stats) bool { return s.Requests == 1 }); err != nil {
		t.Fatalf("a local client's request behind the peer's: %v; stats %+v", err, b.Stats())
	}
	newWorker(t, b.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) { return req, nil })
	got := map[string]bool{}
	for len(got) < sent {
		m, err := x.Recv(ctx)
		if err != nil {
			t.Fatalf("%d of %d replies: %v; stats %+v", len(got), sent, err, b.Stats())
		}
		if got[string(m[0])] {
			t.Fatalf("a second reply for %q", m[0])
		}
		got[string(m[0])] = true
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
}
