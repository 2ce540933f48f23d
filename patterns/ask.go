package patterns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// Ask across processes: a Router mailbox serves an actor of
// actor.Request[Q, R]; a Dealer reference asks it with actor.Ask. It is the
// guide's asynchronous client/server (ch. 3, "The Asynchronous
// Client/Server Pattern"): many requests in flight from one DEALER, replies
// matched to them by a correlation id, in whatever order they come.
//
// On the wire (frames):
//
//	request  DEALER -> ROUTER   corr (8 bytes, big-endian) | query frames...
//	reply    ROUTER -> DEALER   corr | status (1 byte) | reply frames..., or the error's text
//
// The ROUTER adds and strips the DEALER's identity in front, as ZeroMQ does.
const corrLen = 8

// Reply statuses.
const (
	statusOK       byte = iota // reply frames follow
	statusError                // the actor replied with an error: its text follows
	statusStopped              // the actor will not handle it: it stopped
	statusNoReply              // the actor failed while handling it
	statusBadQuery             // the query did not decode
	statusDropped              // the actor will not handle it: its mailbox dropped it
)

// Router makes a ROUTER mailbox for an actor that answers requests: each
// request from a Dealer reference (or several, from many processes) reaches
// the behaviour as an actor.Request[Q, R] whose Reply goes back to the asker
// over the socket. The behaviour is the one an in-process actor of
// Request[Q, R] has. A reply the actor makes with an error reaches the
// asker as an error wrapping ErrRemote with the error's text; a request the
// actor never handles or fails on reaches it as actor.ErrStopped,
// actor.ErrDropped or actor.ErrNoReply, as in process. A request that does
// not decode is a dead letter, and the asker gets ErrDecode at once.
//
// Request.Reply never blocks, so a reply is sent only if the socket takes it
// at once. Without socket.WithRouterMandatory the ROUTER drops, as libzmq
// does, a reply to an asker that is gone or at its high-water mark, and
// counts it in the socket's Stats (Dropped) and Monitor (EventDropped). A
// reply the socket refuses (with that option, to an asker gone or at its
// high-water mark; with or without it, one made after the mailbox closed)
// is a dead letter of the actor, with the reply's frames and a Reason
// wrapping ErrReplyLost and the socket's error (socket.ErrHostUnreachable,
// socket.ErrWouldBlock, socket.ErrClosed). Either way the asker's ctx ends
// its Ask.
func Router[Q, R any](qc Codec[Q], rc Codec[R], opts ...Option) (*Inbox[actor.Request[Q, R]], error) {
	qc, rc = bindCodec(qc), bindCodec(rc)
	in, err := newInbox[actor.Request[Q, R]](socket.Router, opts)
	if err != nil {
		return nil, err
	}
	in.refuse = func(inlet actor.Inlet[actor.Request[Q, R]], m socket.Msg, reason error) {
		if id, corr, _, err := parseRequest(m); err == nil {
			routerReply(in, inlet, id, corr, statusStopped, nil, []byte(reason.Error()))
		}
	}
	in.serve = func(ctx context.Context, inlet actor.Inlet[actor.Request[Q, R]]) error {
		closed := inlet.Closed()
		drain := -1 // Stop: the requests the drain may still hand over, once counted
		for {
			// At Stop the actor gets those the socket held, as a polled
			// mailbox does.
			m, ok, err := in.nextRequest(ctx, &drain, closed)
			if !ok {
				return err // nil at the drain's end: what is left goes to the close (leftOver)
			}
			id, corr, query, err := parseRequest(m)
			if err != nil {
				inlet.DeadLetter(m, err)
				continue
			}
			q, err := decode(qc, query)
			if err != nil {
				inlet.DeadLetter(m, err)
				routerReply(in, inlet, id, corr, statusBadQuery, nil, []byte(err.Error()))
				continue
			}
			req := actor.NewRequest(q, func(v R, err error) {
				if frame, ok := oneFrame(rc, v); ok && err == nil {
					routerReply(in, inlet, id, corr, statusOK, nil, frame)
					return
				}
				status, body := replyFrames(rc, v, err)
				routerReply(in, inlet, id, corr, status, body, nil)
			})
			if inlet.Put(req) != nil {
				return nil
			}
		}
	}
	return in, nil
}

