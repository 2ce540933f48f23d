package patterns_test

import (
	"context"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// A request that a Rep mailbox hands to its actor, and whose answer it
// sends back, costs a fixed number of allocations, which this pins: the
// raw REQ client's message and the socket's envelopes, the Request's reply
// slot (actor.NewRequest), and the reply's frames (the codec's). One more
// is allowed, for the count to be a ceiling rather than a snapshot.
func TestRepRoundTripAllocs(t *testing.T) {
	const want = 5
	ctx := testCtx(t)
	in := must[*patterns.Inbox[echoReq]](t)(patterns.Rep(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind(endpoint(t, "inproc"))))
	spawn(t, actor.Behavior[echoReq](actor.BehaviorFunc[echoReq](func(_ context.Context, r echoReq) error {
		r.Reply(r.Query, nil)
		return nil
	})), actor.WithFeed(in))
	req := rawSocket(t, socket.Req)
	must[struct{}](t)(struct{}{}, req.Connect(in.Endpoint()))
	body := []byte("0123456789abcdef")
	roundTrip := func() {
		if err := req.Send(ctx, socket.NewMsg(body)); err != nil {
			t.Fatal(err)
		}
		m, err := req.Recv(ctx)
		if err != nil || len(m) != 1 || string(m[0]) != string(body) {
			t.Fatalf("reply %q, %v; want %q", m, err, body)
		}
	}
	roundTrip() // the first connects, and sizes what is reused
	if n := testing.AllocsPerRun(1000, roundTrip); n > want+1 {
		t.Errorf("a round trip through a Rep mailbox allocates %.2f times, want at most %d", n, want+1)
	}
}

// An Ask through a Dealer reference of a Router mailbox costs a fixed
// number of allocations, which this pins: on the asker's side, Ask's reply
// slot (three), the request's message, and the hook on the asker's ctx,
// which can end (three); on the server's, the ROUTER's envelope as it
// receives, the Request's reply slot and the Reply that holds the
// envelope, and the reply's message.
func TestDealerRoundTripAllocs(t *testing.T) {
	const want = 11
	ctx := testCtx(t)
	in := must[*patterns.Inbox[echoReq]](t)(patterns.Router(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind(endpoint(t, "inproc"))))
	spawn(t, actor.Behavior[echoReq](actor.BehaviorFunc[echoReq](func(_ context.Context, r echoReq) error {
		r.Reply(r.Query, nil)
		return nil
	})), actor.WithFeed(in))
	out := must[*patterns.Outbox[echoReq]](t)(patterns.Dealer(patterns.Bytes{}, patterns.Bytes{}, patterns.Connect(in.Endpoint())))
	t.Cleanup(func() { out.Close() })
	pinAskAllocs(t, ctx, out.Ref(), "a Dealer", want)
}

// An Ask through a Req reference costs a fixed number of allocations,
// which this pins: Ask's reply slot (a slot, its channel and the channel's
// buffer), the query's frames (the codec's), the sockets' envelopes (the
// raw REP server's reply among them), and the hook on the asker's ctx,
// which can end. The reference's own goroutine, ctx and clock are made
// once, not per request.
func TestReqRoundTripAllocs(t *testing.T) {
	const want = 8
	ctx := testCtx(t)
	ep := holdingRep(t, nil, nil, nil) // an echo: no request is held
	out := must[*patterns.Outbox[echoReq]](t)(patterns.Req(patterns.Bytes{}, patterns.Bytes{}, patterns.Connect(ep)))
	t.Cleanup(func() { out.Close() })
	pinAskAllocs(t, ctx, out.Ref(), "a Req", want)
}

// pinAskAllocs checks that an Ask of an echo through ref, whose kind is
// named in the error, allocates at most want times, and one more: a
// ceiling rather than a snapshot; and that an Asker's, which keeps its
// reply slot, allocates the slot's three times fewer. The first Ask
// connects, and sizes what is reused.
func pinAskAllocs(t *testing.T, ctx context.Context, ref actor.Ref[echoReq], kind string, want int) {
	t.Helper()
	body := []byte("0123456789abcdef")
	asker := actor.NewAsker(ref)
	for _, way := range []struct {
		name string
		ask  func() ([]byte, error)
		want int
	}{
		{"an Ask", func() ([]byte, error) { return actor.Ask(ctx, ref, body) }, want},
		{"an Asker's Ask", func() ([]byte, error) { return asker.Ask(ctx, body) }, want - 3},
	} {
		ask := func() {
			if got, err := way.ask(); err != nil || string(got) != string(body) {
				t.Fatalf("%s = %q, %v; want %q", way.name, got, err, body)
			}
		}
		ask()
		if n := testing.AllocsPerRun(1000, ask); n > float64(way.want+1) {
			t.Errorf("%s through %s reference allocates %.2f times, want at most %d", way.name, kind, n, way.want+1)
		}
	}
}
