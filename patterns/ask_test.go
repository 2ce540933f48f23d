package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

type intReq = actor.Request[int, int]

// holder is a server that keeps requests until told to answer, then answers
// them in reverse order: replies out of order, late, or not at all.
type holder struct {
	mu   sync.Mutex
	held []intReq
	in   chan struct{} // a request arrived
}

func newHolder() *holder { return &holder{in: make(chan struct{}, 1000)} }

func (h *holder) Receive(_ context.Context, r intReq) error {
	h.mu.Lock()
	h.held = append(h.held, r)
	h.mu.Unlock()
	h.in <- struct{}{}
	return nil
}

func (h *holder) answerAll() {
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for i := len(held) - 1; i >= 0; i-- {
		held[i].Reply(held[i].Query+1000, nil)
	}
}

func serveRouter(t *testing.T, b actor.Behavior[intReq], ep string) *patterns.Inbox[intReq] {
	t.Helper()
	in := must[*patterns.Inbox[intReq]](t)(patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(ep)))
	spawn(t, b, actor.WithFeed(in))
	return in
}

func dial(t *testing.T, ep string, opts ...patterns.Option) *patterns.Outbox[intReq] {
	t.Helper()
	d := must[*patterns.Outbox[intReq]](t)(patterns.Dealer(patterns.Binary[int]{}, patterns.Binary[int]{},
		append([]patterns.Option{patterns.Connect(ep)}, opts...)...))
	t.Cleanup(func() { d.Close() })
	return d
}

// Many asks in flight from one Dealer, answered in reverse order: each
// asker gets its own reply.
func TestAskRepliesOutOfOrder(t *testing.T) {
	ctx := testCtx(t)
	h := newHolder()
	in := serveRouter(t, h, "tcp://127.0.0.1:*")
	ref := dial(t, in.Endpoint()).Ref()
	const n = 50
	var wg sync.WaitGroup
	for q := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := actor.Ask(ctx, ref, q)
			if err != nil || got != q+1000 {
				t.Errorf("Ask(%d) = %d, %v", q, got, err)
			}
		}()
	}
	for range n {
		select {
		case <-h.in:
		case <-ctx.Done():
			t.Fatal("requests did not all arrive")
		}
	}
	h.answerAll()
	wg.Wait()
}

// An ask whose deadline passes ends with ErrAskTimeout; its reply, when it
// comes, is dropped and counted.
func TestAskLateReply(t *testing.T) {
	ctx := testCtx(t)
	h := newHolder()
	in := serveRouter(t, h, "inproc://late-reply")
	d := dial(t, in.Endpoint())
	short, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := actor.Ask(short, d.Ref(), 1); errc <- err }()
	<-h.in
	cancel() // the asker gives up with its request held
	if err := <-errc; !errors.Is(err, actor.ErrAskTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Ask = %v, want ErrAskTimeout wrapping the ctx's error", err)
	}
	h.answerAll()
	for d.LateReplies() != 1 {
		select {
		case <-ctx.Done():
			t.Fatalf("late replies: %d, want 1", d.LateReplies())
		case <-time.After(time.Millisecond):
		}
	}
	// The Dealer still works.
	go func() { <-h.in; h.answerAll() }()
	if got, err := actor.Ask(ctx, d.Ref(), 2); err != nil || got != 1002 {
		t.Fatalf("Ask after a late reply = %d, %v", got, err)
	}
}

// A query that does not decode at the server comes back as ErrDecode at once.
func TestAskBadQuery(t *testing.T) {
	ctx := testCtx(t)
	in := serveRouter(t, squarer(), "inproc://bad-query")
	d := must[*patterns.Outbox[actor.Request[string, int]]](t)(patterns.Dealer(patterns.String{}, patterns.Binary[int]{},
		patterns.Connect(in.Endpoint())))
	defer d.Close()
	if _, err := actor.Ask(ctx, d.Ref(), "not an int"); !errors.Is(err, patterns.ErrDecode) {
		t.Fatalf("Ask = %v, want ErrDecode", err)
	}
}

