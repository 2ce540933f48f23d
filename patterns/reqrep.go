package patterns

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/attempt"
	"github.com/zmqflow/zmqflow/socket"
)

// Rep makes a REP mailbox for an actor that answers requests from REQ
// peers: the guide's hello-world server (ch. 1, "Ask and Ye Shall Receive"),
// which any REQ client, libzmq's included, can talk to. The body of each
// request decodes to Q, the actor gets an actor.Request[Q, R], and its
// Reply's value is the reply's body, sent by Reply itself, from whichever
// goroutine calls it. REP carries one conversation at a time: the next
// request is received once this one is answered, so an actor that keeps a
// request to answer later holds the socket until it does. REQ has no way
// to carry an error, so a request that does not decode, one the actor
// answers with an error, and one it never handles (it stopped first) gets
// an empty reply (one empty frame), and is reported as a dead letter. So
// is a reply the socket could not take (closed). Use Router and Dealer for
// requests in parallel and errors that reach the asker.
//
// At Stop the mailbox takes no new requests, and drains: the requests its
// socket holds when the drain begins reach the actor one after the other,
// each once the last is answered, and their answers go out. Stop's ctx
// bounds the drain: what the socket still holds when it ends gets an empty
// reply at once, as at Close. A request the actor keeps unanswered holds
// the drain, and so Stop, until that ctx ends if the socket holds more;
// when the mailbox closes it gets an empty reply too. A socket shut down
// with Stop's ctx over still lingers for such empty replies until they are
// written, a second at most, so that over tcp or ipc their askers hear at
// once: Stop may return that much after its ctx ended (see Inbox.Shutdown),
// but for a socket made with socket.WithLinger(0).
func Rep[Q, R any](qc Codec[Q], rc Codec[R], opts ...Option) (*Inbox[actor.Request[Q, R]], error) {
	qc, rc = bindCodec(qc), bindCodec(rc)
	in, err := newInbox[actor.Request[Q, R]](socket.Rep, opts)
	if err != nil {
		return nil, err
	}
	in.refuse = func(inlet actor.Inlet[actor.Request[Q, R]], m socket.Msg, _ error) {
		repSend(in, inlet, m, [][]byte{{}})
	}
	// The request the actor owes an answer to: refused when the inbox
	// closes with it unanswered (kept, or still in hand when Stop's ctx
	// ended), so that its asker hears at once, and the socket, which
	// gives no other request before, gives the rest to be refused too.
	var pending owedRequest[Q, R]
	in.owed = func(inlet actor.Inlet[actor.Request[Q, R]], reason error) {
		if r, ok := pending.take(); ok {
			var zero R
			if r.Reply(zero, reason) { // else the actor's answer went first
				inlet.DeadLetter(r, reason)
			}
		}
	}
	in.serve = func(ctx context.Context, inlet actor.Inlet[actor.Request[Q, R]]) error {
		answered := make(chan struct{}, 1)
		closed := inlet.Closed()
		drain := -1 // Stop: the requests the drain may still take, once counted
		// m is the request being answered, and answer, made once, its
		// Reply: REP gives no next request before the answer went out
		// (answered), so the loop sets m again only after answer read it.
		var m socket.Msg
		answer := func(v R, err error) {
			pending.take()
			repAnswer(in, inlet, m, rc, v, err)
			answered <- struct{}{}
		}
		for {
			// At Stop the actor answers those the socket held, one after
			// the other as REP goes.
			next, ok, err := in.nextRequest(ctx, &drain, closed)
			if !ok {
				return err // nil at the drain's end: what is left goes to the close (leftOver)
			}
			m = next
			q, err := decode(qc, m)
			if err != nil {
				var zero R
				answer(zero, err)
			} else {
				req := actor.NewRequest(q, answer)
				pending.set(req)
				if inlet.Put(req) != nil {
					return nil // the actor is stopping, and answers it (see Put)
				}
			}
			select {
			case <-answered:
				continue
			case <-ctx.Done():
			}
			// Stop came while the actor has the request. REP takes the
			// next request only once this one is answered: with nothing
			// after it to drain, stop now (its answer still goes out,
			// the socket staying open until the actor has ended);
			// otherwise wait for the answer, or for the mailbox to close
			// (Stop's ctx ended, or the actor did): then the inbox, as it
			// closes, refuses this request if it is still unanswered, and
			// what the socket holds.
			if drain < 0 {
				drain = in.sock.Stats().Queued
			}
			if drain == 0 {
				return nil
			}
			select {
			case <-answered:
			case <-closed:
				return nil
			}
		}
	}
	return in, nil
}

