package patterns

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
	"github.com/zmqflow/zmqflow/telemetry"
)

// Outbox is a reference to actors in other processes (or other goroutines)
// that is a socket: Tell encodes the value with a codec and sends it. Make
// one with Push, Pub, Dealer or Req, and hand out its Ref: code that holds an
// actor.Ref cannot tell a local actor from one behind an Outbox.
//
//	out, err := patterns.Push(patterns.JSON[Task]{}, patterns.Connect("tcp://host:5557"))
//	...
//	ref := out.Ref() // an actor.Ref[Task]
//	err = ref.Tell(ctx, Task{N: 3})
//
// Tell keeps Ref's promises over the socket's semantics: it blocks within
// ctx while no peer has room (PUSH, DEALER, PAIR at the high-water mark, or
// a socket that binds with no peer yet; one that connects queues for its
// peer to come, as libzmq's does, unless socket.WithImmediate), returning
// actor.ErrMailboxFull wrapping ctx's error; a
// message a PUB subscriber missed at its high-water mark is a dead letter
// for the Outbox's Observer (WithObserver), never silent; after Close, Tell
// returns actor.ErrStopped. A value the codec cannot encode is ErrEncode and
// stays with the caller.
//
// Its methods are safe for concurrent use from any number of goroutines.
// The socket's goroutines (and a Dealer's reply reader) end when Close or
// Shutdown returns.
type Outbox[M any] struct {
	remote actor.Remote[M] // how Tell sends: a sender, or a Dealer's or Req's asker
	ep     *endpoint
	eps    []string
	stop   func() // ends helper goroutines (a reply reader); may be nil
	// abandons, for a Dealer: stop tells every asker in flight that the
	// reference stopped, so nothing it queued is worth sending after.
	abandons bool

	closeOnce sync.Once
	closeErr  error
}

func newOutbox[M any](t socket.Type, codec Codec[M], opts []Option) (*Outbox[M], error) {
	codec = bindCodec(codec)
	ep, eps, err := openEndpoint(t, opts)
	if err != nil {
		return nil, err
	}
	return &Outbox[M]{remote: newSender(ep, codec), ep: ep, eps: eps}, nil
}

func openEndpoint(t socket.Type, opts []Option) (*endpoint, []string, error) {
	cfg, err := newConfig(t, opts)
	if err != nil {
		return nil, nil, err
	}
	sock, eps, err := cfg.open()
	if err != nil {
		return nil, nil, err
	}
	e := &endpoint{cfg: cfg, sock: sock}
	if t != socket.Req {
		// (A Req's request is its Ask's business: a Lazy Pirate's, the
		// old socket's when it resends on a new one.)
		report := func(m socket.Msg) { e.deadLetter(m, errDiscarded) }
		cfg.discarded.Store(&report)
	}
	if telemetry.Enabled() {
		// Messages out through the reference are the count it keeps
		// already, read at each batch: nothing more per message.
		e.unprofile = telemetry.CounterFunc(telemetry.MetricActorMessages, "{message}", e.handled,
			telemetry.String(telemetry.AttrActor, cfg.name), telemetry.String(telemetry.AttrDirection, "out"))
	}
	return e, eps, nil
}

// Push makes a PUSH reference: each message goes to one of the actors behind
// the endpoints, round-robin over those with room (the ventilator's side of
// the guide's "Divide and Conquer", ch. 1).
func Push[M any](codec Codec[M], opts ...Option) (*Outbox[M], error) {
	return newOutbox(socket.Push, codec, opts)
}

// Pub makes a PUB reference: each message goes to every subscriber whose
// subscription prefixes its topic, topic(m), sent as the first frame before
// the codec's (guide ch. 2, "Pub-Sub Message Envelopes"). A subscriber at
// its high-water mark misses the message: a message that one or more
// subscribers missed is one dead letter for the Outbox's Observer, with a
// Reason wrapping ErrMissed that says how many (Socket().Stats().Dropped
// counts each subscriber's miss). A message no subscriber wants (none has
// come, or none subscribed to its topic) goes nowhere, as libzmq's does: it
// is counted as sent and is no dead letter. Tell never blocks.
func Pub[M any](codec Codec[M], topic func(M) string, opts ...Option) (*Outbox[M], error) {
	if topic == nil {
		return nil, fmt.Errorf("%w: Pub needs a topic function", ErrBadOption)
	}
	o, err := newOutbox(socket.Pub, codec, opts)
	if err != nil {
		return nil, err
	}
	o.remote.(*sender[M]).prefix = func(m M) []byte { return []byte(topic(m)) }
	return o, nil
}

