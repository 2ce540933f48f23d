package actor

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Option configures an actor (Spawn, NewChild) or a supervisor (Supervise).
// Options are made only by the With functions of this package; they are
// immutable values, safe to reuse and to share between goroutines. An option
// given to a constructor it does not apply to is an ErrBadOption, never
// silently ignored.
type Option interface {
	apply(*config) error
}

type target uint8

const (
	forActor target = 1 << iota
	forSupervisor
	forBoth = forActor | forSupervisor
)

type option struct {
	to target
	f  func(*config) error
}

func (o option) apply(c *config) error {
	if c.target&o.to == 0 {
		what := "Spawn or NewChild"
		if c.target == forSupervisor {
			what = "Supervise"
		}
		return fmt.Errorf("%w: option does not apply to %s", ErrBadOption, what)
	}
	return o.f(c)
}

// Defaults.
const (
	// DefaultMailboxSize is the size of the Bounded mailbox an actor gets when
	// none is named: ZeroMQ's default high-water mark, deep enough to absorb
	// bursts, shallow enough that a stuck actor pushes back on its senders
	// within a thousand messages.
	DefaultMailboxSize = 1000
	// DefaultIntensity and DefaultWindow: a supervisor gives up when a child
	// needs more than 3 restarts within 5 seconds. A child that keeps failing
	// faster than that is broken, not unlucky; Erlang's default is 1 in 5s,
	// a little strict for children that talk to the network.
	DefaultIntensity = 3
	DefaultWindow    = 5 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound the wait before a restart:
	// it starts at the minimum and doubles with each restart in the window,
	// so a failing dependency is not hammered, up to the maximum.
	DefaultBackoffMin = 10 * time.Millisecond
	DefaultBackoffMax = time.Second
)

type config struct {
	target     target
	name       string
	mailbox    Mailbox
	observer   Observer
	logger     *zap.Logger
	intensity  int
	window     time.Duration
	backoffMin time.Duration
	backoffMax time.Duration
	feeds      []any // Feed[M]s, checked against M by newCell
	outputs    []io.Closer
	// The name the profiler measures it under: its own, or, for one
	// given none, its kind's, shared with every other of that kind
	// given none, so that a program that spawns actors without end
	// keeps a bounded number of series.
	profileName string
}

var nameSeq atomic.Uint64

// nopLogger is the logger of every actor that was given none.
var nopLogger = zap.NewNop()

func newConfig(t target, opts []Option) (*config, error) {
	c := &config{
		target:     t,
		intensity:  DefaultIntensity,
		window:     DefaultWindow,
		backoffMin: DefaultBackoffMin,
		backoffMax: DefaultBackoffMax,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(c); err != nil {
			return nil, err
		}
	}
	if c.name == "" {
		kind := "actor"
		if t == forSupervisor {
			kind = "supervisor"
		}
		c.name = fmt.Sprintf("%s-%d", kind, nameSeq.Add(1))
		c.profileName = kind
	}
	if err := c.mailbox.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// inherit fills what a child did not set from its supervisor.
func (c *config) inherit(parent *config) {
	if c.observer == nil {
		c.observer = parent.observer
	}
	if c.logger == nil {
		c.logger = parent.logger
	}
}

func (c *config) finish() {
	if c.observer == nil {
		if telemetry.Enabled() {
			if c.profileName == "" {
				c.profileName = c.name
			}
			c.observer = newProfObserver(c.profileName)
		} else {
			c.observer = NopObserver{}
		}
	}
	if c.logger == nil || c.logger == nopLogger {
		// One shared no-op logger: naming it per actor would cost every
		// actor a logger of its own that logs nothing.
		c.logger = nopLogger
		return
	}
	c.logger = c.logger.With(zap.String("actor", c.name))
}

// WithName names the actor or supervisor in errors, dead letters, observer
// events, logs and profiles. Names need not be unique; the default is
// "actor-N" or "supervisor-N". A child's name is the one given to
// NewChild. The profiler (package telemetry) measures those given no name
// together, as "actor" or "supervisor": name the ones to be seen apart.
func WithName(name string) Option {
	return option{forBoth, func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: empty name", ErrBadOption)
		}
		c.name = name
		return nil
	}}
}

// WithMailbox chooses the actor's mailbox by name: Bounded(n), DropNewest(n),
// DropOldest(n) or Unbounded(). The default is Bounded(DefaultMailboxSize).
func WithMailbox(m Mailbox) Option {
	return option{forActor, func(c *config) error {
		if err := m.validate(); err != nil {
			return err
		}
		c.mailbox = m
		return nil
	}}
}

// WithObserver sets the Observer of the actor, or of the supervisor and every
// child that has none of its own. The default is NopObserver, or, when
// profiling is on (package telemetry), one that records the actor's
// figures for the profiler.
func WithObserver(o Observer) Option {
	return option{forBoth, func(c *config) error {
		if o == nil {
			o = NopObserver{}
		}
		c.observer = o
		return nil
	}}
}

// WithLogger sets the zap logger of the actor, or of the supervisor and every
// child that has none of its own. The default is zap.NewNop(). Failures and
// restarts are logged at Warn and Info, dead letters at Debug.
func WithLogger(l *zap.Logger) Option {
	return option{forBoth, func(c *config) error {
		if l == nil {
			l = zap.NewNop()
		}
		c.logger = l
		return nil
	}}
}

// WithIntensity sets a supervisor's restart intensity: it restarts children at
// most n times within window; the failure after that makes it give up with
// ErrRestartIntensity. n = 0 means never restart. The default is
// DefaultIntensity within DefaultWindow.
func WithIntensity(n int, window time.Duration) Option {
	return option{forSupervisor, func(c *config) error {
		if n < 0 || window <= 0 {
			return fmt.Errorf("%w: intensity %d in %v, want n >= 0 and window > 0", ErrBadOption, n, window)
		}
		c.intensity, c.window = n, window
		return nil
	}}
}

// WithBackoff sets the wait before a supervisor restarts children: min for
// the first restart in the window, doubling with each further one, at most
// max. WithBackoff(0, 0) restarts at once.
func WithBackoff(min, max time.Duration) Option {
	return option{forSupervisor, func(c *config) error {
		if min < 0 || max < min {
			return fmt.Errorf("%w: back-off %v..%v, want 0 <= min <= max", ErrBadOption, min, max)
		}
		c.backoffMin, c.backoffMax = min, max
		return nil
	}}
}
