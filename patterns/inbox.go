package patterns

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/oneframe"
	"github.com/zmqflow/zmqflow/socket"
)

// Inbox is an actor's mailbox that is a socket: what peers send to it,
// decoded by a codec, reaches the actor's behaviour as if it had been told
// through a Ref. Make one with Pull, Sub, Pair, Router or Rep, and give it
// to an actor with actor.WithFeed:
//
//	in, err := patterns.Pull(patterns.JSON[Task]{}, patterns.Bind("tcp://*:5557"))
//	...
//	w, err := actor.Spawn(ctx, worker, actor.WithFeed(in))
//
// The behaviour's code is the same as for an in-process mailbox; only the
// construction differs. The socket is made, bound and connected by the
// constructor, so Endpoint is known at once. A PULL, SUB or PAIR inbox is
// read by the actor's own goroutine (actor.PolledFeed) whenever its
// mailbox, which Refs still tell, has nothing for it; a Router or Rep inbox
// receives from the socket into the mailbox, waiting while it is full.
// Either way, what the actor has not taken waits in the socket's queue,
// which fills to its high-water mark and pushes back on the senders. A
// supervised actor keeps its inbox, and what is queued in the socket and
// the mailbox, across restarts.
//
// A message that does not decode is a dead letter of the actor (reported to
// its Observer, with the frames and an error wrapping ErrDecode), never a
// panic. Stop (actor.Actor.Stop, actor.Supervisor.Stop) drains the inbox
// with the mailbox: the actor handles, besides what is in its mailbox, what
// the socket held when its drain began (a Rep inbox hands those requests
// over one after the other, each once the actor answered the last, as REP
// goes), and no more, so that peers that keep sending cannot hold Stop; its
// answers still go out through the socket. Stop's ctx bounds the drain.
// When the actor has ended for good it closes the inbox (Close, or Shutdown
// within Stop's ctx): what the socket still holds is reported to the
// actor's observer as dead letters, the asker of a request among them is
// told at once (actor.ErrStopped from a Router, an empty reply from a Rep),
// and the socket goes. Nothing arrives after the inbox looked: a PULL or
// SUB inbox ends its connections first; a Router, Rep or Pair inbox keeps
// them, for its socket to linger for what it sends, but ends their
// receiving first (socket.Socket.StopReceiving). What its peers send after
// that never reaches the inbox: an inproc peer's Send is refused as at a
// full mailbox (it waits within its ctx, or goes to another peer), and a
// tcp or ipc peer's message is read and discarded, counted in the socket's
// Stats().Unreceived, as libzmq loses what is on the wire when a socket
// closes; an asker then waits for its own ctx. An Inbox never given to an
// actor must be closed by its maker.
//
// A PULL or PAIR inbox whose codec copies out of the frames gives the
// small one-frame messages it decoded back to its socket's connection
// readers, which reuse them: a stream of small values over tcp or ipc then
// allocates little on the receiving side.
// The codecs that copy are String, Binary of a type it lays out itself (not
// an encoding.BinaryUnmarshaler), and JSON of a type with no UnmarshalJSON
// or UnmarshalText method anywhere in it: methods that must copy what they
// keep, by their contracts, are not trusted to. Messages from an inproc
// peer, which are the sender's own, are never given back, nor dead
// letters, nor what any other codec (Bytes, Frames, yours) decoded.
//
// Its methods are safe for concurrent use; it feeds one actor.
type Inbox[M any] struct {
	cfg   *config
	sock  *socket.Socket
	eps   []string
	serve func(ctx context.Context, in actor.Inlet[M]) error
	// decode turns a received message into the actor's, for the actor to
	// poll the inbox (actor.PolledFeed); nil: the inbox has to be run.
	decode func(socket.Msg) (M, error)
	copies bool         // decode keeps nothing of a message (copiesOut)
	peer   actor.Ref[M] // Pair: the way back
	// polled is Poll's buffer, taken while in use, so that concurrent
	// Polls (an actor makes none) do not share it.
	polled atomic.Pointer[[]socket.Msg]
	used   atomic.Bool
	spare  atomic.Int32 // Closes owed by actors whose Run was refused

	// The actor's, from Run or Attach: where what is left in the socket
	// at the close goes, as dead letters.
	inlet atomic.Pointer[actor.Inlet[M]]
	// refuse, of a mailbox that answers requests (Router, Rep), tells the
	// asker of request m, left in the socket at the close, that it will
	// not be handled.
	refuse func(inlet actor.Inlet[M], m socket.Msg, reason error)
	// owed, of a Rep mailbox, refuses the request the actor has not
	// answered yet, if any, so that the socket may give the next.
	owed  func(inlet actor.Inlet[M], reason error)
	drain drainBudget // when polled

	closeOnce sync.Once
	closeErr  error
}

