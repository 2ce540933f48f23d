// Package opt is the option machinery the broker packages share: a Config
// with the settings they have in common and a package's own (X), options
// that say which constructors take them, and Build, which refuses an option
// given to a constructor it does not apply to. Each broker package wraps
// these in an Option type of its own, so its users see only its options.
package opt

import (
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// Target is a set of constructors, one bit each, numbered by the package
// that uses them.
type Target uint32

// All is every constructor of a package.
const All Target = 1<<32 - 1

// Option is one setting and the constructors that take it.
type Option[X any] struct {
	name  string
	For   Target
	apply func(*Config[X]) error // returns the reason a value is refused
}

// New makes an option named name (as the package spells its function,
// "WithCredit") for the constructors in t.
func New[X any](name string, t Target, apply func(*Config[X]) error) Option[X] {
	return Option[X]{name: name, For: t, apply: apply}
}

// Config is the settings of a broker package: those all have, and X, the
// package's own.
type Config[X any] struct {
	Interval      time.Duration // heartbeat interval
	Liveness      int           // heartbeats missed before a peer is dead
	ReconnectInit time.Duration // a worker's first wait after losing its broker
	ReconnectMax  time.Duration // and its longest
	Timeout       time.Duration // a client's wait per attempt
	Retries       int           // a client's resends
	MaxDeliveries int
	Abandoned     func(body [][]byte)
	SockOpts      []socket.Option
	Log           *zap.Logger
	Observer      actor.Observer // nil: none
	X             X
}

// Expiry is how long a peer may stay silent before it is dead.
func (c *Config[X]) Expiry() time.Duration { return c.Interval * time.Duration(c.Liveness) }

// Build applies opts on top of defaults for the constructor ctor, which is
// target t. An option for other constructors, a zero Option or a value out
// of range is refused with bad (the package's ErrBadOption), naming the
// option and the constructor.
func Build[X any](defaults Config[X], t Target, ctor string, bad error, opts []Option[X]) (Config[X], error) {
	c := defaults
	for _, o := range opts {
		if o.apply == nil {
			return c, fmt.Errorf("%w: %s: zero Option", bad, ctor)
		}
		if o.For&t == 0 {
			return c, fmt.Errorf("%w: %s does not apply to %s", bad, o.name, ctor)
		}
		if err := o.apply(&c); err != nil {
			return c, fmt.Errorf("%w: %s: %v", bad, o.name, err)
		}
	}
	if c.Log == nil {
		// Nothing to rate-limit: a sampler's counters cost about 900 KB,
		// for each of a program's thousands of clients.
		c.Log = zap.NewNop()
	} else {
		c.Log = rateLimited(c.Log)
	}
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

// The options every broker package has; the package picks the targets.

// Heartbeat sets the heartbeat interval and liveness.
func Heartbeat[X any](t Target, interval time.Duration, liveness int) Option[X] {
	return New[X]("WithHeartbeat", t, func(c *Config[X]) error {
		if interval <= 0 || liveness < 1 {
			return fmt.Errorf("interval %v, liveness %d", interval, liveness)
		}
		c.Interval, c.Liveness = interval, liveness
		return nil
	})
}

// Reconnect sets a worker's back-off between losing its broker and
// reconnecting.
func Reconnect[X any](t Target, init, max time.Duration) Option[X] {
	return New[X]("WithReconnect", t, func(c *Config[X]) error {
		if init <= 0 || max < init {
			return fmt.Errorf("back-off %v..%v", init, max)
		}
		c.ReconnectInit, c.ReconnectMax = init, max
		return nil
	})
}

// Timeout sets a client's wait for each attempt.
func Timeout[X any](t Target, d time.Duration) Option[X] {
	return New[X]("WithTimeout", t, func(c *Config[X]) error {
		if d <= 0 {
			return fmt.Errorf("%v", d)
		}
		c.Timeout = d
		return nil
	})
}

// Retries sets a client's resends after the first attempt.
func Retries[X any](t Target, n int) Option[X] {
	return New[X]("WithRetries", t, func(c *Config[X]) error {
		if n < 0 {
			return fmt.Errorf("%d", n)
		}
		c.Retries = n
		return nil
	})
}

// MaxDeliveries sets how many times a broker hands one request to a worker.
func MaxDeliveries[X any](t Target, n int) Option[X] {
	return New[X]("WithMaxDeliveries", t, func(c *Config[X]) error {
		if n < 1 {
			return fmt.Errorf("%d", n)
		}
		c.MaxDeliveries = n
		return nil
	})
}

// SocketOptions adds options for every socket the component makes.
func SocketOptions[X any](t Target, opts ...socket.Option) Option[X] {
	return New[X]("WithSocketOptions", t, func(c *Config[X]) error {
		for _, o := range opts {
			if o == nil {
				return fmt.Errorf("nil socket option")
			}
		}
		c.SockOpts = append(c.SockOpts, opts...)
		return nil
	})
}

// Logger sets where the component logs.
func Logger[X any](t Target, l *zap.Logger) Option[X] {
	return New[X]("WithLogger", t, func(c *Config[X]) error {
		if l == nil {
			return fmt.Errorf("nil logger")
		}
		c.Log = l
		return nil
	})
}

// Observer sets the observer of the component's actors.
func Observer[X any](t Target, o actor.Observer) Option[X] {
	return New[X]("WithObserver", t, func(c *Config[X]) error {
		if o == nil {
			return fmt.Errorf("nil observer")
		}
		c.Observer = o
		return nil
	})
}

// Supervision is the supervisor options of a broker, worker or client:
// its logger and, if one was given, its observer.
func (c *Config[X]) Supervision() []actor.Option {
	aopts := []actor.Option{actor.WithLogger(c.Log)}
	if c.Observer != nil {
		aopts = append(aopts, actor.WithObserver(c.Observer))
	}
	return aopts
}

// Reconnecting is the supervisor options of a worker whose session actor
// fails when it loses its broker: Supervision's, and restarts without
// limit (a worker outlives any outage of its broker) after the back-off,
// ReconnectInit doubling up to ReconnectMax with each restart within the
// window. The window holds four losses that each cost a silent liveness
// period and the longest back-off: a worker that has gone that long
// without losing its broker starts again from ReconnectInit.
func (c *Config[X]) Reconnecting() []actor.Option {
	window := 4 * (c.Expiry() + c.ReconnectMax)
	return append(c.Supervision(),
		actor.WithBackoff(c.ReconnectInit, c.ReconnectMax),
		actor.WithIntensity(math.MaxInt, window))
}