// owedRequest holds the request a Rep mailbox's actor owes an answer to,
// if any. It is a value with a lock rather than an atomic pointer, which
// would cost an allocation per request.
type owedRequest[Q, R any] struct {
	mu  sync.Mutex
	req actor.Request[Q, R]
	ok  bool
}

func (o *owedRequest[Q, R]) set(r actor.Request[Q, R]) {
	o.mu.Lock()
	o.req, o.ok = r, true
	o.mu.Unlock()
}

// take removes the request and returns it, if there was one.
func (o *owedRequest[Q, R]) take() (actor.Request[Q, R], bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.req, o.ok
	o.req, o.ok = actor.Request[Q, R]{}, false
	return r, ok
}

// repAnswer sends the reply to request m of a Rep mailbox: v encoded, or,
// for err, an empty reply, and m is a dead letter (unless the actor
// reported the request as one already: it will never handle it). It never
// blocks: it runs inside the actor's Reply.
func repAnswer[Q, R any](in *Inbox[actor.Request[Q, R]], inlet actor.Inlet[actor.Request[Q, R]], m socket.Msg, rc Codec[R], v R, err error) {
	var body [][]byte
	if err == nil {
		body, err = encode(rc, v)
	}
	if err != nil {
		if !errors.Is(err, actor.ErrStopped) && !errors.Is(err, actor.ErrDropped) {
			inlet.DeadLetter(m, err)
		}
		body = [][]byte{{}}
	}
	repSend(in, inlet, m, body)
}

// repSend sends body, the reply to request m of a Rep mailbox, without
// waiting; a reply the socket refuses is a dead letter.
func repSend[M any](in *Inbox[M], inlet actor.Inlet[M], m socket.Msg, body [][]byte) {
	if err := in.sock.TrySend(body); err != nil {
		inlet.DeadLetter(m, fmt.Errorf("%w (%s): %w", ErrReplyLost, in.cfg.name, err))
	}
}

// Req makes a REQ reference to a REP server (ours, or any libzmq one):
// actor.Ask on its Ref sends the query as the request's body and waits for
// the reply, within ctx. REQ carries one conversation at a time, so asks
// take turns: an Ask waits, within its ctx, for the one before it. With
// LazyPirate it is the guide's Lazy Pirate client: a request with no reply
// within the timeout is sent again on a fresh socket, up to the retries,
// then Ask fails with ErrNoReply. Without it a lost reply leaves Ask to its
// ctx, after which the socket is replaced too (a REQ socket that sent and
// got nothing can do nothing else).
func Req[Q, R any](qc Codec[Q], rc Codec[R], opts ...Option) (*Outbox[actor.Request[Q, R]], error) {
	qc, rc = bindCodec(qc), bindCodec(rc)
	ep, eps, err := openEndpoint(socket.Req, opts)
	if err != nil {
		return nil, err
	}
	r := &requester[Q, R]{endpoint: ep, qc: qc, rc: rc, eps: eps,
		turn: make(chan struct{}, 1), jobs: make(chan reqJob[Q, R], 1), told: make(chan error)}
	r.life, r.end = context.WithCancel(context.Background())
	r.att = attempt.NewWithin(r.life)
	r.wg.Add(1)
	go r.work()
	o := &Outbox[actor.Request[Q, R]]{remote: r, ep: ep, eps: eps}
	o.stop = func() {
		r.closing.Lock()
		r.end()
		r.closing.Unlock()
		r.wg.Wait()
	}
	return o, nil
}