// parseRequest splits what a ROUTER received from a Dealer: the identity
// the ROUTER put in front, the correlation id, the query's frames.
func parseRequest(m socket.Msg) (id, corr []byte, query [][]byte, err error) {
	switch {
	case len(m) < 3:
		return nil, nil, nil, fmt.Errorf("%w: not a request (identity, %d-byte correlation id, query): %d frames", ErrDecode, corrLen, len(m))
	case len(m[1]) != corrLen:
		return nil, nil, nil, fmt.Errorf("%w: not a request: a %d-byte correlation id, want %d", ErrDecode, len(m[1]), corrLen)
	}
	return m[0], m[1], m[2:], nil
}

// parseReply splits a reply a Dealer received: correlation id, status, body.
func parseReply(m socket.Msg) (corr uint64, status byte, body [][]byte, err error) {
	switch {
	case len(m) < 2:
		return 0, 0, nil, fmt.Errorf("%w: not a reply (%d-byte correlation id, status, body): %d frames", ErrDecode, corrLen, len(m))
	case len(m[0]) != corrLen:
		return 0, 0, nil, fmt.Errorf("%w: not a reply: a %d-byte correlation id, want %d", ErrDecode, len(m[0]), corrLen)
	case len(m[1]) != 1:
		return 0, 0, nil, fmt.Errorf("%w: not a reply: a %d-byte status, want 1", ErrDecode, len(m[1]))
	}
	return binary.BigEndian.Uint64(m[0]), m[1][0], m[2:], nil
}

// replyFrames encodes a reply: the value, or the error's status and text.
func replyFrames[R any](rc Codec[R], v R, err error) (byte, [][]byte) {
	if err == nil {
		frames, eerr := encode(rc, v)
		if eerr == nil {
			return statusOK, frames
		}
		err = eerr
	}
	status := statusError
	switch {
	case errors.Is(err, actor.ErrNoReply):
		status = statusNoReply
	case errors.Is(err, actor.ErrDropped):
		status = statusDropped
	case errors.Is(err, actor.ErrStopped):
		status = statusStopped
	}
	return status, [][]byte{[]byte(err.Error())}
}

// routerReply sends a reply back along its envelope without waiting: it
// runs inside Request.Reply, which promises never to block, mostly on the
// actor's own goroutine. A ROUTER with WithRouterMandatory would wait for
// an asker at its high-water mark; TrySend refuses instead, and what the
// socket refuses is a dead letter of the actor the inbox feeds (one without
// the option drops such replies itself and counts them in its Stats). The
// reply's body is body's frames, or, with body nil, the one frame frame.
func routerReply[M any](in *Inbox[M], inlet actor.Inlet[M], id, corr []byte, status byte, body [][]byte, frame []byte) {
	var m socket.Msg
	if body == nil || len(body) == 1 {
		if body != nil {
			frame = body[0]
		}
		// The usual reply, in one allocation with its status frame.
		r := new(oneFrameReply)
		r.status[0] = status
		m = append(r.frames[:0], id, corr, r.status[:], frame)
	} else {
		m = make(socket.Msg, 0, 3+len(body))
		m = append(m, id, corr, []byte{status})
		m = append(m, body...)
	}
	if err := in.sock.TrySend(m); err != nil {
		why := ""
		if errors.Is(err, socket.ErrWouldBlock) {
			why = ": asker at its high-water mark"
		}
		inlet.DeadLetter(m, fmt.Errorf("%w (%s)%s: %w", ErrReplyLost, in.cfg.name, why, err))
	}
}

// oneFrameReply holds a reply of one frame: identity, correlation id,
// status, the frame.
type oneFrameReply struct {
	frames [4][]byte
	status [1]byte
}

// oneFrame returns v's one frame, for Bytes, whose Encode would put it in
// a slice of its own and cannot fail.
func oneFrame[T any](c Codec[T], v T) ([]byte, bool) {
	if _, ok := any(c).(Bytes); ok {
		return *(*[]byte)(unsafe.Pointer(&v)), true // T is []byte: only Bytes is a Codec of it
	}
	return nil, false
}

