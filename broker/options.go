package broker

import (
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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

// Option configures a LoadBalancer, Worker, Client, Queue or Forwarder at
// creation. Each option's doc says which it applies to; the others ignore
// it. Options are made only by the functions of this package.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	interval       time.Duration
	liveness       int
	reconnectInit  time.Duration
	reconnectMax   time.Duration
	timeout        time.Duration
	retries        int
	maxDeliveries  int
	abandoned      func(body [][]byte)
	sockOpts       []socket.Option
	log            *zap.Logger
	captureType    socket.Type
	captureEP      string
	captureEnabled bool
}

func newConfig(opts []Option) (config, error) {
	c := config{
		interval:      DefaultHeartbeatInterval,
		liveness:      DefaultLiveness,
		reconnectInit: DefaultReconnectInit,
		reconnectMax:  DefaultReconnectMax,
		timeout:       DefaultTimeout,
		retries:       DefaultRetries,
		maxDeliveries: DefaultMaxDeliveries,
		log:           zap.NewNop(),
	}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil Option", ErrBadOption)
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	c.log = rateLimited(c.log)
	return c, nil
}

// Log rate: a peer can send malformed messages as fast as the network
// carries them, and each would be a warning. Each distinct log message is
// written at most logBurst times per logTick; the rest are dropped.
const (
	logTick  = time.Second
	logBurst = 10
)

func rateLimited(l *zap.Logger) *zap.Logger {
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, logTick, logBurst, 0)
	}))
}

// expiry is how long a PPP peer may stay silent before it is dead.
func (c *config) expiry() time.Duration { return c.interval * time.Duration(c.liveness) }

// WithHeartbeat sets the PPP heartbeat interval and liveness (LoadBalancer,
// Worker, Distributor, DistWorker): a peer sends HEARTBEAT every interval
// and counts the other dead after liveness intervals without a message from
// it. Both sides of a conversation should agree.
func WithHeartbeat(interval time.Duration, liveness int) Option {
	return optionFunc(func(c *config) error {
		if interval <= 0 || liveness < 1 {
			return fmt.Errorf("%w: heartbeat interval %v, liveness %d", ErrBadOption, interval, liveness)
		}
		c.interval, c.liveness = interval, liveness
		return nil
	})
}

// WithReconnect sets a Worker's back-off after it loses its broker: it waits
// init, then twice as long after each further loss, up to max, before
// opening a new socket and sending READY again.
func WithReconnect(init, max time.Duration) Option {
	return optionFunc(func(c *config) error {
		if init <= 0 || max < init {
			return fmt.Errorf("%w: reconnect back-off %v..%v", ErrBadOption, init, max)
		}
		c.reconnectInit, c.reconnectMax = init, max
		return nil
	})
}

// WithTimeout sets how long a Client waits for the reply to each attempt.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v", ErrBadOption, d)
		}
		c.timeout = d
		return nil
	})
}

// WithRetries sets how many times a Client resends a request that got no
// reply in time, after the first attempt; 0 never resends.
func WithRetries(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: retries %d", ErrBadOption, n)
		}
		c.retries = n
		return nil
	})
}

// WithMaxDeliveries sets how many times a LoadBalancer or MDPBroker hands
// one request to a worker (the first included) when the workers it reached
// died or gave it back; then it drops the request and counts it in
// Stats.Abandoned (and a LoadBalancer calls the WithAbandoned function).
// A demand-driven Distributor gives such a task up the same way: it
// completes as failed (ErrTaskFailed) and is counted in Stats.Abandoned.
func WithMaxDeliveries(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max deliveries %d", ErrBadOption, n)
		}
		c.maxDeliveries = n
		return nil
	})
}

// WithAbandoned has a LoadBalancer call f with the body of each request it
// gives up on after WithMaxDeliveries, so that whoever sent it can say so
// at once rather than when its client's timeout passes. f runs on the load
// balancer's loop goroutine: it must return quickly and must not call the
// load balancer.
func WithAbandoned(f func(body [][]byte)) Option {
	return optionFunc(func(c *config) error {
		c.abandoned = f
		return nil
	})
}

// WithSocketOptions passes options to every socket.New the component makes
// (all components): high-water marks, PLAIN security, a socket logger.
func WithSocketOptions(opts ...socket.Option) Option {
	return optionFunc(func(c *config) error { c.sockOpts = append(c.sockOpts, opts...); return nil })
}

// WithLogger sets where the component logs (all components): peers coming
// and going at debug level, dead workers, dropped duplicates and malformed
// messages at warn. Each distinct message is logged at most 10 times a
// second, and a peer's message is shown truncated (see socket.Msg.String),
// so that a hostile peer cannot flood the log. The default logs nothing.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	})
}

// WithCapture gives a Queue or Forwarder a capture socket (the guide's
// ch. 5 "Espresso Pattern"): a socket of type typ (socket.Pub, socket.Push,
// socket.Pair, ...) bound at endpoint, which is sent a copy of every message
// the proxy passes, either way. A PUB capture drops what a slow listener
// cannot take; a PUSH or PAIR capture holds the proxy up instead.
func WithCapture(typ socket.Type, endpoint string) Option {
	return optionFunc(func(c *config) error {
		switch typ {
		case socket.Pub, socket.XPub, socket.Push, socket.Pair, socket.Dealer:
		default:
			return fmt.Errorf("%w: capture socket type %v cannot send copies", ErrBadOption, typ)
		}
		c.captureType, c.captureEP, c.captureEnabled = typ, endpoint, true
		return nil
	})
}
