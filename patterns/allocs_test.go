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