// requester is Req's Remote: one request at a time, each run by the
// requester's goroutine, which waits for the reply, the asker's ctx, or
// Close, and ends at Close.
type requester[Q, R any] struct {
	*endpoint
	qc   Codec[Q]
	rc   Codec[R]
	eps  []string
	turn chan struct{}     // held by the request in flight
	jobs chan reqJob[Q, R] // to the goroutine: the request that has the turn
	told chan error        // from it, unbuffered: whether the request went out
	att  *attempt.Attempt  // the goroutine's: what its attempts wait in

	life    context.Context // ends at Close
	end     context.CancelFunc
	closing sync.Mutex // orders a request's hand-over before Close's end, or after it
	wg      sync.WaitGroup
}

// reqJob is a request handed to a requester's goroutine.
type reqJob[Q, R any] struct {
	ctx context.Context
	q   [][]byte
	req actor.Request[Q, R]
}

func (r *requester[Q, R]) Tell(ctx context.Context, req actor.Request[Q, R]) error {
	q, err := encode(r.qc, req.Query)
	if err != nil {
		return fmt.Errorf("patterns: %s: %w", r.cfg.name, err)
	}
	if r.life.Err() != nil {
		r.deadLetter(req, actor.ErrStopped)
		return fmt.Errorf("%w (%s)", actor.ErrStopped, r.cfg.name)
	}
	select {
	case r.turn <- struct{}{}: // free now: TryTell must not lose to its ended ctx
	default:
		if err := r.awaitTurn(ctx, req); err != nil {
			return err
		}
	}
	// The exchange runs on the requester's goroutine, but Tell returns
	// once the request is sent, as a Dealer's does: a request no peer
	// took before ctx ended was not delivered, and Ask says so.
	// Close may have come while Tell waited for its turn: the goroutine
	// may have ended, and nobody would run the request. One handed over
	// before Close's end is run, even if the goroutine sees the end first.
	r.closing.Lock()
	if r.life.Err() != nil {
		r.closing.Unlock()
		<-r.turn
		r.deadLetter(req, actor.ErrStopped)
		return fmt.Errorf("%w (%s)", actor.ErrStopped, r.cfg.name)
	}
	r.jobs <- reqJob[Q, R]{ctx: ctx, q: q, req: req} // room: the goroutine took the last before the turn was free
	r.closing.Unlock()
	// told is unbuffered, and so read by this Tell before the turn goes
	// to the next, which must not read this one's.
	return <-r.told
}

// work runs the requests handed to it until Close; one handed over before
// Close's end is run as well, its attempts ending at once.
func (r *requester[Q, R]) work() {
	defer r.wg.Done()
	for {
		select {
		case j := <-r.jobs:
			r.run(j)
		case <-r.life.Done():
			select {
			case j := <-r.jobs:
				r.run(j)
			default:
			}
			return
		}
	}
}

// run makes the exchange of j, and frees the turn.
func (r *requester[Q, R]) run(j reqJob[Q, R]) {
	defer func() { <-r.turn }()
	var delivered bool
	if v, err := r.roundTrip(j.ctx, j.q, r.told, &delivered); delivered {
		j.req.Reply(v, err)
	} // else Tell returns err, and the request stays the caller's
}

// awaitTurn waits for the request in flight to end, within ctx.
func (r *requester[Q, R]) awaitTurn(ctx context.Context, req actor.Request[Q, R]) error {
	select {
	case r.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w (%s: a request before it is in flight): %w", actor.ErrMailboxFull, r.cfg.name, ctx.Err())
	case <-r.life.Done():
		r.deadLetter(req, actor.ErrStopped)
		return fmt.Errorf("%w (%s)", actor.ErrStopped, r.cfg.name)
	}
	return nil
}

