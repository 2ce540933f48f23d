package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// gated is a behaviour that holds its first message until open is closed,
// and counts what it handled.
type gated[M any] struct {
	open     chan struct{}
	holding  chan struct{} // closed once the first message is held
	once     sync.Once
	openOnce sync.Once
	handled  atomic.Int64
	answer   func(M)
}

// release lets the first message go; t's cleanup does too, before the
// actor is closed, so that a failed test does not hang.
func (g *gated[M]) release() { g.openOnce.Do(func() { close(g.open) }) }

func spawnGated[M any](t *testing.T, g *gated[M], opts ...actor.Option) *actor.Actor[M] {
	t.Helper()
	a := spawn(t, g, opts...)
	t.Cleanup(g.release) // runs before spawn's Close
	return a
}

func newGated[M any](answer func(M)) *gated[M] {
	return &gated[M]{open: make(chan struct{}), holding: make(chan struct{}), answer: answer}
}

func (g *gated[M]) Receive(_ context.Context, m M) error {
	g.once.Do(func() {
		close(g.holding)
		<-g.open
	})
	if isProbe(m) {
		return nil
	}
	g.handled.Add(1)
	if g.answer != nil {
		g.answer(m)
	}
	return nil
}

// deadCount is an observer that counts dead letters and keeps their reasons.
type deadCount struct {
	mu      sync.Mutex
	reasons []error
}

func (d *deadCount) observer() deadLetters {
	return func(l actor.DeadLetter) {
		if isProbe(l.Message) {
			return
		}
		d.mu.Lock()
		d.reasons = append(d.reasons, l.Reason)
		d.mu.Unlock()
	}
}

func (d *deadCount) get() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.reasons...)
}

// awaitMailboxClosed waits for a's mailbox to refuse messages: Stop or
// Close has begun, and the held message may go. What it tells is a probe,
// which deadCount leaves out.
func awaitMailboxClosed[M any](t *testing.T, a *actor.Actor[M], probe M) {
	t.Helper()
	eventually(t, "Stop or Close to close the mailbox", func() bool {
		return errors.Is(a.TryTell(probe), actor.ErrStopped)
	})
}

// probe values: what no test sends otherwise.
const probeInt = -1

var probeReq = intReq{Query: probeInt}

func isProbe(m any) bool {
	switch m := m.(type) {
	case int:
		return m == probeInt
	case intReq:
		return m.Query == probeInt
	}
	return false
}

// stopWhileHeld stops a while g holds its first message, and lets the
// message go once the mailbox is closed: Stop's drain then has the rest to
// do. It gives Stop's result.
func stopWhileHeld[M any](t *testing.T, ctx context.Context, a *actor.Actor[M], g *gated[M], probe M) <-chan error {
	t.Helper()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(ctx) }()
	awaitMailboxClosed(t, a, probe)
	g.release()
	return stopped
}

// eventually waits, bounded, for cond: for a state that nothing signals
// (how many messages a socket holds).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// closeHeld closes a while its Receive is held by g: the mailbox closes
// first, then g lets Receive go, and Close returns.
func closeHeld(t *testing.T, a *actor.Actor[int], g *gated[int]) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	awaitMailboxClosed(t, a, probeInt)
	g.release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// pullHolding spawns an actor with a PULL mailbox that holds its first
// message, and sends it 1+n messages from a PUSH peer: the first is held,
// the other n wait in the PULL socket.
func pullHolding(t *testing.T, n int) (*actor.Actor[int], *gated[int], *patterns.Inbox[int], *deadCount) {
	t.Helper()
	ctx := testCtx(t)
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	g := newGated[int](nil)
	dead := &deadCount{}
	a := spawnGated(t, g, actor.WithFeed(in), actor.WithObserver(dead.observer()))
	out := must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(in.Endpoint())))
	t.Cleanup(func() { out.Close() })
	for i := range n + 1 {
		if err := out.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-g.holding // the others wait in the socket
		}
	}
	eventually(t, "the PULL socket to hold the messages", func() bool { return in.Socket().Stats().Queued == n })
	return a, g, in, dead
}

// Stop handles what the socket of a mailbox the actor polls holds, not only
// what is in the mailbox: nothing told is lost.
func TestStopDrainsPolledSocket(t *testing.T) {
	const n = 300 // more than the actor takes in one batch
	a, g, _, dead := pullHolding(t, n)
	stopped := stopWhileHeld(t, testCtx(t), a, g, probeInt)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := g.handled.Load(); got != n+1 {
		t.Errorf("handled %d of %d messages", got, n+1)
	}
	if d := dead.get(); len(d) != 0 {
		t.Errorf("%d dead letters, want none: %v", len(d), d[0])
	}
}