// The caller's retries carry an Ask over a server restart: the request sent
// to the server that went is lost with it, the retry reaches the new one.
func TestAskSurvivesServerRestart(t *testing.T) {
	ctx := testCtx(t)
	ep := "tcp://127.0.0.1:*"
	first, err := patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(ep))
	if err != nil {
		t.Fatal(err)
	}
	ep = first.Endpoint()
	h := newHolder()
	server, err := actor.Spawn(ctx, actor.Behavior[intReq](h), actor.WithFeed(first))
	if err != nil {
		t.Fatal(err)
	}
	d := dial(t, ep)
	askWithRetries := func(q int) (int, error) {
		for {
			attempt, cancel := context.WithTimeout(ctx, time.Second)
			v, err := actor.Ask(attempt, d.Ref(), q)
			cancel()
			// A server that goes away loses the request (the attempt
			// times out) or says it will not answer (it closed while
			// handling it): both are worth asking again.
			retry := errors.Is(err, actor.ErrAskTimeout) || errors.Is(err, actor.ErrNoReply) || errors.Is(err, actor.ErrStopped)
			if err == nil || ctx.Err() != nil || !retry {
				return v, err
			}
		}
	}
	res := make(chan error, 1)
	go func() {
		v, err := askWithRetries(7)
		if err == nil && v != 1007 {
			err = fmt.Errorf("got %d", v)
		}
		res <- err
	}()
	<-h.in // the first server has the request, and dies with it unanswered
	server.Close()
	second := serveRouter(t, actor.BehaviorFunc[intReq](func(_ context.Context, r intReq) error {
		r.Reply(r.Query+1000, nil)
		return nil
	}), ep)
	if second.Endpoint() != ep {
		t.Fatalf("second server on %s, want %s", second.Endpoint(), ep)
	}
	if err := <-res; err != nil {
		t.Fatalf("Ask with retries across a restart: %v", err)
	}
}

func serveRep(t *testing.T, b actor.Behavior[intReq], ep string) *patterns.Inbox[intReq] {
	t.Helper()
	in := must[*patterns.Inbox[intReq]](t)(patterns.Rep(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(ep)))
	spawn(t, b, actor.WithFeed(in))
	return in
}

func TestReqRep(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			in := serveRep(t, squarer(), endpoint(t, tr))
			req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(in.Endpoint())))
			defer req.Close()
			var wg sync.WaitGroup
			for q := range 20 { // asks take turns on REQ
				wg.Add(1)
				go func() {
					defer wg.Done()
					if got, err := actor.Ask(ctx, req.Ref(), q); err != nil || got != q*q {
						t.Errorf("Ask(%d) = %d, %v", q, got, err)
					}
				}()
			}
			wg.Wait()
			// REQ carries no errors: the reply is empty, which does not
			// decode as an int.
			if _, err := actor.Ask(ctx, req.Ref(), -1); !errors.Is(err, patterns.ErrDecode) {
				t.Errorf("Ask(-1) = %v, want ErrDecode of the empty reply", err)
			}
		})
	}
}

// Lazy Pirate: the server loses the first request; the client resends it on
// a fresh socket and gets its reply from the server that replaced it.
func TestReqLazyPirate(t *testing.T) {
	ctx := testCtx(t)
	rep, err := socket.New(socket.Rep)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := rep.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{},
		patterns.Connect(ep), patterns.LazyPirate(time.Second, 5)))
	defer req.Close()
	type result struct {
		v   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		v, err := actor.Ask(ctx, req.Ref(), 9)
		res <- result{v, err}
	}()
	// The first request is received and never answered: a server that
	// crashed mid-request. Another takes its place.
	if _, err := rep.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	rep.Close()
	serveRep(t, squarer(), ep)
	if r := <-res; r.err != nil || r.v != 81 {
		t.Fatalf("Ask through a lost request = %d, %v", r.v, r.err)
	}
}

