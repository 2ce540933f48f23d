package patterns_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

type bytesReq = actor.Request[int, []byte]

// rawDealer connects a DEALER that sends requests as a Dealer reference
// does and reads nothing back.
func rawDealer(t *testing.T, ep string) *socket.Socket {
	t.Helper()
	d, err := socket.New(socket.Dealer, socket.WithRecvHWM(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return d
}

func sendRequest(t *testing.T, ctx context.Context, d *socket.Socket, corr uint64, q int) {
	t.Helper()
	query, _ := patterns.Binary[int]{}.Encode(q)
	if err := d.Send(ctx, socket.Msg{binary.BigEndian.AppendUint64(nil, corr), query[0]}); err != nil {
		t.Fatal(err)
	}
}

// A reply to an asker that reads nothing, on a ROUTER with
// WithRouterMandatory, never blocks the actor in Reply: what the socket
// cannot take now is a dead letter of the actor, ErrReplyLost wrapping
// socket.ErrWouldBlock, counted in its Stats; and the actor closes.
func TestRouterReplyNeverBlocks(t *testing.T) {
	ctx := testCtx(t)
	const n = 32
	in := must[*patterns.Inbox[bytesReq]](t)(patterns.Router(patterns.Binary[int]{}, patterns.Bytes{},
		patterns.Bind("inproc://router-reply-hwm"),
		patterns.WithSocketOptions(socket.WithRouterMandatory(), socket.WithSendHWM(1))))
	letters := make(chan actor.DeadLetter, n)
	replied := make(chan struct{}, n)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[bytesReq](func(_ context.Context, r bytesReq) error {
		r.Reply(make([]byte, 1<<20), nil)
		replied <- struct{}{}
		return nil
	}), actor.WithFeed(in), actor.WithObserver(deadLetters(func(d actor.DeadLetter) { letters <- d })))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d := rawDealer(t, in.Endpoint())
	for i := range n {
		sendRequest(t, ctx, d, uint64(i+1), i)
	}
	for i := range n {
		select {
		case <-replied:
		case <-ctx.Done():
			d.Close() // the asker goes: a blocked send returns, and the actor can close
			t.Fatalf("Reply %d of %d did not return", i+1, n)
		}
	}
	// Each dead letter was reported in Reply, before its replied.
	lost := len(letters)
	if lost == 0 {
		t.Fatalf("%d replies to an asker that reads nothing, no dead letter", n)
	}
	var reason error
	for range lost {
		l := <-letters
		reason = l.Reason
		if !errors.Is(l.Reason, patterns.ErrReplyLost) || !errors.Is(l.Reason, socket.ErrWouldBlock) {
			t.Fatalf("dead letter's reason %v: want ErrReplyLost wrapping socket.ErrWouldBlock", l.Reason)
		}
		if m, ok := l.Message.(socket.Msg); !ok || len(m) != 4 || len(m[3]) != 1<<20 {
			t.Fatalf("dead letter's message: %T, want the reply's frames", l.Message)
		}
	}
	if got := a.Stats().DeadLetters; got != uint64(lost) {
		t.Fatalf("Stats().DeadLetters = %d, want the %d lost replies", got, lost)
	}
	t.Logf("%d of %d replies lost: %v", lost, n, reason)
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		d.Close()
		t.Fatal("the actor did not close")
	}
}