// Close leaves what the socket holds unhandled, and reports each message
// as a dead letter: none is lost silently.
func TestCloseReportsWhatTheSocketHolds(t *testing.T) {
	const n = 50
	a, g, _, dead := pullHolding(t, n)
	closeHeld(t, a, g)
	d := dead.get()
	if h := g.handled.Load(); h+int64(len(d)) != n+1 {
		t.Errorf("handled %d, dead letters %d: want %d in all", h, len(d), n+1)
	}
	for _, r := range d {
		if !errors.Is(r, actor.ErrStopped) {
			t.Fatalf("dead letter's reason %v does not wrap actor.ErrStopped", r)
		}
	}
}

// askAll asks ref for 0..n-1 at once, each in a goroutine, and gives each
// Ask's outcome: nil for the right reply (the query plus one).
func askAll(ctx context.Context, ref actor.Ref[intReq], n int) <-chan error {
	return askEach(ctx, n, func(int) actor.Ref[intReq] { return ref })
}

// askEach asks ref(i) for i, for 0..n-1 at once, each in a goroutine, and
// gives each Ask's outcome: nil for the right reply (the query plus one).
func askEach(ctx context.Context, n int, ref func(i int) actor.Ref[intReq]) <-chan error {
	replies := make(chan error, n)
	for i := range n {
		go func() {
			v, err := actor.Ask(ctx, ref(i), i)
			if err == nil && v != i+1 {
				err = fmt.Errorf("reply %d to %d, want %d", v, i, i+1)
			}
			replies <- err
		}()
	}
	return replies
}

