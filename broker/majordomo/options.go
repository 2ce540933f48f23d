package broker

import (
	"fmt"
	"time"
)

// Majordomo defaults. The guide's Majordomo peers (mdbroker, mdwrkapi)
// send HEARTBEAT every 2.5 s and give the other side up after 3 silent
// intervals, 7.5 s. The PPP defaults (DefaultHeartbeatInterval x
// DefaultLiveness, 3 s) sit on the edge of that 2.5 s: a guide worker whose
// beat came a little late was buried while alive. MDPBroker and MDPWorker
// therefore start from these instead; WithHeartbeat overrides them.
const (
	// DefaultMDPHeartbeatInterval is how often an MDPBroker or MDPWorker
	// sends HEARTBEAT: more often than the guide's 2.5 s, so that a guide
	// peer, which gives us up after 7.5 s without a word, hears from us
	// seven times in that span.
	DefaultMDPHeartbeatInterval = time.Second
	// DefaultMDPLiveness is how many of those intervals without a word make
	// a Majordomo peer dead: 10 s. A guide worker sends HEARTBEAT every
	// 2.5 s, but only when its poll returns after that time, and our
	// heartbeats wake its poll every interval: two of its beats may be
	// 2.5 s plus our interval (3.5 s) apart, more on a loaded machine.
	// 10 s is four of its intervals, nearly three of its longest gaps (the
	// guide's own rule of three, "3-5 is reasonable"), and a third more
	// than the guide's mdbroker gives it.
	DefaultMDPLiveness = 10
	// DefaultServiceQueue is how many requests an MDPBroker holds for one
	// service while they wait for a worker (WithServiceQueue).
	DefaultServiceQueue = 1000
)

// WithServiceQueue bounds each service's queue at an MDPBroker: at most n
// requests wait for a worker of one service (default DefaultServiceQueue).
// A request for a service whose queue is full pushes out the oldest one
// waiting, which is dropped, counted in MDPStats.Overflow and logged
// (ErrServiceFull). MDP has no word for "refused", and the oldest request
// is the one whose client has most likely given up and resent it on a new
// socket (as MDPClient and the guide's mdcliapi do after their timeout), so
// that its reply would go nowhere. The broker keeps reading its one socket,
// which every service's clients and workers share: a full service holds up
// no other. A service's queue then takes at most n messages' memory, each
// at most the socket's maximum message size (socket.WithMaxMsgSize, through
// WithSocketOptions).
func WithServiceQueue(n int) Option { return serviceQueue(n) }

// serviceQueue is WithServiceQueue's option. It leaves config, which every
// component shares, alone: NewMDPBroker finds it among its options.
type serviceQueue int

func (n serviceQueue) apply(*config) error {
	if n < 1 {
		return fmt.Errorf("%w: service queue %d", ErrBadOption, int(n))
	}
	return nil
}

// mdpConfig is newConfig with the Majordomo heartbeat defaults, which opts
// may override.
func mdpConfig(opts []Option) (config, error) {
	return newConfig(append([]Option{WithHeartbeat(DefaultMDPHeartbeatInterval, DefaultMDPLiveness)}, opts...))
}

// mdpQueueLimit returns the last WithServiceQueue among opts (checked by
// newConfig), or the default.
func mdpQueueLimit(opts []Option) int {
	n := DefaultServiceQueue
	for _, o := range opts {
		if q, ok := o.(serviceQueue); ok {
			n = int(q)
		}
	}
	return n
}