func (r *requester[Q, R]) TryTell(req actor.Request[Q, R]) error {
	return r.Tell(endedCtx, req)
}

func (r *requester[Q, R]) roundTrip(callCtx context.Context, q [][]byte, told chan<- error, delivered *bool) (v R, err error) {
	var zero R
	// told hears once: nil when a request went out (delivered), or why
	// none did.
	defer func() {
		if *delivered = told == nil; !*delivered {
			told <- err
		}
	}()
	// The attempts wait in one context made for the reference, not one
	// per request: it ends with callCtx, with the reference's life
	// (watched once), and for a Lazy Pirate when the attempt's time is up.
	r.att.Watch(callCtx)
	defer func() {
		if !r.att.Release() { // a clock's call on its way would end the next
			r.att = attempt.NewWithin(r.life)
		}
	}()
	attempts := 1
	if r.cfg.pirate {
		attempts += r.cfg.retries
	}
	for try := 1; try <= attempts; try++ {
		m, sent, err := r.attempt(q)
		if sent {
			r.sent.Add(1) // each attempt is a message out, answered or not
		}
		if sent && told != nil {
			told <- nil
			told = nil
		}
		if err == nil {
			v, err := decode(r.rc, m)
			if err != nil {
				return zero, fmt.Errorf("patterns: %s: reply: %w", r.cfg.name, err)
			}
			return v, nil
		}
		// Sent and no reply: this socket can do nothing more. Lazy
		// Pirate's way: close it, open a new one.
		if rerr := r.reopen(); rerr != nil {
			return zero, rerr
		}
		switch {
		case r.life.Err() != nil:
			return zero, fmt.Errorf("%w (%s closed with the request in flight)", actor.ErrStopped, r.cfg.name)
		case callCtx.Err() != nil && told != nil: // none went out: Tell returns this
			return zero, fmt.Errorf("%w (%s): %w", actor.ErrMailboxFull, r.cfg.name, callCtx.Err())
		case callCtx.Err() != nil:
			return zero, fmt.Errorf("%w (%s): %w", actor.ErrAskTimeout, r.cfg.name, callCtx.Err())
		case !r.cfg.pirate || !errors.Is(err, context.DeadlineExceeded):
			return zero, fmt.Errorf("patterns: %s: %w", r.cfg.name, err)
		}
		if f := r.cfg.onRetry; f != nil && try < attempts {
			f(try+1, err)
		}
	}
	return zero, fmt.Errorf("%w: %d attempts, %v each (%s)", ErrNoReply, attempts, r.cfg.timeout, r.cfg.name)
}

func (r *requester[Q, R]) attempt(q [][]byte) (m socket.Msg, sent bool, err error) {
	var limit time.Duration
	if r.cfg.pirate {
		limit = r.cfg.timeout
	}
	r.att.Begin(limit) // 0, without Lazy Pirate: no limit but the asker's ctx
	sock := r.socket()
	if err := sock.Send(r.att, q); err != nil {
		return nil, false, err
	}
	m, err = sock.Recv(r.att)
	return m, true, err
}

// reopen replaces the socket with a fresh one on the same endpoints,
// dropping what the old one had queued.
func (r *requester[Q, R]) reopen() error {
	r.sockMu.Lock()
	defer r.sockMu.Unlock()
	old := r.sock
	for _, ep := range r.eps {
		old.Unbind(ep)
	}
	for _, ep := range r.cfg.connects {
		old.Disconnect(ep)
	}
	old.Close()
	if r.life.Err() != nil {
		return fmt.Errorf("%w (%s)", actor.ErrStopped, r.cfg.name)
	}
	sock, _, err := r.cfg.openOn(r.eps)
	if err != nil {
		return err
	}
	r.sock = sock
	return nil
}