// Requests in a Router mailbox when Stop is called are handled, and their
// replies reach the askers: the socket stays open until the actor ended.
func TestStopRouterRepliesToWhatItHolds(t *testing.T) {
	ctx := testCtx(t)
	g := newGated[intReq](func(r intReq) { r.Reply(r.Query+1, nil) })
	in := must[*patterns.Inbox[intReq]](t)(patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	a := spawnGated(t, g, actor.WithFeed(in))
	ref := dial(t, in.Endpoint()).Ref()
	const n = 5
	replies := askAll(ctx, ref, n)
	<-g.holding
	// In the mailbox: the held one (in the batch the actor took) and the others.
	eventually(t, "the requests to reach the mailbox", func() bool { return a.Stats().Queued == n })
	stopped := stopWhileHeld(t, ctx, a, g, probeReq)
	for range n {
		if err := <-replies; err != nil {
			t.Errorf("ask: %v", err)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// A Rep mailbox's answer to the request its actor holds when Stop is
// called still goes out.
func TestStopRepAnswersTheRequestItHolds(t *testing.T) {
	ctx := testCtx(t)
	g := newGated[intReq](func(r intReq) { r.Reply(r.Query+1, nil) })
	in := must[*patterns.Inbox[intReq]](t)(patterns.Rep(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	a := spawnGated(t, g, actor.WithFeed(in))
	req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(in.Endpoint())))
	defer req.Close()
	reply := askAll(ctx, req.Ref(), 1)
	<-g.holding
	stopped := stopWhileHeld(t, ctx, a, g, probeReq)
	if err := <-reply; err != nil {
		t.Fatalf("ask: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// Stop's ctx bounds how long the mailbox's socket lingers for what it
// could not send: here a PAIR whose peer never came, with a linger longer
// than the test's patience.
func TestStopBoundsTheSocketsLinger(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[int]](t)(patterns.Pair(patterns.Binary[int]{}, patterns.Connect(nobody(t)),
		patterns.WithSocketOptions(socket.WithLinger(3*wait))))
	a := spawn(t, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }), actor.WithFeed(in))
	if err := in.Peer().Tell(ctx, 1); err != nil { // queued for the peer to come
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(sctx) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("Stop waited for the socket's linger, past its ctx")
	}
	if err := in.Peer().Tell(ctx, 2); !errors.Is(err, actor.ErrStopped) {
		t.Errorf("Tell after Stop: %v, want actor.ErrStopped", err)
	}
}

// A Spawn that refuses its options closes the mailbox it was given: its
// maker handed it over.
func TestSpawnRefusedClosesItsMailbox(t *testing.T) {
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	_, err := actor.Spawn(testCtx(t), actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithFeed(in), actor.WithIntensity(3, time.Second)) // a supervisor's option
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Spawn: %v, want ErrBadOption", err)
	}
	if _, err := in.Socket().TryRecv(); !errors.Is(err, socket.ErrClosed) {
		t.Errorf("the mailbox's socket after the refused Spawn: %v, want socket.ErrClosed", err)
	}
}

// A Router mailbox drains as a PULL one does: the requests its socket
// holds when Stop comes are handed to the actor, which answers them
// before it ends; none is refused, none is a dead letter. (A mailbox of
// one: the Router waits to put the next request, and the rest wait in its
// socket.)
func TestStopRouterDrainsWhatItHolds(t *testing.T) {
	ctx := testCtx(t)
	g := newGated[intReq](func(r intReq) { r.Reply(r.Query+1, nil) })
	in := must[*patterns.Inbox[intReq]](t)(patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	dead := &deadCount{}
	a := spawnGated(t, g, actor.WithFeed(in), actor.WithMailbox(actor.Bounded(1)), actor.WithObserver(dead.observer()))
	ref := dial(t, in.Endpoint()).Ref()
	const n = 8
	replies := askAll(ctx, ref, n)
	<-g.holding
	// All in: one held by the actor, which counts against the mailbox of
	// one, one the Router waits to put, the rest in the socket. (One still
	// on the wire when the drain counts would be refused, or lost if it
	// came as the socket closed.)
	eventually(t, "the requests to wait in the socket", func() bool { return in.Socket().Stats().Queued >= n-2 })
	stopCtx := &doneAsked{Context: ctx, asked: make(chan struct{})}
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(stopCtx) }()
	<-stopCtx.asked // Stop is quieting the Router, which takes no new requests
	g.release()
	for range n {
		if err := <-replies; err != nil {
			t.Errorf("ask: %v, want every request answered", err)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if d := dead.get(); len(d) != 0 {
		t.Errorf("%d dead letters, want none: %v", len(d), d)
	}
}

// doneAsked is a ctx that says when Done is first asked for: Stop asks as
// it quiets the actor's feeds, its first step.
type doneAsked struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func (c *doneAsked) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

// askFromReqs asks a Rep mailbox at ep for 0..n-1 at once, each from a
// REQ client of its own (a REQ has one request in flight), and gives each
// Ask's outcome: nil for the right reply (the query plus one).
func askFromReqs(t *testing.T, ctx context.Context, ep string, n int) <-chan error {
	t.Helper()
	refs := make([]actor.Ref[intReq], n)
	for i := range refs {
		req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(ep)))
		t.Cleanup(func() { req.Close() })
		refs[i] = req.Ref()
	}
	return askEach(ctx, n, func(i int) actor.Ref[intReq] { return refs[i] })
}

// A Rep mailbox drains as a Router one does: the requests its socket holds
// when Stop comes are handed to the actor one after the other (REP's
// lockstep), and each is answered before the actor ends; none is refused,
// none is a dead letter.
func TestStopRepDrainsWhatItHolds(t *testing.T) {
	ctx := testCtx(t)
	g := newGated[intReq](func(r intReq) { r.Reply(r.Query+1, nil) })
	in := must[*patterns.Inbox[intReq]](t)(patterns.Rep(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	dead := &deadCount{}
	a := spawnGated(t, g, actor.WithFeed(in), actor.WithObserver(dead.observer()))
	const n = 8
	replies := askFromReqs(t, ctx, in.Endpoint(), n)
	<-g.holding
	// All in: one held by the actor, the rest in the socket, which gives
	// the next only once the held one is answered.
	eventually(t, "the other requests to wait in the socket", func() bool { return in.Socket().Stats().Queued == n-1 })
	stopCtx := &doneAsked{Context: ctx, asked: make(chan struct{})}
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(stopCtx) }()
	<-stopCtx.asked // Stop is quieting the Rep, which takes no new requests
	g.release()
	for range n {
		if err := <-replies; err != nil {
			t.Errorf("ask: %v, want every request answered", err)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := g.handled.Load(); got != n {
		t.Errorf("handled %d of %d requests", got, n)
	}
	if d := dead.get(); len(d) != 0 {
		t.Errorf("%d dead letters, want none: %v", len(d), d)
	}
}

// When Stop's ctx ends while the actor of a Rep mailbox still has a
// request, what its socket holds is not left to the askers' timeouts: the
// held request is answered, the others refused with an empty reply, each
// a dead letter. Over tcp and ipc too: the socket, shut down with Stop's
// ended ctx, still lingers long enough for its connections to write them.
func TestStopRepCutShortRefusesTheRest(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { stopRepCutShort(t, tr) })
	}
}

func stopRepCutShort(t *testing.T, transport string) {
	ctx := testCtx(t)
	g := newGated[intReq](func(r intReq) { r.Reply(r.Query+1, nil) })
	in := must[*patterns.Inbox[intReq]](t)(patterns.Rep(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(endpoint(t, transport))))
	dead := &deadCount{}
	a := spawnGated(t, g, actor.WithFeed(in), actor.WithObserver(dead.observer()))
	const n = 4
	replies := askFromReqs(t, ctx, in.Endpoint(), n)
	<-g.holding
	eventually(t, "the other requests to wait in the socket", func() bool { return in.Socket().Stats().Queued == n-1 })
	cutCtx, cut := context.WithCancel(ctx)
	defer cut()
	stopCtx := &doneAsked{Context: cutCtx, asked: make(chan struct{})}
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(stopCtx) }()
	<-stopCtx.asked
	cut()                              // Stop's ctx ends with the first request held
	awaitMailboxClosed(t, a, probeReq) // Stop gave up waiting for the drain
	g.release()
	answered, refused := 0, 0
	for range n {
		switch err := <-replies; {
		case err == nil:
			answered++
		case errors.Is(err, patterns.ErrDecode): // the empty reply
			refused++
		default:
			t.Errorf("ask: %v, want an answer or an empty reply at once", err)
		}
	}
	if answered != 1 || refused != n-1 {
		t.Errorf("%d answered, %d refused: want 1 and %d", answered, refused, n-1)
	}
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Errorf("Stop: %v, want its ctx's error", err)
	}
	if d := dead.get(); len(d) != n-1 {
		t.Errorf("%d dead letters, want %d", len(d), n-1)
	}
}

// A request its actor keeps unanswered holds a Rep mailbox's drain, which
// cannot take the next before it is answered, until Stop's ctx ends: then
// Stop returns, and the kept request and those still in the socket get an
// empty reply at once, each a dead letter, over every transport.
func TestStopRepKeptRequestBoundedByStopsCtx(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { stopRepKept(t, tr) })
	}
}