// A libzmq REQ client talks to a Rep actor, and a Req reference to a libzmq
// REP server: the wire is the guide's.
func TestReqRepInterop(t *testing.T) {
	ctx := testCtx(t)
	in := serveRep(t, squarer(), "tcp://127.0.0.1:*")
	client := pyzmq.Socket(t, "REQ", "--connect", in.Endpoint())
	for q := range 5 {
		frames, _ := patterns.Binary[int]{}.Encode(q)
		if err := client.Send(frames...); err != nil {
			t.Fatal(err)
		}
		m, err := client.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := (patterns.Binary[int]{}).Decode(m); err != nil || got != q*q {
			t.Fatalf("libzmq REQ got %v (%d, %v), want %d", m, got, err, q*q)
		}
	}
	server := pyzmq.Socket(t, "REP", "--bind", "tcp://127.0.0.1:*", "--echo")
	req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(server.Endpoint())))
	defer req.Close()
	for q := range 5 {
		if got, err := actor.Ask(ctx, req.Ref(), q); err != nil || got != q {
			t.Fatalf("Ask of a libzmq echo server = %d, %v; want %d", got, err, q)
		}
	}
}

// Every reply a Dealer gets is its Ask's answer or a late reply, never
// neither: here each asker gives up just as its reply comes (decoding the
// reply ends the asker's ctx), and the replies must equal the answers taken
// plus the late replies counted.
func TestAskReplyTakenOrLate(t *testing.T) {
	ctx := testCtx(t)
	const askers, asks = 4, 50
	var cancels sync.Map // query -> its asker's cancel
	in := serveRouter(t, actor.BehaviorFunc[intReq](func(_ context.Context, r intReq) error {
		r.Reply(r.Query, nil)
		return nil
	}), "inproc://reply-taken-or-late")
	endingAsk := patterns.CodecFuncs[int]{
		EncodeFunc: patterns.Binary[int]{}.Encode,
		DecodeFunc: func(f [][]byte) (int, error) {
			v, err := patterns.Binary[int]{}.Decode(f)
			if c, ok := cancels.Load(v); ok {
				c.(context.CancelFunc)()
			}
			return v, err
		},
	}
	var dead atomic.Uint64
	d := must[*patterns.Outbox[intReq]](t)(patterns.Dealer(patterns.Binary[int]{}, endingAsk, patterns.Connect(in.Endpoint()),
		patterns.WithObserver(deadLetters(func(actor.DeadLetter) { dead.Add(1) }))))
	defer d.Close()
	var answered atomic.Uint64
	var wg sync.WaitGroup
	for g := range askers {
		wg.Go(func() {
			for i := range asks {
				q := g*asks + i
				askCtx, cancel := context.WithCancel(ctx)
				cancels.Store(q, cancel)
				v, err := actor.Ask(askCtx, d.Ref(), q)
				cancel()
				switch {
				case err == nil && v == q:
					answered.Add(1)
				case err == nil:
					t.Errorf("Ask(%d) = %d, another's reply", q, v)
				case !errors.Is(err, actor.ErrAskTimeout):
					t.Errorf("Ask(%d): %v", q, err)
				}
			}
		})
	}
	wg.Wait()
	eventually(t, "every reply answered or counted late", func() bool {
		return answered.Load()+d.LateReplies() == askers*asks
	})
	if dead.Load() != d.LateReplies() {
		t.Errorf("%d dead letters for %d late replies", dead.Load(), d.LateReplies())
	}
}