// A reply made after the Router mailbox closed is a dead letter of the
// actor, ErrReplyLost wrapping socket.ErrClosed: not lost silently.
func TestRouterReplyAfterCloseIsDeadLetter(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[bytesReq]](t)(patterns.Router(patterns.Binary[int]{}, patterns.Bytes{},
		patterns.Bind("inproc://router-reply-closed")))
	letters := make(chan actor.DeadLetter, 10)
	held := make(chan bytesReq, 1)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[bytesReq](func(_ context.Context, r bytesReq) error {
		held <- r
		return nil
	}), actor.WithFeed(in), actor.WithObserver(deadLetters(func(d actor.DeadLetter) { letters <- d })))
	if err != nil {
		t.Fatal(err)
	}
	d := rawDealer(t, in.Endpoint())
	sendRequest(t, ctx, d, 1, 7)
	var r bytesReq
	select {
	case r = <-held:
	case <-ctx.Done():
		t.Fatal("the request did not come")
	}
	// Close only once Receive has returned: an actor closed while it
	// handles a request answers it itself (ErrNoReply), and the late
	// Reply would then be refused as a second one, no dead letter.
	eventually(t, "the request handled", func() bool { return a.Stats().Handled == 1 })
	a.Close() // closes the mailbox's socket
	r.Reply([]byte("late"), nil)
	select {
	case l := <-letters:
		if !errors.Is(l.Reason, patterns.ErrReplyLost) || !errors.Is(l.Reason, socket.ErrClosed) {
			t.Fatalf("dead letter's reason %v: want ErrReplyLost wrapping socket.ErrClosed", l.Reason)
		}
		if m, ok := l.Message.(socket.Msg); !ok || len(m) != 4 || !bytes.Equal(m[3], []byte("late")) {
			t.Fatalf("dead letter's message %q, want the reply's frames", l.Message)
		}
		t.Logf("reason: %v", l.Reason)
	default:
		t.Fatal("a reply the closed socket could not send: no dead letter")
	}
	if got := a.Stats().DeadLetters; got != 1 {
		t.Fatalf("Stats().DeadLetters = %d, want 1", got)
	}
}

// A reply the Dealer's codec cannot decode is its asker's error, wrapping
// ErrDecode, and no dead letter; a message that is not a reply at all is a
// dead letter of the Dealer's Observer, as the docs say.
func TestDealerUndecodableReply(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[actor.Request[int, string]]](t)(patterns.Router(patterns.Binary[int]{}, patterns.String{},
		patterns.Bind("inproc://dealer-bad-reply")))
	spawn(t, actor.BehaviorFunc[actor.Request[int, string]](func(_ context.Context, r actor.Request[int, string]) error {
		r.Reply("not an int", nil)
		return nil
	}), actor.WithFeed(in))
	letters := make(chan actor.DeadLetter, 10)
	d := dial(t, in.Endpoint(), patterns.WithObserver(deadLetters(func(l actor.DeadLetter) { letters <- l })))
	if _, err := actor.Ask(ctx, d.Ref(), 3); !errors.Is(err, patterns.ErrDecode) {
		t.Fatalf("Ask = %v, want the reply's ErrDecode", err)
	}
	if n := d.Stats().DeadLetters; n != 0 || len(letters) != 0 {
		t.Fatalf("%d dead letters for a reply returned to its asker, want 0", n)
	}

	// A ROUTER peer that sends the Dealer something that is not a reply.
	r := rawSocket(t, socket.Router)
	ep, err := r.Bind("inproc://dealer-not-a-reply")
	if err != nil {
		t.Fatal(err)
	}
	d2 := dial(t, ep, patterns.WithObserver(deadLetters(func(l actor.DeadLetter) { letters <- l })))
	go actor.Ask(ctx, d2.Ref(), 4) // ends with the test's ctx or d2's Close
	req, err := r.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Send(ctx, socket.Msg{req[0], []byte("junk")}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-letters:
		if !errors.Is(l.Reason, patterns.ErrDecode) {
			t.Fatalf("dead letter's reason %v, want ErrDecode", l.Reason)
		}
	case <-ctx.Done():
		t.Fatal("a message that is not a reply: no dead letter")
	}
}