func stopRepKept(t *testing.T, transport string) {
	ctx := testCtx(t)
	kept := make(chan intReq, 1)
	dead := &deadCount{}
	in := must[*patterns.Inbox[intReq]](t)(patterns.Rep(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(endpoint(t, transport))))
	a := spawn(t, actor.BehaviorFunc[intReq](func(_ context.Context, r intReq) error {
		kept <- r // the first; no other comes
		return nil
	}), actor.WithFeed(in), actor.WithObserver(dead.observer()))
	const n = 3
	replies := askFromReqs(t, ctx, in.Endpoint(), n)
	<-kept
	eventually(t, "the other requests to wait in the socket", func() bool { return in.Socket().Stats().Queued == n-1 })
	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(stopCtx) }()
	select {
	case err := <-stopped:
		// nil when the actor, which had nothing more to do, ended as
		// Stop found its ctx over.
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop: %v, want nil or its ctx's error", err)
		}
	case <-ctx.Done():
		t.Fatal("Stop held past its ctx by a request its actor kept")
	}
	for range n {
		if err := <-replies; !errors.Is(err, patterns.ErrDecode) { // the empty reply
			t.Errorf("ask: %v, want an empty reply at once", err)
		}
	}
	if d := dead.get(); len(d) != n {
		t.Errorf("%d dead letters, want %d: %v", len(d), n, d)
	}
}