// A Req's Stats count the requests it sent, answered or not: one for an Ask
// that timed out, one per attempt of a Lazy Pirate that got no reply.
func TestReqStatsCountRequestsSent(t *testing.T) {
	ctx := testCtx(t)
	rep := rawSocket(t, socket.Rep)
	ep, err := rep.Bind("inproc://req-stats")
	if err != nil {
		t.Fatal(err)
	}
	// The server's socket takes the requests, and nothing answers them.
	req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(ep)))
	defer req.Close()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := actor.Ask(short, req.Ref(), 1); !errors.Is(err, actor.ErrAskTimeout) {
		t.Fatalf("Ask of a server that never answers = %v, want ErrAskTimeout", err)
	}
	if got := req.Stats().Handled; got != 1 {
		t.Errorf("Req: Stats().Handled = %d after one request sent, want 1", got)
	}
	var retries []int // OnRetry's tries, each with a timeout for its reason
	pirate := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(ep),
		patterns.LazyPirate(20*time.Millisecond, 2), patterns.OnRetry(func(try int, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("OnRetry(%d, %v), want a timeout", try, err)
			}
			retries = append(retries, try)
		})))
	defer pirate.Close()
	if _, err := actor.Ask(ctx, pirate.Ref(), 2); !errors.Is(err, patterns.ErrNoReply) {
		t.Fatalf("Lazy Pirate's Ask of a server that never answers = %v, want ErrNoReply", err)
	}
	if !slices.Equal(retries, []int{2, 3}) { // Ask returned: the calls are over
		t.Errorf("OnRetry called for tries %v, want [2 3]", retries)
	}
	if got := pirate.Stats().Handled; got != 3 {
		t.Errorf("Lazy Pirate: Stats().Handled = %d after 3 attempts, want 3", got)
	}
}

// Close of a Req while asks come in from several goroutines: each ask is
// answered or told the reference stopped, and Close neither panics nor
// leaves a request unanswered or a goroutine behind (a request handed over
// as Close waited for the reference's goroutine to end).
func TestReqCloseWhileAsking(t *testing.T) {
	ctx := testCtx(t)
	in := serveRep(t, squarer(), "inproc://req-close-while-asking")
	for range 1000 {
		req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(in.Endpoint())))
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 5 {
					q := g*10 + i
					got, err := actor.Ask(ctx, req.Ref(), q)
					if err == nil && got != q*q || err != nil && !errors.Is(err, actor.ErrStopped) {
						t.Errorf("Ask(%d) racing Close = %d, %v; want %d or ErrStopped", q, got, err, q*q)
					}
				}
			})
		}
		req.Close()
		wg.Wait()
	}
}

// Close of a Dealer with asks in flight tells each asker it stopped, and
// sends none of their requests afterwards: a server that comes up after
// Close began does not get requests whose askers were told ErrStopped (and
// may have asked elsewhere), and Close does not wait for one to come. What
// Close discards is a dead letter each.
func TestDealerCloseSendsNoAbandonedRequest(t *testing.T) {
	ctx := testCtx(t)
	ep := nobody(t)
	dead := &deadCount{}
	d := must[*patterns.Outbox[intReq]](t)(patterns.Dealer(patterns.Binary[int]{}, patterns.Binary[int]{},
		patterns.Connect(ep), patterns.WithObserver(dead.observer())))
	const n = 3
	errs := make(chan error, n)
	for q := range n {
		go func() { _, err := actor.Ask(ctx, d.Ref(), q); errs <- err }()
	}
	eventually(t, "requests queued for the peer to come", func() bool { return d.Stats().Handled == n })
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	for range n {
		if err := <-errs; !errors.Is(err, actor.ErrStopped) {
			t.Fatalf("Ask as its Dealer closed = %v, want ErrStopped", err)
		}
	}
	// The server comes now: it must get nothing.
	var handled atomic.Int64
	serveRouter(t, actor.BehaviorFunc[intReq](func(_ context.Context, r intReq) error {
		handled.Add(1)
		r.Reply(r.Query, nil)
		return nil
	}), ep)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close waits to send requests whose askers were told it stopped")
	}
	if h := handled.Load(); h != 0 {
		t.Errorf("the server handled %d requests whose askers were told ErrStopped", h)
	}
	if got := len(dead.get()); got != n {
		t.Errorf("%d dead letters for %d requests discarded at Close, want %d", got, n, n)
	}
}
