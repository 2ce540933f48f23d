package pirate

import (
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/socket"
)

// Defaults, the guide's unless said otherwise.
const (
	// DefaultHeartbeatInterval is how often PPP peers send HEARTBEAT
	// (ppqueue's HEARTBEAT_INTERVAL).
	DefaultHeartbeatInterval = time.Second
	// DefaultLiveness is how many intervals without a message make a peer
	// dead (HEARTBEAT_LIVENESS; "3-5 is reasonable").
	DefaultLiveness = 3
	// DefaultReconnectInit and DefaultReconnectMax bound a worker's back-off
	// between losing its broker and reconnecting: it doubles from the first
	// to the second (ppworker's INTERVAL_INIT and INTERVAL_MAX).
	DefaultReconnectInit = time.Second
	DefaultReconnectMax  = 32 * time.Second
	// DefaultTimeout and DefaultRetries are a Client's wait for each attempt
	// and its resends after the first (the Lazy Pirate client's
	// REQUEST_TIMEOUT of 2.5 s and its three tries in all, the first
	// included, so two resends).
	DefaultTimeout = 2500 * time.Millisecond
	DefaultRetries = 2
	// DefaultMaxDeliveries is how many times the load balancer hands one
	// request to a worker before it gives up on it (not in the guide: it
	// stops a request that kills every worker it reaches from killing them
	// all). The client's own retries start it afresh.
	DefaultMaxDeliveries = 5
)

// The constructors, one target bit each: an option names those it applies
// to, and the others refuse it.
const (
	forLoadBalancer opt.Target = 1 << iota
	forWorker
	forClient
	forStage
)

// Option configures a LoadBalancer, Worker, Client or Stage at creation.
// Each With function says which constructors take it; given to another,
// it makes the constructor fail with ErrBadOption. A Stage takes the
// options of its Worker and its Client, and gives each part those that
// apply to it. Options are immutable values, safe to reuse and share.
type Option struct{ o opt.Option[extra] }

// extra is what only this package's options set.
type extra struct {
	holdLimit   time.Duration
	noTaskSpans bool
	requeued    func(body [][]byte) // WithRequeued
}

// config is the settings of one component.
type config = opt.Config[extra]

var defaults = config{
	Interval:      DefaultHeartbeatInterval,
	Liveness:      DefaultLiveness,
	ReconnectInit: DefaultReconnectInit,
	ReconnectMax:  DefaultReconnectMax,
	Timeout:       DefaultTimeout,
	Retries:       DefaultRetries,
	MaxDeliveries: DefaultMaxDeliveries,
	X:             extra{holdLimit: DefaultHoldLimit},
}

// build applies opts for the constructor ctor, target t.
func build(t opt.Target, ctor string, opts []Option) (config, error) {
	os := make([]opt.Option[extra], len(opts))
	for i, o := range opts {
		os[i] = o.o
	}
	return opt.Build(defaults, t, "pirate."+ctor, ErrBadOption, os)
}

// only returns the options of opts that apply to target t: how a Stage
// gives its Worker and its Client their own.
func only(t opt.Target, opts []Option) []Option {
	var out []Option
	for _, o := range opts {
		if o.o.For&t != 0 {
			out = append(out, o)
		}
	}
	return out
}

// WithHeartbeat sets the PPP heartbeat interval and liveness (NewLoadBalancer,
// NewWorker, NewStage; default DefaultHeartbeatInterval and
// DefaultLiveness): a peer sends HEARTBEAT every interval and counts
// the other dead after liveness intervals without a message from it. Both
// sides of a conversation should agree.
func WithHeartbeat(interval time.Duration, liveness int) Option {
	return Option{opt.Heartbeat[extra](forLoadBalancer|forWorker|forStage, interval, liveness)}
}

// WithReconnect sets a Worker's back-off after it loses its broker
// (NewWorker, NewStage; default DefaultReconnectInit and
// DefaultReconnectMax): it waits init, then twice as long after each
// further loss, up to max, before opening a new socket and sending READY
// again.
func WithReconnect(init, max time.Duration) Option {
	return Option{opt.Reconnect[extra](forWorker|forStage, init, max)}
}

// WithTimeout sets how long a Client waits for the reply to each attempt
// (NewClient, NewStage; default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return Option{opt.Timeout[extra](forClient|forStage, d)}
}

// WithRetries sets how many times a Client resends a request that got no
// reply in time, after the first attempt; 0 never resends (NewClient,
// NewStage; default DefaultRetries).
func WithRetries(n int) Option {
	return Option{opt.Retries[extra](forClient|forStage, n)}
}

// WithSocketOptions passes options to every socket the component makes
// (every constructor): high-water marks, PLAIN security, a socket logger.
func WithSocketOptions(opts ...socket.Option) Option {
	return Option{opt.SocketOptions[extra](opt.All, opts...)}
}

// WithLogger sets where the component logs (every constructor): peers
// coming and going at debug level, dead workers, dropped duplicates,
// malformed messages and its actors' failures and restarts at warn. Each
// distinct message is logged at most 10 times a second, and a peer's
// message is shown truncated (see socket.Msg.String), so that a hostile
// peer cannot flood the log. The default logs nothing.
func WithLogger(l *zap.Logger) Option { return Option{opt.Logger[extra](opt.All, l)} }

// WithObserver sets the observer of the component's actors (every
// constructor): their lifecycle (started, failed, restarted, stopped),
// each message handled with its queueing and handling time, and, if o
// implements actor.Figures, the Stats fields of a LoadBalancer, a Worker
// and a Client after every change (counters and levels, under the actor's
// name). A Client's actor handles only late and malformed replies: its
// figures are where its requests and replies are seen. The default
// observes nothing.
func WithObserver(o actor.Observer) Option {
	return Option{opt.Observer[extra](opt.All, o)}
}

// WithoutTaskSpans stops a Worker from recording each request it handles
// as a task on the profile's timeline (NewWorker, NewStage), for a handler
// that records its own tasks, with names and indexes of its job's. It
// matters only when profiling is on (see the telemetry package).
func WithoutTaskSpans() Option {
	return Option{opt.New("WithoutTaskSpans", forWorker|forStage, func(c *config) error {
		c.X.noTaskSpans = true
		return nil
	})}
}