// A Stop whose ctx has already ended refuses, with actor.ErrStopped, the
// requests a Router mailbox holds, and its askers hear it at once rather than at their own
// timeouts, over every transport: the socket, shut down with that ctx,
// still lingers long enough for its connections to write the refusals.
// The request the actor held is answered, and maybe a few more.
func TestStopRouterEndedCtxRefusesAtOnce(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			g := newGated[intReq](func(r intReq) { r.Reply(r.Query+1, nil) })
			in := must[*patterns.Inbox[intReq]](t)(patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(endpoint(t, tr))))
			a := spawnGated(t, g, actor.WithFeed(in))
			const n = 20
			replies := askAll(ctx, dial(t, in.Endpoint()).Ref(), n)
			<-g.holding
			// All in the mailbox (the held one in the batch the actor
			// took), where the Router's feed puts them: a request still
			// on its way could arrive as the socket closes, and go with
			// it.
			eventually(t, "the requests to reach the mailbox", func() bool { return a.Stats().Queued == n })
			ended, cancel := context.WithCancel(ctx)
			cancel()
			stopped := stopWhileHeld(t, ended, a, g, probeReq)
			answered, refused := 0, 0
			for range n {
				switch err := <-replies; {
				case err == nil:
					answered++
				case errors.Is(err, actor.ErrStopped):
					refused++
				default:
					t.Errorf("ask: %v, want an answer or a refusal at once", err)
				}
			}
			if answered < 1 || answered+refused != n {
				// The actor may answer a few more (those in its mailbox)
				// before Stop finds its ctx over.
				t.Errorf("%d answered, %d refused: want the held one answered and %d in all", answered, refused, n)
			}
			<-stopped
		})
	}
}

// Requests waiting in a Rep mailbox's socket when its actor is closed get
// an empty reply at once, the REP way of saying no.
func TestCloseRepRefusesWhatItLeaves(t *testing.T) {
	ctx := testCtx(t)
	g := newGated[intReq](func(r intReq) { r.Reply(r.Query+1, nil) })
	in := must[*patterns.Inbox[intReq]](t)(patterns.Rep(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	a := spawnGated(t, g, actor.WithFeed(in))
	const n = 3
	replies := askFromReqs(t, ctx, in.Endpoint(), n)
	<-g.holding
	eventually(t, "the other requests to wait in the socket", func() bool { return in.Socket().Stats().Queued == n-1 })
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	awaitMailboxClosed(t, a, probeReq)
	g.release()
	for range n {
		if err := <-replies; errors.Is(err, actor.ErrAskTimeout) {
			t.Errorf("ask: %v, want an answer or an empty reply", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// flood calls send until the returned stop is called, which waits for it.
func flood(send func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !isDone(done) {
			send()
		}
	}()
	return func() { close(done); wg.Wait() }
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// handledAtLeast waits for n to reach k: the flood is under way.
func handledAtLeast(t *testing.T, n *atomic.Int64, k int64) {
	t.Helper()
	eventually(t, "the actor to handle the flood", func() bool { return n.Load() >= k })
}

// Stop ends while peers keep sending to a socket the actor polls through
// Feed: it drains what the socket held, not what keeps coming.
func TestStopUnderFloodOfAPolledFeed(t *testing.T) {
	ctx := testCtx(t)
	pull, push := pullPush(t, ctx, 1000)
	var handled atomic.Int64
	a := spawn(t, actor.BehaviorFunc[socket.Msg](func(context.Context, socket.Msg) error {
		handled.Add(1)
		time.Sleep(10 * time.Microsecond) // work: the actor is slower than its peer
		return nil
	}), actor.WithFeed(patterns.Feed(pull, func(m socket.Msg) socket.Msg { return m }, nil)))
	stop := flood(func() { push.TrySend(socket.Msg{[]byte("x")}) })
	defer stop()
	handledAtLeast(t, &handled, 100)
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop under a flood: %v", err)
	}
}

// A run feed that fails fails its actor, however busy the polled one is.
func TestFeedFailureUnderFloodOfThePolledFeed(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	broke := errors.New("feed broke")
	fail := make(chan struct{})
	var handled atomic.Int64
	a := spawn(t, actor.BehaviorFunc[int](func(context.Context, int) error {
		handled.Add(1)
		time.Sleep(10 * time.Microsecond) // work: the actor is slower than its peer
		return nil
	}), actor.WithFeed(in), actor.WithFeed[int](failingFeed{fail, broke}))
	out := must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(in.Endpoint()),
		patterns.WithSocketOptions(socket.WithLinger(0))))
	t.Cleanup(func() { out.Close() })
	stop := flood(func() { out.TryTell(1) })
	defer stop()
	handledAtLeast(t, &handled, 100)
	close(fail)
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("the actor whose feed failed still runs")
	}
	if !errors.Is(a.Err(), broke) {
		t.Fatalf("actor ended with %v, want its feed's failure", a.Err())
	}
}

// failingFeed is a run feed that fails when fail is closed.
type failingFeed struct {
	fail <-chan struct{}
	err  error
}

func (f failingFeed) Run(ctx context.Context, _ actor.Inlet[int]) error {
	select {
	case <-f.fail:
		return f.err
	case <-ctx.Done():
		return nil
	}
}

func (failingFeed) Close() error { return nil }

// A mailbox the actor does not poll (its second) stops receiving when Stop
// begins, however much keeps coming, and Stop returns within its ctx.
func TestStopUnderFloodOfARunFeed(t *testing.T) {
	ctx := testCtx(t)
	first := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind(endpoint(t, "inproc"))))
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind(endpoint(t, "inproc"))))
	var handled atomic.Int64
	a := spawn(t, actor.BehaviorFunc[int](func(context.Context, int) error {
		handled.Add(1)
		return nil
	}), actor.WithFeed(first), actor.WithFeed(in), actor.WithMailbox(actor.Unbounded()))
	out := must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(in.Endpoint()),
		patterns.WithSocketOptions(socket.WithLinger(0))))
	t.Cleanup(func() { out.Close() })
	stop := flood(func() { out.TryTell(1) })
	defer stop()
	handledAtLeast(t, &handled, 100)
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop under a flood: %v", err)
	}
}

