package majordomo

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/socket"
)

// Defaults. The guide's Majordomo peers (mdbroker, mdwrkapi) send HEARTBEAT
// every 2.5 s and give the other side up after 3 silent intervals, 7.5 s.
// The Paranoid Pirate defaults (1 s x 3) sit on the edge of that 2.5 s: a
// guide worker whose beat came a little late was buried while alive. The
// Broker and Worker therefore start from these instead; WithHeartbeat
// overrides them.
const (
	// DefaultHeartbeatInterval is how often a Broker or Worker sends
	// HEARTBEAT: more often than the guide's 2.5 s, so that a guide peer,
	// which gives us up after 7.5 s without a word, hears from us seven
	// times in that span.
	DefaultHeartbeatInterval = time.Second
	// DefaultLiveness is how many of those intervals without a word make a
	// Majordomo peer dead: 10 s. A guide worker sends HEARTBEAT every
	// 2.5 s, but only when its poll returns after that time, and our
	// heartbeats wake its poll every interval: two of its beats may be
	// 2.5 s plus our interval (3.5 s) apart, more on a loaded machine.
	// 10 s is four of its intervals, nearly three of its longest gaps (the
	// guide's own rule of three, "3-5 is reasonable"), and a third more
	// than the guide's mdbroker gives it.
	DefaultLiveness = 10
	// DefaultServiceQueue is how many requests a Broker holds for one
	// service while they wait for a worker (WithServiceQueue).
	DefaultServiceQueue = 1000
	// DefaultMaxServices is how many services a Broker holds at most
	// (WithMaxServices).
	DefaultMaxServices = 10000
	// DefaultQueueBytes is how many bytes of requests a Broker holds in
	// all its services' queues together (WithQueueBytes).
	DefaultQueueBytes = 256 << 20
	// DefaultReconnectInit and DefaultReconnectMax bound a Worker's
	// back-off between losing its broker and reconnecting (the guide's
	// INTERVAL_INIT and INTERVAL_MAX, ppworker).
	DefaultReconnectInit = time.Second
	DefaultReconnectMax  = 32 * time.Second
	// DefaultTimeout is a Client's wait for each attempt, and how long a
	// Broker keeps a request for a service that has no worker (mdcliapi's
	// 2.5 s timeout); DefaultRetries its resends after the first attempt
	// (mdcliapi's three tries in all).
	DefaultTimeout = 2500 * time.Millisecond
	DefaultRetries = 2
	// DefaultMaxDeliveries is how many times a Broker hands one request to
	// a worker before it gives up on it (not in the guide: it stops a
	// request that kills every worker it reaches from killing them all).
	DefaultMaxDeliveries = 5
)

// Option configures a Broker, Worker or Client at creation. Each With
// function says which constructors take it; another refuses it with
// ErrBadOption, naming the option and the constructor. An Option is an
// immutable value, safe to reuse and to share between goroutines.
type Option struct{ o opt.Option[extra] }

// extra is what only this package's options set.
type extra struct {
	serviceQueue int
	maxServices  int
	queueBytes   int
}

// The constructors, one target bit each.
const (
	forBroker opt.Target = 1 << iota
	forWorker
	forClient
	forAll = forBroker | forWorker | forClient
)

var defaults = opt.Config[extra]{
	Interval:      DefaultHeartbeatInterval,
	Liveness:      DefaultLiveness,
	ReconnectInit: DefaultReconnectInit,
	ReconnectMax:  DefaultReconnectMax,
	Timeout:       DefaultTimeout,
	Retries:       DefaultRetries,
	MaxDeliveries: DefaultMaxDeliveries,
	X:             extra{serviceQueue: DefaultServiceQueue, maxServices: DefaultMaxServices, queueBytes: DefaultQueueBytes},
}

func build(t opt.Target, ctor string, opts []Option) (opt.Config[extra], error) {
	os := make([]opt.Option[extra], len(opts))
	for i, o := range opts {
		os[i] = o.o
	}
	return opt.Build(defaults, t, ctor, ErrBadOption, os)
}

// WithHeartbeat sets the heartbeat interval and liveness (NewBroker,
// NewWorker; default DefaultHeartbeatInterval and DefaultLiveness): a peer
// sends HEARTBEAT every interval and counts the other dead after liveness
// intervals without a message from it. Each side's silence allowance must
// exceed the other's interval several times.
func WithHeartbeat(interval time.Duration, liveness int) Option {
	return Option{opt.Heartbeat[extra](forBroker|forWorker, interval, liveness)}
}

// WithReconnect sets a Worker's back-off after it loses its broker
// (NewWorker; default DefaultReconnectInit and DefaultReconnectMax): its
// supervisor waits init before the first new session, twice as long after
// each further loss in a row, up to max.
func WithReconnect(init, max time.Duration) Option {
	return Option{opt.Reconnect[extra](forWorker, init, max)}
}