func newInbox[M any](t socket.Type, opts []Option) (*Inbox[M], error) {
	cfg, err := newConfig(t, opts)
	if err != nil {
		return nil, err
	}
	sock, eps, err := cfg.open()
	if err != nil {
		return nil, err
	}
	return &Inbox[M]{cfg: cfg, sock: sock, eps: eps}, nil
}

// Pull makes a PULL mailbox: messages fair-queued from every PUSH peer, the
// workers' and the sink's side of the guide's "Divide and Conquer" (ch. 1).
func Pull[M any](codec Codec[M], opts ...Option) (*Inbox[M], error) {
	return receiving(socket.Pull, codec, 0, opts)
}

// Sub makes a SUB mailbox: what PUB peers publish on the topics it
// subscribes to (Subscribe; all topics without it). The first frame is the
// topic, as Pub sends it; the codec decodes the frames after it (guide ch. 2,
// "Pub-Sub Message Envelopes").
func Sub[M any](codec Codec[M], opts ...Option) (*Inbox[M], error) {
	return receiving(socket.Sub, codec, 1, opts)
}

// Pair makes a PAIR mailbox: messages from its one peer (guide ch. 2,
// "Signaling Between Threads"). Peer is the reference back to that peer, on
// the same socket.
func Pair[M any](codec Codec[M], opts ...Option) (*Inbox[M], error) {
	in, err := receiving(socket.Pair, codec, 0, opts)
	if err != nil {
		return nil, err
	}
	in.peer = actor.RefTo[M](newSender(&endpoint{cfg: in.cfg, sock: in.sock}, bindCodec(codec)))
	return in, nil
}

// receiving makes a mailbox that decodes each message after its first skip
// frames and puts the value in the actor's mailbox.
func receiving[M any](t socket.Type, c Codec[M], skip int, opts []Option) (*Inbox[M], error) {
	in, err := newInbox[M](t, opts)
	if err != nil {
		return nil, err
	}
	bound := bindCodec(c)
	dec := decoder(bound, skip)
	in.decode = dec
	in.copies = copiesOut(bound)
	in.serve = func(ctx context.Context, inlet actor.Inlet[M]) error {
		batch := make([]M, 0, recvBatch)
		for {
			if ended(ctx) { // Recv would take what is queued first
				return nil
			}
			m, err := in.sock.Recv(ctx)
			if err != nil {
				return in.recvErr(ctx, err)
			}
			// Take what else the socket has queued, without waiting, and
			// hand it all to the mailbox at once: one lock, one wake-up.
			batch = batch[:0]
			for {
				if v, err := dec(m); err != nil {
					inlet.DeadLetter(m, err)
				} else {
					batch = append(batch, v)
				}
				if len(batch) == recvBatch {
					break
				}
				if m, err = in.sock.Recv(endedCtx); err != nil {
					break
				}
			}
			if len(batch) > 0 && inlet.PutAll(batch) != nil {
				return nil // the actor is stopping
			}
			clear(batch)
		}
	}
	return in, nil
}

// ended reports whether ctx has ended, without the lock ctx.Err takes: a
// serve loop looks before each Recv, which takes a queued message even
// from an ended ctx, so that a stopped feed stops.
func ended(ctx context.Context) bool { return isClosed(ctx.Done()) }