// A Spawn that refuses its options leaves alone an inbox another actor is
// fed by.
func TestRefusedSpawnLeavesASharedInbox(t *testing.T) {
	ctx := testCtx(t)
	in := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	got := make(chan int, 1)
	spawn(t, actor.BehaviorFunc[int](func(_ context.Context, n int) error { got <- n; return nil }), actor.WithFeed(in))
	_, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithFeed(in), actor.WithIntensity(1, time.Second))
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Spawn with a supervisor's option: %v, want ErrBadOption", err)
	}
	out := must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(in.Endpoint())))
	t.Cleanup(func() { out.Close() })
	if err := out.Tell(ctx, 7); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 7 {
			t.Fatalf("got %d, want 7", n)
		}
	case <-ctx.Done():
		t.Fatal("the first actor's inbox no longer receives")
	}
}

// A Req's Tell that fails (no peer took the request) leaves the request
// unanswered: it stays the caller's, who may tell it again.
func TestReqTellFailedLeavesRequestUnanswered(t *testing.T) {
	ctx := testCtx(t)
	req := must[*patterns.Outbox[intReq]](t)(patterns.Req(patterns.Binary[int]{}, patterns.Binary[int]{},
		patterns.Bind(endpoint(t, "inproc"))))
	var replies atomic.Int32
	r := actor.NewRequest(1, func(int, error) { replies.Add(1) })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := req.Tell(short, r); !errors.Is(err, actor.ErrMailboxFull) {
		t.Fatalf("Tell with no peer: %v, want ErrMailboxFull", err)
	}
	req.Close() // waits for the request's goroutine
	if n := replies.Load(); n != 0 {
		t.Fatalf("the request Tell refused was answered %d times", n)
	}
}

// A supervised actor of a Rep mailbox that fails during Stop's drain is
// not restarted; the requests behind the one it failed on are not handed
// to it, to wait for an answer that cannot come until Stop's ctx ends:
// Stop returns, and each asker hears at once that it is refused.
func TestStopSupervisedRepFailingInTheDrain(t *testing.T) {
	ctx := testCtx(t)
	const n = 4
	in := must[*patterns.Inbox[intReq]](t)(patterns.Rep(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(endpoint(t, "inproc"))))
	var first atomic.Bool
	g := newGated[intReq](func(r intReq) {
		if first.CompareAndSwap(false, true) {
			panic("the request held as Stop came")
		}
		r.Reply(r.Query+1, nil)
	})
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{actor.NewChild("rep", func() actor.Behavior[intReq] { return g }, actor.WithFeed(in))},
		actor.WithIntensity(100, time.Minute), actor.WithBackoff(0, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close() })
	t.Cleanup(g.release) // before the Close
	replies := askFromReqs(t, ctx, in.Endpoint(), n)
	<-g.holding
	eventually(t, "the other requests to wait in the socket", func() bool { return in.Socket().Stats().Queued == n-1 })
	stopCtx := &doneAsked{Context: ctx, asked: make(chan struct{})}
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Stop(stopCtx) }()
	<-stopCtx.asked // the drain has begun
	g.release()     // the child fails: no restart once Stop began
	for range n {
		if err := <-replies; !errors.Is(err, patterns.ErrDecode) { // the empty reply
			t.Errorf("ask: %v, want an empty reply at once", err)
		}
	}
	if err := <-stopped; ctx.Err() != nil {
		t.Errorf("Stop: %v, held to its ctx's end", err)
	}
}