// WithTimeout sets how long a Client waits for the reply to each attempt
// (NewClient), and how long a Broker keeps a request for a service that
// has no worker (NewBroker); default DefaultTimeout. Set both alike: by the
// time the broker drops such a request, its client has resent it.
func WithTimeout(d time.Duration) Option {
	return Option{opt.Timeout[extra](forBroker|forClient, d)}
}

// WithRetries sets how many times a Client resends a request that got no
// reply in time, after the first attempt (NewClient; default
// DefaultRetries); 0 never resends.
func WithRetries(n int) Option {
	return Option{opt.Retries[extra](forClient, n)}
}

// WithMaxDeliveries sets how many times a Broker hands one request to a
// worker, the first included, when the workers it reached died or gave it
// back (NewBroker; default DefaultMaxDeliveries); then it drops the request
// and counts it in Stats.Abandoned.
func WithMaxDeliveries(n int) Option {
	return Option{opt.MaxDeliveries[extra](forBroker, n)}
}

// WithServiceQueue bounds each service's queue at a Broker (NewBroker): at
// most n requests wait for a worker of one service (default
// DefaultServiceQueue). A request for a service whose queue is full pushes
// out the oldest one waiting, which is dropped, counted in Stats.Overflow
// and logged (ErrServiceFull). MDP has no word for "refused", and the
// oldest request is the one whose client has most likely given up and
// resent it on a new socket (as Client and the guide's mdcliapi do after
// their timeout), so that its reply would go nowhere. The broker keeps
// reading its one socket, which every service's clients and workers share:
// a full service holds up no other. A service's queue then takes at most n
// messages' memory, each at most the socket's maximum message size
// (socket.WithMaxMsgSize, through WithSocketOptions).
func WithServiceQueue(n int) Option {
	return Option{opt.New("WithServiceQueue", forBroker, func(c *opt.Config[extra]) error {
		if n < 1 {
			return fmt.Errorf("%d", n)
		}
		c.X.serviceQueue = n
		return nil
	})}
}

// WithMaxServices bounds the services a Broker holds (NewBroker; default
// DefaultMaxServices). A request for a service the broker does not know,
// when it holds n already, is dropped, counted in Stats.NoRoom and logged
// (ErrTooManyServices): otherwise a client naming a new service in each
// request would make the broker hold a queue per name until the requests
// expire. Workers' READY is not bounded by it: each worker holds a
// connection and heartbeats, which bounds them already.
func WithMaxServices(n int) Option {
	return Option{opt.New("WithMaxServices", forBroker, func(c *opt.Config[extra]) error {
		if n < 1 {
			return fmt.Errorf("%d", n)
		}
		c.X.maxServices = n
		return nil
	})}
}

// WithQueueBytes bounds the bytes of the requests a Broker's queues hold,
// all services together (NewBroker; default DefaultQueueBytes), as
// queuedSize counts them: each request's frames, and a fixed cost for the
// request and for each frame. A request from a client that would take
// them past n is dropped, counted in Stats.OverBudget and logged
// (ErrQueueFull), and so is one given back by a dead worker. Without it
// the queues' bound is WithServiceQueue times WithMaxServices messages,
// each of the socket's maximum message size: more than any machine has.
func WithQueueBytes(n int) Option {
	return Option{opt.New("WithQueueBytes", forBroker, func(c *opt.Config[extra]) error {
		if n < 1 {
			return fmt.Errorf("%d", n)
		}
		c.X.queueBytes = n
		return nil
	})}
}

// WithSocketOptions passes options to every socket the broker, worker or
// client makes (all constructors): high-water marks, PLAIN security, a
// socket logger, a linger.
func WithSocketOptions(opts ...socket.Option) Option {
	return Option{opt.SocketOptions[extra](forAll, opts...)}
}

// WithLogger sets where the broker, worker or client logs (all
// constructors): peers coming and going at debug level, dead workers,
// dropped requests and malformed messages at warn, and its actors' failures
// and restarts. Each distinct message is logged at most 10 times a second,
// and a peer's message is shown truncated (see socket.Msg.String), so that
// a hostile peer cannot flood the log. The default logs nothing.
func WithLogger(l *zap.Logger) Option { return Option{opt.Logger[extra](forAll, l)} }

// WithObserver sets the observer of the broker's, worker's or client's
// actors (all constructors): "majordomo broker", "majordomo worker" (its
// session with the broker) and "majordomo worker handler", "majordomo
// client", each under a supervisor named "<actor> supervisor". It sees each
// message handled, with its queueing and handling time, and every failure
// and restart; the broker's counts (requests, replies, requeues, dead
// workers, queue depths) are in Stats, and reach an observer that takes
// figures (actor.Figures) as the actor "majordomo broker"; a Worker's
// (WorkerStats) do as "majordomo worker". The default observes nothing.
func WithObserver(o actor.Observer) Option { return Option{opt.Observer[extra](forAll, o)} }