// isClosed reports whether ch, a Done channel, is closed (nil: never).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// recvBatch bounds how many messages a mailbox hands to its actor at once.
const recvBatch = 64

// recvErr is nil when ctx ended (the actor stops the inbox), the socket's
// failure otherwise.
func (in *Inbox[M]) recvErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("patterns: %s: receive: %w", in.cfg.name, err)
}

// Run receives from the socket into the actor's mailbox until ctx ends. The
// actor calls it (actor.Feed). An inbox feeds one actor: a second actor given
// it fails with ErrInUse, and the first goes on.
func (in *Inbox[M]) Run(ctx context.Context, inlet actor.Inlet[M]) error {
	if !in.used.CompareAndSwap(false, true) {
		in.spare.Add(1) // that actor's Close must not close the socket of the one it feeds
		return fmt.Errorf("%w: %s", ErrInUse, in.cfg.name)
	}
	in.fed(inlet)
	return in.serve(ctx, inlet)
}

// Attach is called by the actor the inbox is given to, to poll it from its
// own goroutine (actor.PolledFeed) rather than run it: PULL, SUB and PAIR
// mailboxes are polled, so that a message reaches the behaviour with one
// hand-over between goroutines fewer; Router and Rep mailboxes are run. As
// with Run, an inbox feeds one actor: a second actor given it fails with
// ErrInUse.
func (in *Inbox[M]) Attach(ctx context.Context, inlet actor.Inlet[M]) (bool, error) {
	if in.decode == nil {
		return false, nil
	}
	if !in.used.CompareAndSwap(false, true) {
		in.spare.Add(1) // that actor's Close must not close the socket of the one it feeds
		return false, fmt.Errorf("%w: %s", ErrInUse, in.cfg.name)
	}
	in.fed(inlet)
	in.drain.attach(ctx)
	return true, nil
}

// fed records the inlet of the actor the inbox feeds: where what is left in
// the socket at the close, and what the socket discards unsent (replies,
// and a Pair's messages to its peer), go as dead letters.
func (in *Inbox[M]) fed(inlet actor.Inlet[M]) {
	in.inlet.Store(&inlet)
	report := func(m socket.Msg) { inlet.DeadLetter(m, errDiscarded) }
	in.cfg.discarded.Store(&report)
}

// Ready returns a channel closed once the socket has a message for Poll
// (actor.PolledFeed).
func (in *Inbox[M]) Ready() <-chan struct{} { return in.sock.Readable() }

// Poll takes up to max messages the socket has queued, without waiting,
// and appends them decoded to dst (actor.PolledFeed); those that do not
// decode are dead letters. Its error is the socket's failure. Once the
// actor stops taking more (Stop), Poll takes what the socket held when the
// actor began to drain it and no more: the actor handles those, and what
// came after them is left to Close.
func (in *Inbox[M]) Poll(inlet actor.Inlet[M], dst []M, max int) ([]M, error) {
	if max = in.drain.limit(in.sock, max); max == 0 {
		return dst, nil
	}
	buf := in.polled.Swap(nil)
	if buf == nil {
		buf = new([]socket.Msg)
	}
	ms, err := in.sock.TryRecvBatch((*buf)[:0], max)
	for i, m := range ms {
		if v, err := in.decode(m); err != nil {
			inlet.DeadLetter(m, err)
			ms[i] = nil // the observer may keep it
		} else {
			dst = append(dst, v)
		}
	}
	if in.copies {
		if l := oneframe.ReadersList(in.sock); l != nil {
			// Nothing references them now: the readers may reuse them.
			oneframe.Recycle(l, ms)
		}
	}
	in.drain.took(len(ms))
	clear(ms) // the inbox must not keep what the actor took
	*buf = ms[:0]
	in.polled.Store(buf)
	if err != nil {
		return dst, fmt.Errorf("patterns: %s: receive: %w", in.cfg.name, err)
	}
	return dst, nil
}