// Dealer makes a DEALER reference to actors behind Router mailboxes:
// actor.Ask on its Ref sends the query and waits for the reply, within ctx.
// Many asks may be in flight at once, from any number of goroutines; their
// requests go round-robin over the connected Routers, and each reply is
// matched to its ask by its correlation id, in whatever order replies come.
// A reply that comes after its asker gave up is dropped and counted
// (LateReplies), and reported as a dead letter. A reply that R's codec
// cannot decode is returned to its asker, as an error wrapping ErrDecode,
// and is no dead letter; a message that is not a reply at all (no
// correlation id and status frame, or a correlation id no request of this
// Dealer had) is a dead letter, wrapping ErrDecode, and is not counted in
// LateReplies.
// Tell sends within the asker's ctx, so an Ask whose request no peer's
// queue took before ctx ended (a Dealer that binds, with no peer yet, or
// every queue at its high-water mark) returns actor.ErrMailboxFull, which
// actor.Ask reports as "request not delivered".
//
// A request sent to a server that dies before answering is lost with it:
// Ask ends with ctx, and the caller asks again (the retry reaches a server
// that is up; see the guide's ch. 4 on client-side reliability). A request
// still queued in the socket for a server that leaves (one that connected
// to a Dealer that binds) is discarded unsent: a dead letter, and its Ask
// ends at once with actor.ErrStopped wrapping socket.ErrDiscarded, so the
// caller can ask again without waiting for ctx.
//
// Close and Shutdown end every Ask in flight with actor.ErrStopped at once,
// and do not linger: requests still queued in the socket are discarded,
// never sent after their askers were told, each a dead letter.
func Dealer[Q, R any](qc Codec[Q], rc Codec[R], opts ...Option) (*Outbox[actor.Request[Q, R]], error) {
	qc, rc = bindCodec(qc), bindCodec(rc)
	ep, eps, err := openEndpoint(socket.Dealer, opts)
	if err != nil {
		return nil, err
	}
	a := &asker[Q, R]{endpoint: ep, qc: qc, rc: rc, pending: map[uint64]waiting[Q, R]{}}
	discarded := a.discarded
	ep.cfg.discarded.Store(&discarded)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.readReplies(ctx)
	}()
	o := &Outbox[actor.Request[Q, R]]{remote: a, ep: ep, eps: eps, abandons: true}
	o.stop = func() {
		cancel()
		<-done
		a.abandonAll()
	}
	return o, nil
}

// asker is a Dealer's Remote: it numbers requests and matches replies.
type asker[Q, R any] struct {
	*endpoint
	qc Codec[Q]
	rc Codec[R]

	mu      sync.Mutex
	next    uint64
	pending map[uint64]waiting[Q, R]
}

// waiting is a request in flight; unhook stops watching its asker's ctx.
type waiting[Q, R any] struct {
	req    actor.Request[Q, R]
	ctx    context.Context // the asker's; nil for TryTell
	unhook func() bool
}

func (a *asker[Q, R]) Tell(ctx context.Context, req actor.Request[Q, R]) error {
	return a.tell(ctx, req, false)
}

func (a *asker[Q, R]) TryTell(req actor.Request[Q, R]) error {
	return a.tell(endedCtx, req, true)
}

func (a *asker[Q, R]) tell(ctx context.Context, req actor.Request[Q, R], try bool) error {
	frame, one := oneFrame(a.qc, req.Query)
	var q [][]byte
	if !one {
		var err error
		if q, err = encode(a.qc, req.Query); err != nil {
			return fmt.Errorf("patterns: %s: %w", a.cfg.name, err)
		}
	}
	a.mu.Lock()
	a.next++
	id := a.next
	w := waiting[Q, R]{req: req, unhook: neverHooked}
	if !try {
		w.ctx = ctx
		// The asker gives up when ctx ends: its reply, if it comes, is
		// late. A ctx that cannot end needs no hook.
		if ctx.Done() != nil {
			w.unhook = context.AfterFunc(ctx, func() { a.take(id) })
		}
	}
	a.pending[id] = w
	a.mu.Unlock()
	if a.closed.Load() {
		// Closing, and maybe past abandoning what was pending: this one
		// would wait for a reply nobody reads.
		a.take(id)
		a.deadLetter(req, actor.ErrStopped)
		return fmt.Errorf("%w (%s)", actor.ErrStopped, a.cfg.name)
	}
	if err := send(a.endpoint, ctx, req, requestMsg(id, q, frame)); err != nil {
		a.take(id)
		return err
	}
	return nil
}

func neverHooked() bool { return true }

// oneFrameRequest holds a request of one frame: correlation id, the frame.
type oneFrameRequest struct {
	frames [2][]byte
	corr   [corrLen]byte
}