// Ref returns the reference to hand out.
func (o *Outbox[M]) Ref() actor.Ref[M] { return actor.RefTo(o.remote) }

// Tell is o.Ref().Tell.
func (o *Outbox[M]) Tell(ctx context.Context, m M) error { return o.remote.Tell(ctx, m) }

// TryTell is o.Ref().TryTell: it sends m if a peer has room now, and returns
// actor.ErrMailboxFull at once otherwise; m stays with the caller.
func (o *Outbox[M]) TryTell(m M) error { return o.remote.TryTell(m) }

// Name returns the reference's name: WithName's, or the socket type and
// endpoints ("PUSH >tcp://host:5557").
func (o *Outbox[M]) Name() string { return o.ep.cfg.name }

// Stats returns the reference's counters: Handled counts messages sent
// (a Req's requests answered or not, a Lazy Pirate's resends among them;
// for Push, Dealer and Pair, the socket's Stats().Sent, which counts what
// is sent on Socket() directly too), DeadLetters those reported as dead
// letters; Queued is 0 (what waits in the socket to go out is counted
// nowhere).
func (o *Outbox[M]) Stats() actor.Stats { return o.ep.Stats() }

// LateReplies returns how many replies to a Dealer's requests came after
// their asker had given up (its ctx ended): dropped, and counted here.
func (o *Outbox[M]) LateReplies() uint64 { return o.ep.late.Load() }

// Endpoint returns the first endpoint the socket bound, as Bind resolved it,
// or "" if it only connects.
func (o *Outbox[M]) Endpoint() string {
	if len(o.eps) == 0 {
		return ""
	}
	return o.eps[0]
}

// Socket returns the socket, for its Stats and Monitor. A Req's socket is
// replaced after a request that got no reply: call Socket again then.
func (o *Outbox[M]) Socket() *socket.Socket { return o.ep.socket() }

func (e *endpoint) socket() *socket.Socket {
	e.sockMu.Lock()
	defer e.sockMu.Unlock()
	return e.sock
}

// Close closes the socket, lingering for what is queued as the socket's
// linger option says (see socket.Socket.Close; a Dealer's discards its
// requests at once, see Dealer), and ends the Outbox's goroutines. Later
// calls return the first's result.
func (o *Outbox[M]) Close() error { return o.shut(nil) }

// Shutdown closes the socket once the messages queued in it are out and
// each peer has confirmed that it read everything sent to it (see
// socket.Socket.ShutdownConfirmed), or when ctx ends. When some were not
// sent it returns an error wrapping socket.ErrDiscarded with the count;
// when a peer did not confirm, one wrapping socket.ErrUnconfirmed: what was
// still on the wire to it may be lost. A Dealer's is its Close. Later calls
// return the first's result. It is how an actor given the Outbox with
// actor.WithOutput releases it when Stop ends the actor: what the actor
// sent is then in the receivers' sockets before the stage downstream
// drains (see Pipeline).
//
// Each message the socket discards unsent, at Close or Shutdown or earlier
// (queued for a peer that left), is a dead letter of the Outbox, with its
// frames and a Reason wrapping socket.ErrDiscarded.
func (o *Outbox[M]) Shutdown(ctx context.Context) error { return o.shut(ctx) }

func (o *Outbox[M]) shut(ctx context.Context) error {
	o.closeOnce.Do(func() {
		o.ep.closed.Store(true)
		if o.stop != nil {
			o.stop()
		}
		var err error
		switch sock := o.ep.socket(); {
		case o.abandons:
			// Discarded at once, each a dead letter (not an error:
			// their askers know).
			sock.Shutdown(endedCtx)
		case ctx == nil:
			err = sock.Close()
		default:
			err = sock.ShutdownConfirmed(ctx)
		}
		if o.ep.unprofile != nil {
			o.ep.unprofile()
		}
		if err != nil {
			o.closeErr = fmt.Errorf("patterns: %s: %w", o.ep.cfg.name, err)
		}
	})
	return o.closeErr
}

