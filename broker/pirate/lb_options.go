package pirate

import (
	"fmt"
	"time"

	"github.com/zmqflow/zmqflow/broker/internal/opt"
)

// DefaultHoldLimit is how long a LoadBalancer lets one worker hold one
// request before it hands the request to another worker (not in the
// guide, whose ppqueue waits for ever). A minute is far beyond what a
// default Client waits (three attempts of DefaultTimeout) and what a Stage
// waits for its downstream reply, so that a request goes out twice only
// when its worker is stuck, not merely slow; work that takes longer needs
// a longer limit, or none.
const DefaultHoldLimit = time.Minute

// WithHoldLimit sets how long a LoadBalancer lets a worker hold a request
// before giving it to the next idle worker, as if the worker had died
// (NewLoadBalancer): a worker that keeps heartbeating but never replies
// would otherwise hold the request, and the client's resends of it, for
// ever. 0 means no limit. The limit is checked every heartbeat interval.
// The default is DefaultHoldLimit. See LoadBalancer for what becomes of
// the worker that held it and of its late reply.
func WithHoldLimit(d time.Duration) Option {
	return Option{opt.New("WithHoldLimit", forLoadBalancer, func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%v", d)
		}
		c.X.holdLimit = d
		return nil
	})}
}

// WithMaxDeliveries sets how many times a LoadBalancer hands one request
// to a worker (the first included) when the workers it reached died or
// gave it back (NewLoadBalancer; default DefaultMaxDeliveries); then it
// drops the request, counts it in Stats.Abandoned and calls the
// WithAbandoned function.
func WithMaxDeliveries(n int) Option {
	return Option{opt.MaxDeliveries[extra](forLoadBalancer, n)}
}

// WithAbandoned has a LoadBalancer call f with the body of each request it
// gives up on after WithMaxDeliveries (NewLoadBalancer), so that whoever
// sent it can say so at once rather than when its client's timeout
// passes. f runs in the load balancer's actor: it must return quickly and
// must not call the load balancer. body is the load balancer's: copy what
// f keeps. A nil f, the default, calls nothing.
func WithAbandoned(f func(body [][]byte)) Option {
	return Option{opt.New("WithAbandoned", forLoadBalancer, func(c *config) error {
		c.Abandoned = f
		return nil
	})}
}

// WithRequeued has a LoadBalancer call f with the body of each request it
// takes back from a worker to hand to another (NewLoadBalancer): the
// worker died or gave the request back, or held it past WithHoldLimit.
// The worker may have started on it, so whoever counts attempts learns
// here of those the client never saw. A request given up on after
// WithMaxDeliveries goes to the WithAbandoned function instead. f runs in
// the load balancer's actor: it must return quickly and must not call the
// load balancer. body is the request that goes on to the next worker: f
// must not change it, and copies what it keeps. A nil f, the default,
// calls nothing.
func WithRequeued(f func(body [][]byte)) Option {
	return Option{opt.New("WithRequeued", forLoadBalancer, func(c *config) error {
		c.X.requeued = f
		return nil
	})}
}
