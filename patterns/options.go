package patterns

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// Option configures a mailbox or a reference as its constructor makes it
// (Pull, Push, Router, Dealer, ...). Options are immutable values, safe to
// reuse and share. An option given to a constructor it does not apply to
// (Subscribe to Pull, LazyPirate to Dealer) is an ErrBadOption, never
// silently ignored.
type Option interface {
	apply(*config) error
}

type option struct {
	name string
	only []socket.Type // the socket types it applies to; nil: all
	f    func(*config) error
}

func (o option) apply(c *config) error {
	if o.only != nil && !slices.Contains(o.only, c.typ) {
		var names []string
		for _, t := range o.only {
			names = append(names, t.String())
		}
		return fmt.Errorf("%w: %s applies to %s, not %v", ErrBadOption, o.name, strings.Join(names, ", "), c.typ)
	}
	return o.f(c)
}

type config struct {
	typ             socket.Type
	binds, connects []string
	sockOpts        []socket.Option
	topics          [][]byte
	name            string
	observer        actor.Observer
	pirate          bool
	timeout         time.Duration
	retries         int
	onRetry         func(try int, err error) // OnRetry's

	// discarded reports a message the socket discarded unsent (see
	// onDiscard), once its owner knows where to: nil until then.
	discarded atomic.Pointer[func(socket.Msg)]
}

// errDiscarded is the Reason of a dead letter for a message the socket
// discarded unsent.
var errDiscarded = fmt.Errorf("%w: queued for a peer that left or never came, or when the socket closed", socket.ErrDiscarded)

// onDiscard is the socket's WithDiscarded hook: a message it discards is a
// dead letter of the reference or actor that owns the socket.
func (c *config) onDiscard(m socket.Msg) {
	if f := c.discarded.Load(); f != nil {
		(*f)(m)
	}
}

// Bind binds the socket to endpoint ("tcp://*:5557", "ipc:///tmp/x",
// "inproc://name"); a tcp port "*" takes a free one, which Endpoint then
// tells. Give Bind or Connect, or both, as many times as needed.
func Bind(endpoint string) Option {
	return option{"Bind", nil, func(c *config) error { c.binds = append(c.binds, endpoint); return nil }}
}

// Connect connects the socket to endpoint; the socket reconnects for as
// long as it lives, and the peer may come up later.
func Connect(endpoint string) Option {
	return option{"Connect", nil, func(c *config) error { c.connects = append(c.connects, endpoint); return nil }}
}

// WithSocketOptions passes options to the socket (high-water marks,
// heartbeats, security, ...); see package socket.
func WithSocketOptions(opts ...socket.Option) Option {
	return option{"WithSocketOptions", nil, func(c *config) error { c.sockOpts = append(c.sockOpts, opts...); return nil }}
}

// Subscribe subscribes a Sub mailbox to the topics that start with prefix
// (several Subscribe options add up). A Sub mailbox with no Subscribe
// receives every topic; libzmq's SUB socket receives nothing until it
// subscribes, the guide's most common first mistake.
func Subscribe(prefix string) Option {
	return option{"Subscribe", []socket.Type{socket.Sub}, func(c *config) error {
		c.topics = append(c.topics, []byte(prefix))
		return nil
	}}
}

// WithName names a reference in errors and dead letters. The default says
// the socket type and the endpoints ("PUSH >tcp://host:5557").
func WithName(name string) Option {
	return option{"WithName", nil, func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: empty name", ErrBadOption)
		}
		c.name = name
		return nil
	}}
}

// WithObserver sets the Observer that hears of a reference's dead letters
// (PUB subscribers that missed a message at their high-water mark, values
// told after Close, messages the socket discarded unsent, a Dealer's
// replies that came after their asker gave up and messages it got that are
// not replies at all), and of a Pair mailbox's Peer (but for what its
// socket discards unsent, which is the actor's). A reply that does not
// decode is no dead letter: its Ask returns the error, wrapping ErrDecode.
// Other mailboxes report to the Observer of the actor they feed: the option
// is refused there.
func WithObserver(o actor.Observer) Option {
	return option{"WithObserver", []socket.Type{socket.Push, socket.Pub, socket.Dealer, socket.Req, socket.Pair},
		func(c *config) error { c.observer = o; return nil }}
}