// requestMsg makes the message of request id: its correlation id, then
// q's frames, or, with q nil, the one frame frame.
func requestMsg(id uint64, q [][]byte, frame []byte) socket.Msg {
	if q == nil || len(q) == 1 {
		if q != nil {
			frame = q[0]
		}
		// The usual request, in one allocation with its correlation id.
		r := new(oneFrameRequest)
		binary.BigEndian.PutUint64(r.corr[:], id)
		return append(r.frames[:0], r.corr[:], frame)
	}
	m := make(socket.Msg, 0, 1+len(q))
	m = append(m, binary.BigEndian.AppendUint64(make([]byte, 0, corrLen), id))
	return append(m, q...)
}

// discarded reports a request the socket discarded unsent (queued for a
// peer that left) as a dead letter, and fails its Ask at once: it was never
// delivered, so the caller may ask again, where it would otherwise wait
// for its ctx.
func (a *asker[Q, R]) discarded(m socket.Msg) {
	a.deadLetter(m, errDiscarded)
	if len(m) == 0 || len(m[0]) != corrLen {
		return
	}
	if req, ok := a.take(binary.BigEndian.Uint64(m[0])); ok {
		var zero R
		req.Reply(zero, fmt.Errorf("%w (%s): request not sent: %w", actor.ErrStopped, a.cfg.name, errDiscarded))
	}
}

// take removes and returns the request waiting under id, if its asker
// still waits: one whose ctx ended gave up, though the AfterFunc that
// removes it may not have run yet.
func (a *asker[Q, R]) take(id uint64) (actor.Request[Q, R], bool) {
	a.mu.Lock()
	w, ok := a.pending[id]
	if ok {
		delete(a.pending, id)
	}
	a.mu.Unlock()
	if ok {
		w.unhook()
	}
	return w.req, ok && (w.ctx == nil || w.ctx.Err() == nil)
}

// issued reports whether a request of a's was numbered id.
func (a *asker[Q, R]) issued(id uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return id != 0 && id <= a.next
}

func (a *asker[Q, R]) readReplies(ctx context.Context) {
	for {
		m, err := a.sock.Recv(ctx)
		if err != nil {
			return // ctx ended: Close; or the socket closed under us
		}
		corr, status, body, err := parseReply(m)
		if err != nil {
			a.deadLetter(m, err)
			continue
		}
		req, ok := a.take(corr)
		if !ok && !a.issued(corr) {
			// No request of ours had it: not late, not a reply to us.
			a.deadLetter(m, fmt.Errorf("%w: a reply to correlation id %d, which no request of %s had", ErrDecode, corr, a.cfg.name))
			continue
		}
		// An asker whose ctx ends as its reply comes either takes the
		// reply or refuses it (Reply reports which): it is counted as
		// late only then, and so once, either way.
		if !ok || !req.Reply(decodeReply(a.rc, a.cfg.name, status, body)) {
			a.late.Add(1)
			a.deadLetter(m, fmt.Errorf("%w: reply came after its asker gave up", actor.ErrAskTimeout))
		}
	}
}

// decodeReply turns a reply's status and body into what Ask returns.
func decodeReply[R any](rc Codec[R], name string, status byte, body [][]byte) (R, error) {
	var zero R
	text := ""
	if status != statusOK && len(body) > 0 {
		text = string(body[0])
	}
	switch status {
	case statusOK:
		v, err := decode(rc, body)
		if err != nil {
			return zero, fmt.Errorf("patterns: %s: reply: %w", name, err)
		}
		return v, nil
	case statusStopped:
		return zero, fmt.Errorf("%w (remote: %s)", actor.ErrStopped, text)
	case statusDropped:
		return zero, fmt.Errorf("%w (remote: %s)", actor.ErrDropped, text)
	case statusNoReply:
		return zero, fmt.Errorf("%w (remote: %s)", actor.ErrNoReply, text)
	case statusBadQuery:
		return zero, fmt.Errorf("%w (remote: %s)", ErrDecode, text)
	}
	return zero, fmt.Errorf("%w: %s", ErrRemote, text)
}

// abandonAll ends the asks still waiting when the Dealer closes.
func (a *asker[Q, R]) abandonAll() {
	a.mu.Lock()
	left := a.pending
	a.pending = map[uint64]waiting[Q, R]{}
	a.mu.Unlock()
	var zero R
	for _, w := range left {
		w.unhook()
		w.req.Reply(zero, fmt.Errorf("%w (%s closed with the request in flight)", actor.ErrStopped, a.cfg.name))
	}
}
