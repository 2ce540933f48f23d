package peering

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// forBroker is NewBroker, the package's one constructor.
const forBroker opt.Target = 1

// Option configures a Broker at creation. Options are immutable values,
// safe to reuse and share.
type Option struct{ o opt.Option[extra] }

// extra is what only this package's options set.
type extra struct {
	holdLimit time.Duration
}

type config = opt.Config[extra]

// The defaults are package pirate's, the guide's: heartbeats every second,
// a peer dead after three missed.
var defaults = config{
	Interval:      pirate.DefaultHeartbeatInterval,
	Liveness:      pirate.DefaultLiveness,
	MaxDeliveries: pirate.DefaultMaxDeliveries,
	X:             extra{holdLimit: pirate.DefaultHoldLimit},
}

func build(opts []Option) (config, error) {
	os := make([]opt.Option[extra], len(opts))
	for i, o := range opts {
		os[i] = o.o
	}
	return opt.Build(defaults, forBroker, "peering.NewBroker", ErrBadOption, os)
}

// WithHeartbeat sets the heartbeat interval and liveness (NewBroker;
// default pirate.DefaultHeartbeatInterval and pirate.DefaultLiveness): of
// the PPP conversation with the local workers, as pirate.WithHeartbeat,
// and of the state flow: the broker announces its capacity every interval
// and counts a peer gone after liveness intervals without an announcement
// from it. Peers and workers should agree.
func WithHeartbeat(interval time.Duration, liveness int) Option {
	return Option{opt.Heartbeat[extra](forBroker, interval, liveness)}
}

// WithMaxDeliveries sets how many times the local load balancer hands one
// request to a local worker (NewBroker), as pirate.WithMaxDeliveries;
// default pirate.DefaultMaxDeliveries.
func WithMaxDeliveries(n int) Option {
	return Option{opt.MaxDeliveries[extra](forBroker, n)}
}

// WithHoldLimit sets how long a local worker may hold a request before the
// local load balancer gives it to another (NewBroker), as
// pirate.WithHoldLimit; 0 means no limit. The default is
// pirate.DefaultHoldLimit.
func WithHoldLimit(d time.Duration) Option {
	return Option{opt.New("WithHoldLimit", forBroker, func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%v", d)
		}
		c.X.holdLimit = d
		return nil
	})}
}

// WithSocketOptions passes options to every socket the broker and its
// local load balancer make (NewBroker): high-water marks, PLAIN security,
// a socket logger.
func WithSocketOptions(opts ...socket.Option) Option {
	return Option{opt.SocketOptions[extra](forBroker, opts...)}
}

// WithLogger sets where the broker and its local load balancer log
// (NewBroker): peers and workers coming and going at debug level, gone
// peers, dead workers, malformed messages and actor failures at warn. Each
// distinct message is logged at most 10 times a second. The default logs
// nothing.
func WithLogger(l *zap.Logger) Option { return Option{opt.Logger[extra](forBroker, l)} }

// WithObserver sets the observer of the broker's actor, "peering broker",
// and of its local load balancer's, "pirate load balancer" (NewBroker):
// their lifecycle, each message handled, and, if o implements
// actor.Figures, the fields of their Stats after every change. The
// default observes nothing.
func WithObserver(o actor.Observer) Option {
	return Option{opt.Observer[extra](forBroker, o)}
}