// LazyPirate makes a Req reference reliable as the guide's Lazy Pirate
// client is (ch. 4, "Client-Side Reliability"): it waits timeout for each
// reply and, if none comes, closes its socket, opens a new one, and sends the
// request again, up to retries more times, before Ask fails with ErrNoReply.
func LazyPirate(timeout time.Duration, retries int) Option {
	return option{"LazyPirate", []socket.Type{socket.Req}, func(c *config) error {
		if timeout <= 0 || retries < 0 {
			return fmt.Errorf("%w: LazyPirate(%v, %d): want timeout > 0, retries >= 0", ErrBadOption, timeout, retries)
		}
		c.pirate, c.timeout, c.retries = true, timeout, retries
		return nil
	}}
}

// OnRetry has a LazyPirate Req call f before each resend of a request
// that got no reply in time, with the number of the try about to go (2 for
// the first resend) and why the last one failed (an error wrapping
// context.DeadlineExceeded): the guide's client says "no response from
// server, retrying" there. f runs in the Req's goroutine for the request
// in flight, between its tries, one call at a time (a Req has one request
// in flight), and should return at once: the resend waits for it.
func OnRetry(f func(try int, err error)) Option {
	return option{"OnRetry", []socket.Type{socket.Req}, func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: OnRetry(nil)", ErrBadOption)
		}
		c.onRetry = f
		return nil
	}}
}

func newConfig(t socket.Type, opts []Option) (*config, error) {
	c := &config{typ: t}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(c); err != nil {
			return nil, err
		}
	}
	if len(c.binds)+len(c.connects) == 0 {
		return nil, fmt.Errorf("%w: %v: no Bind or Connect endpoint", ErrBadOption, t)
	}
	if c.onRetry != nil && !c.pirate {
		return nil, fmt.Errorf("%w: OnRetry without LazyPirate: a Req sends each request once", ErrBadOption)
	}
	if c.observer == nil {
		c.observer = actor.NopObserver{}
	}
	if c.name == "" {
		var eps []string
		for _, ep := range c.binds {
			eps = append(eps, "@"+ep)
		}
		for _, ep := range c.connects {
			eps = append(eps, ">"+ep)
		}
		c.name = t.String() + " " + strings.Join(eps, ",")
	}
	return c, nil
}

// open makes the socket, binds and connects it, and returns the endpoints
// Bind resolved, in order.
func (c *config) open() (*socket.Socket, []string, error) { return c.openOn(c.binds) }

// openOn is open with binds in place of the config's: a Req's new socket
// binds the endpoints the first one got (a tcp port "*" stays the port it
// got).
func (c *config) openOn(binds []string) (*socket.Socket, []string, error) {
	sock, err := socket.New(c.typ, append(slices.Clip(c.sockOpts), socket.WithDiscarded(c.onDiscard))...)
	if err != nil {
		return nil, nil, fmt.Errorf("patterns: %v: %w", c.typ, err)
	}
	eps := make([]string, 0, len(binds))
	for _, ep := range binds {
		got, err := sock.Bind(ep)
		if err != nil {
			sock.Close()
			return nil, nil, fmt.Errorf("patterns: %v: %w", c.typ, err)
		}
		eps = append(eps, got)
	}
	for _, ep := range c.connects {
		if err := sock.Connect(ep); err != nil {
			sock.Close()
			return nil, nil, fmt.Errorf("patterns: %v: %w", c.typ, err)
		}
	}
	if c.typ == socket.Sub {
		topics := c.topics
		if len(topics) == 0 {
			topics = [][]byte{nil}
		}
		for _, t := range topics {
			if err := sock.Subscribe(t); err != nil {
				sock.Close()
				return nil, nil, fmt.Errorf("patterns: %v: %w", c.typ, err)
			}
		}
	}
	return sock, eps, nil
}