// An Ask whose request no peer takes (a reference that binds, with no peer
// yet) says "not delivered" (actor.ErrMailboxFull), not ErrAskTimeout, on a
// Dealer and on a Req reference alike.
func TestAskNeverSent(t *testing.T) {
	ctx := testCtx(t)
	d := must[*patterns.Outbox[intReq]](t)(patterns.Dealer(patterns.Binary[int]{}, patterns.Binary[int]{},
		patterns.Bind("inproc://nobody-dealer")))
	defer d.Close()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := actor.Ask(short, d.Ref(), 1)
	if !errors.Is(err, actor.ErrMailboxFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dealer's Ask with no peer = %v, want ErrMailboxFull wrapping the deadline", err)
	}
	t.Logf("Dealer: %v", err)

	req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{},
		patterns.Bind("inproc://nobody-req")))
	defer req.Close()
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = actor.Ask(short, req.Ref(), 1)
	if !errors.Is(err, actor.ErrMailboxFull) || errors.Is(err, actor.ErrAskTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Req's Ask with no peer = %v, want ErrMailboxFull wrapping the deadline", err)
	}
	t.Logf("Req: %v", err)
}

// A reply to a correlation id the Dealer never gave a request is a dead
// letter wrapping ErrDecode, not a late reply: LateReplies counts replies
// whose asker gave up, and there was none.
func TestDealerReplyToUnknownCorrelationID(t *testing.T) {
	ctx := testCtx(t)
	r := rawSocket(t, socket.Router)
	ep, err := r.Bind("inproc://dealer-unknown-corr")
	if err != nil {
		t.Fatal(err)
	}
	letters := make(chan actor.DeadLetter, 10)
	d := dial(t, ep, patterns.WithObserver(deadLetters(func(l actor.DeadLetter) { letters <- l })))
	go actor.Ask(ctx, d.Ref(), 4) // ends with the test's ctx or d's Close
	req, err := r.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := patterns.Binary[int]{}.Encode(5)
	for _, corr := range []uint64{0, 99} { // none has the ask's id, 1
		if err := r.Send(ctx, socket.Msg{req[0], binary.BigEndian.AppendUint64(nil, corr), {0}, reply[0]}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case l := <-letters:
			if !errors.Is(l.Reason, patterns.ErrDecode) || errors.Is(l.Reason, actor.ErrAskTimeout) {
				t.Errorf("dead letter's reason %v, want ErrDecode (not a late reply)", l.Reason)
			}
		case <-ctx.Done():
			t.Fatal("a reply to an unknown correlation id: no dead letter")
		}
	}
	if n := d.LateReplies(); n != 0 {
		t.Errorf("LateReplies = %d for replies no asker waited for, want 0", n)
	}
}

// A message with the right number of frames but a correlation id or status
// of the wrong size is a dead letter whose reason names the frame at fault,
// not the frame count, which was right.
func TestMalformedEnvelopeReasons(t *testing.T) {
	ctx := testCtx(t)
	letters := make(chan actor.DeadLetter, 10)
	in := must[*patterns.Inbox[intReq]](t)(patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{},
		patterns.Bind("inproc://malformed-request")))
	spawn(t, squarer(), actor.WithFeed(in), actor.WithObserver(deadLetters(func(l actor.DeadLetter) { letters <- l })))
	d := rawDealer(t, in.Endpoint())
	query, _ := patterns.Binary[int]{}.Encode(3)
	if err := d.Send(ctx, socket.Msg{[]byte("9 bytes!!"), query[0]}); err != nil {
		t.Fatal(err)
	}
	want := func(what string) {
		t.Helper()
		select {
		case l := <-letters:
			if !errors.Is(l.Reason, patterns.ErrDecode) || !strings.Contains(l.Reason.Error(), what) {
				t.Errorf("dead letter's reason %q, want ErrDecode naming %q", l.Reason, what)
			}
		case <-ctx.Done():
			t.Fatalf("no dead letter for a message with a %s", what)
		}
	}
	want("9-byte correlation id")

	r := rawSocket(t, socket.Router)
	ep, err := r.Bind("inproc://malformed-reply")
	if err != nil {
		t.Fatal(err)
	}
	dl := dial(t, ep, patterns.WithObserver(deadLetters(func(l actor.DeadLetter) { letters <- l })))
	go actor.Ask(ctx, dl.Ref(), 4) // ends with the test's ctx or dl's Close
	req, err := r.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Send(ctx, socket.Msg{req[0], req[1], []byte("OK"), query[0]}); err != nil {
		t.Fatal(err)
	}
	want("2-byte status")
}