// drainBudget bounds what a polled socket feed (an Inbox, a Feed) gives
// its actor once Stop has cancelled the ctx Attach was given: what the
// socket held when the actor began to drain it, and no more, so that peers
// that keep sending cannot hold Stop. It is the actor's goroutine's, as
// Poll is.
type drainBudget struct {
	quiet   <-chan struct{} // the Done of Attach's ctx
	left    int             // what the drain may still take, once counted
	counted bool
}

func (d *drainBudget) attach(ctx context.Context) { *d = drainBudget{quiet: ctx.Done()} }

// limit returns how many of n messages a Poll of sock may take now. It
// counts what sock holds at the first Poll after ctx ended (a receive that
// never blocks, where ctx.Err would lock).
func (d *drainBudget) limit(sock *socket.Socket, n int) int {
	if !d.counted {
		if !isClosed(d.quiet) {
			return n
		}
		d.left, d.counted = sock.Stats().Queued, true
	}
	return min(n, d.left)
}

// took counts n messages a Poll took.
func (d *drainBudget) took(n int) {
	if d.counted {
		d.left = max(0, d.left-n)
	}
}

// Close closes the socket: what it received and the actor did not take is
// reported to the actor as dead letters (the frames, with a reason wrapping
// actor.ErrStopped), and the asker of each request among them is told at
// once. So that nothing arrives after, a PULL or SUB mailbox first ends
// its connections (unbinds and disconnects its endpoints); a Router, Rep
// or Pair mailbox, whose replies (refusals among them) still go out within
// the socket's linger period (socket.WithLinger), keeps them and stops
// their receiving (socket.Socket.StopReceiving): what its peers send from
// then on is refused at an inproc peer's Send, or, over tcp or ipc, read
// and discarded, counted in the socket's Stats().Unreceived. Later calls
// return the first call's result. The actor the inbox feeds calls it when
// it ends for good (actor.Feed).
func (in *Inbox[M]) Close() error { return in.release(nil) }

// Abandon is Close for an actor that never ran the inbox (actor.Abandoner:
// its Start failed, or Spawn refused its options): it closes the inbox
// unless another actor is fed by it.
func (in *Inbox[M]) Abandon() error {
	if in.used.Load() {
		return nil
	}
	return in.Close()
}

// Shutdown is Close for an actor ended by Stop(ctx) (actor.ShutdownFeed):
// replies still queued go out until ctx ends rather than for the linger
// period, or for the linger period when ctx can never end. A Router or Rep
// mailbox's socket lingers even when ctx has ended, until what it queued is
// out or a second (refusalGrace) has passed since Shutdown began: over tcp
// or ipc, the refusals of the requests left at the end are then written,
// and their askers hear at once. Shutdown, and the Stop that calls it, may
// so return up to a second after ctx ended; not so with a socket made
// with socket.WithLinger(0), which lingers for nothing once ctx has ended.
func (in *Inbox[M]) Shutdown(ctx context.Context) error {
	if ctx.Done() == nil {
		ctx = nil
	}
	return in.release(ctx)
}

// release closes the socket, lingering for the linger period (ctx nil) or
// until ctx ends.
func (in *Inbox[M]) release(ctx context.Context) error {
	for {
		n := in.spare.Load()
		if n == 0 {
			break
		}
		if in.spare.CompareAndSwap(n, n-1) {
			return nil
		}
	}
	in.closeOnce.Do(func() {
		in.cutOff()
		in.leftOver()
		if hook := inboxAfterLeftOver.Load(); hook != nil {
			(*hook)(in.sock)
		}
		var err error
		if ctx == nil {
			err = in.sock.Close()
		} else {
			lctx, cancel := in.lingerCtx(ctx)
			defer cancel()
			err = in.sock.Shutdown(lctx)
		}
		if err != nil {
			in.closeErr = fmt.Errorf("patterns: %s: close: %w", in.cfg.name, err)
		}
	})
	return in.closeErr
}