// endpoint is a socket that sends, with what every reference over it shares:
// its name, observer and counters.
type endpoint struct {
	cfg    *config
	sockMu sync.Mutex     // guards sock, which only a Req replaces (Lazy Pirate)
	sock   *socket.Socket // others read it freely

	closed atomic.Bool
	sent   atomic.Uint64 // messages sent, where the socket does not count them (see handled)
	dead   atomic.Uint64
	late   atomic.Uint64

	unprofile func() // when profiled: keeps sent's last value in the profile
}

// send sends frames over e, m being the value they encode (for dead
// letters: it is boxed into an interface only then, which would cost an
// allocation per message).
func send[M any](e *endpoint, ctx context.Context, m M, frames socket.Msg) error {
	if e.cfg.typ == socket.Pub {
		missed, err := e.sock.Publish(frames)
		if err != nil {
			return e.sendErr(ctx, m, err)
		}
		e.sent.Add(1)
		if missed > 0 {
			e.deadLetter(m, fmt.Errorf("%w: %d subscribers", ErrMissed, missed))
		}
		return nil
	}
	if err := e.sock.Send(ctx, frames); err != nil {
		return e.sendErr(ctx, m, err)
	}
	return nil // counted by the socket (see handled)
}

// sendErr turns a failed send into Ref's errors: stopped (and a dead
// letter), no room within ctx, or the socket's failure.
func (e *endpoint) sendErr(ctx context.Context, m any, err error) error {
	switch {
	case errors.Is(err, socket.ErrClosed) || e.closed.Load():
		e.deadLetter(m, actor.ErrStopped)
		return fmt.Errorf("%w (%s)", actor.ErrStopped, e.cfg.name)
	case ctx == endedCtx:
		return fmt.Errorf("%w (%s)", actor.ErrMailboxFull, e.cfg.name)
	case ctx.Err() != nil:
		return fmt.Errorf("%w (%s): %w", actor.ErrMailboxFull, e.cfg.name, ctx.Err())
	}
	return fmt.Errorf("patterns: %s: send: %w", e.cfg.name, err)
}

func (e *endpoint) deadLetter(m any, reason error) {
	e.dead.Add(1)
	e.cfg.observer.DeadLetter(actor.DeadLetter{Actor: e.cfg.name, Message: m, Reason: reason})
}

// Name and Stats are the actor.Remote methods every reference over an
// endpoint shares.
func (e *endpoint) Name() string { return e.cfg.name }

func (e *endpoint) Stats() actor.Stats {
	return actor.Stats{Handled: e.handled(), DeadLetters: e.dead.Load()}
}

// handled is what the reference sent. A PUSH, DEALER or PAIR socket sends
// each message to one peer, and counts it where it queues it anyway, under
// a lock it holds: the reference's own atomic count would be a locked
// instruction more per message, which costs a small message's Tell a tenth
// of its throughput. A PUB's count is of its subscribers' copies, and a
// REQ's socket is replaced: those count in sent.
func (e *endpoint) handled() uint64 {
	switch e.cfg.typ {
	case socket.Push, socket.Dealer, socket.Pair:
		return e.sock.Sent()
	}
	return e.sent.Load()
}

// endedCtx is TryTell's: try once, never wait.
var endedCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// sender is the Remote of Push, Pub and a Pair mailbox's Peer: encode, send.
type sender[M any] struct {
	*endpoint
	encode func(M) ([][]byte, error) // the codec's (see encoder)
	prefix func(M) []byte            // Pub: the topic frame
}

// newSender returns the sender over e with codec, which the caller has
// bound (bindCodec).
func newSender[M any](e *endpoint, codec Codec[M]) *sender[M] {
	return &sender[M]{endpoint: e, encode: encoder(codec)}
}

func (s *sender[M]) frames(m M) (socket.Msg, error) {
	frames, err := s.encode(m)
	if err != nil {
		return nil, fmt.Errorf("patterns: %s: %w", s.cfg.name, err)
	}
	if s.prefix != nil {
		msg := make(socket.Msg, 0, len(frames)+1)
		return append(append(msg, s.prefix(m)), frames...), nil
	}
	return frames, nil
}

func (s *sender[M]) Tell(ctx context.Context, m M) error {
	frames, err := s.frames(m)
	if err != nil {
		return err
	}
	return send(s.endpoint, ctx, m, frames)
}

func (s *sender[M]) TryTell(m M) error {
	frames, err := s.frames(m)
	if err != nil {
		return err
	}
	return send(s.endpoint, endedCtx, m, frames)
}