// inboxAfterLeftOver, if set, runs as a mailbox's close has taken what its
// socket held and is about to close the socket: tests hold the close
// there while peers send. Atomic, as mailboxes of other tests may still
// be closing when a test sets it.
var inboxAfterLeftOver atomic.Pointer[func(*socket.Socket)]

// lingerCtx returns the ctx within which Shutdown's socket lingers for
// what it sends. The askers of requests refused at the end of a Router or
// Rep mailbox (those left in the mailbox, or in the socket) are owed their
// refusals, so its socket lingers at least refusalGrace: lingering costs
// nothing once everything queued is out. Not so for a socket made with
// socket.WithLinger(0): its maker chose to lose what is unsent rather than
// wait.
func (in *Inbox[M]) lingerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if in.refuse == nil || in.sock.Linger() == 0 {
		return ctx, func() {}
	}
	return atLeast(ctx, refusalGrace)
}

// refusalGrace is how long the socket of a Router or Rep mailbox closed by
// a Stop whose ctx has ended (or is about to) may still linger for what it
// sends: long enough for its connections to write the refusals of the
// requests left at the end, which are small and go out at once, so that
// their askers hear rather than wait for their own ctx; short enough that
// such a Stop still returns promptly. A socket made with
// socket.WithLinger(0) is given none (see lingerCtx).
const refusalGrace = time.Second

// atLeast returns a ctx that ends when ctx has ended and d has passed,
// whichever comes last, or when cancel is called.
func atLeast(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	grace, endGrace := context.WithTimeout(context.WithoutCancel(ctx), d)
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(ctx, func() {
		<-grace.Done()
		cancel()
	})
	return out, func() { unhook(); endGrace(); cancel() }
}

// cutOff ends, before the close looks at what the socket holds, what
// brings messages into it, so that the close accounts for every message
// the socket received. A mailbox that sends nothing (PULL, SUB) ends its
// connections. One that sends (replies, refusals, a Pair's messages to its
// peer) keeps them, for the socket to linger for what it sends, and stops
// their receiving (socket.Socket.StopReceiving): what its peers send from
// now on is refused at an inproc peer's Send, and read off a tcp or ipc
// connection and discarded, counted in the socket's Stats().Unreceived.
func (in *Inbox[M]) cutOff() {
	if !in.sendsNothing() {
		in.sock.StopReceiving()
		return
	}
	for _, ep := range in.eps {
		in.sock.Unbind(ep)
	}
	for _, ep := range in.cfg.connects {
		in.sock.Disconnect(ep)
	}
}

// sendsNothing reports whether the mailbox's socket sends nothing its
// peers wait for: PULL, SUB (whose subscriptions go with it).
func (in *Inbox[M]) sendsNothing() bool {
	t := in.sock.Type()
	return t == socket.Pull || t == socket.Sub
}

// leftOver reports what the socket still holds as dead letters of the actor
// it fed, before the socket closes and discards it; a request's asker is
// told at once that it will not be answered, the asker of one the actor
// kept unanswered too. It takes all the socket holds, which cutOff has
// made final, waiting, briefly, for one its connection has queued and not
// yet given a turn.
func (in *Inbox[M]) leftOver() {
	inlet := in.inlet.Load()
	if inlet == nil {
		return // fed no actor: nobody to tell
	}
	if in.owed != nil {
		in.owed(*inlet, fmt.Errorf("%w: still unanswered by the actor when %s closed", actor.ErrStopped, in.cfg.name))
	}
	reason := fmt.Errorf("%w: still queued in %s when it closed", actor.ErrStopped, in.cfg.name)
	var giveUp <-chan time.Time
	// Cut off: nothing arrives any more, so Queued only falls.
	for left := in.sock.Stats().Queued; left > 0; left = in.sock.Stats().Queued {
		// A REP socket gives one request at a time, and the next once
		// this one is answered (refused).
		ms, err := in.sock.TryRecvBatch(nil, min(left, recvBatch))
		for _, m := range ms {
			inlet.DeadLetter(m, reason)
			if in.refuse != nil {
				in.refuse(*inlet, m, reason)
			}
		}
		if err != nil && !errors.Is(err, socket.ErrState) {
			return // closed
		}
		if len(ms) > 0 {
			continue
		}
		if err != nil {
			return // a Rep whose refusal the socket did not take
		}
		// Counted, and not to be taken yet: its connection's reader (or
		// its inproc peer) has queued it and is about to give its pipe a
		// turn. Wait for that, within a bound: a socket that never gives
		// it must not hold the close.
		if giveUp == nil {
			t := time.NewTimer(leftOverWait)
			defer t.Stop()
			giveUp = t.C
		}
		select {
		case <-in.sock.Readable():
		case <-giveUp:
			return
		}
	}
}

// leftOverWait bounds leftOver's wait for a message the socket counts and
// does not give yet: a moment's work of the goroutine that queued it.
const leftOverWait = time.Second

// nextRequest returns the next request a Router or Rep mailbox's feed
// hands to its actor: while ctx lasts, the next from the socket; once it
// ends (Stop), the next of those the socket held when the drain began, and
// no more, so that askers who keep asking cannot hold Stop (the actor runs
// until the feed returns). *drain is what the drain may still take, -1
// until it begins. ok is false at the drain's end, with a nil error, or
// when the socket failed, with its error.
func (in *Inbox[M]) nextRequest(ctx context.Context, drain *int, closed <-chan struct{}) (m socket.Msg, ok bool, err error) {
	for {
		if ended(ctx) {
			if *drain < 0 {
				*drain = in.sock.Stats().Queued
			}
			m, ok = in.drainNext(drain, closed)
			return m, ok, nil
		}
		if m, err = in.sock.Recv(ctx); err == nil {
			return m, true, nil
		}
		if !ended(ctx) {
			return nil, false, in.recvErr(ctx, err)
		}
	}
}

// drainNext takes the next of the left requests a Router or Rep mailbox's
// drain counted in the socket when Stop began. One the count saw may not
// be ready to take yet (its connection's reader has queued it and not yet
// given its peer a turn), so it waits for the socket to be readable, until
// the mailbox closes (closed), counting again meanwhile so that a message
// the socket drops (REP's, with no envelope) does not hold the drain. It
// returns false when the drain is over.
func (in *Inbox[M]) drainNext(left *int, closed <-chan struct{}) (socket.Msg, bool) {
	for *left > 0 {
		m, err := in.sock.TryRecv()
		if err == nil {
			*left--
			return m, true
		}
		if !errors.Is(err, socket.ErrWouldBlock) {
			return nil, false // gone with the socket, or refused at the close
		}
		if *left = min(*left, in.sock.Stats().Queued); *left == 0 {
			break
		}
		select {
		case <-in.sock.Readable():
		case <-closed:
			return nil, false
		}
	}
	return nil, false
}

// Endpoint returns the first endpoint the mailbox bound, as Bind resolved it
// ("tcp://127.0.0.1:40123" for "tcp://127.0.0.1:*"), or "" if it only
// connects.
func (in *Inbox[M]) Endpoint() string {
	if len(in.eps) == 0 {
		return ""
	}
	return in.eps[0]
}

// Socket returns the socket, for its Stats and Monitor. Receiving from it
// steals the actor's messages.
func (in *Inbox[M]) Socket() *socket.Socket { return in.sock }

// Peer returns a reference to the peer at the other end of a Pair mailbox,
// sending on the same socket with the same codec: the way an actor with a
// PAIR mailbox answers. It is the zero Ref for other mailboxes. Tell blocks
// while the peer's queue is full, or while there is no peer yet on a
// socket that binds (one that connects queues for its peer to come), within
// ctx; once the inbox is closed it returns actor.ErrStopped. A message the
// socket discards unsent is a dead letter of the actor.
func (in *Inbox[M]) Peer() actor.Ref[M] { return in.peer }
