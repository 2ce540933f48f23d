package broker

import (
	"fmt"
	"time"
)

// DefaultHoldLimit is how long a LoadBalancer lets one worker hold one
// request before it hands the request to another worker (not in the
// guide, whose ppqueue waits for ever). A minute is far beyond what a
// default Client waits (three attempts of DefaultTimeout) and what a Stage
// waits for its downstream reply, so that a request goes out twice only
// when its worker is stuck, not merely slow; work that takes longer needs
// a longer limit, or none.
const DefaultHoldLimit = time.Minute

// holdLimitOption is WithHoldLimit. It lives outside config (the options
// of the other components) and is picked out of the options by
// NewLoadBalancer; for everything else its apply only checks the value.
type holdLimitOption time.Duration

func (o holdLimitOption) apply(*config) error {
	if o < 0 {
		return fmt.Errorf("%w: hold limit %v", ErrBadOption, time.Duration(o))
	}
	return nil
}

// WithHoldLimit sets how long a LoadBalancer (and a FederatedBroker's local
// workers) lets a worker hold a request before giving it to the next idle
// worker, as if the worker had died: a worker that keeps heartbeating but
// never replies would otherwise hold the request, and the client's resends
// of it, for ever. 0 means no limit. The limit is checked every heartbeat
// interval. The default is DefaultHoldLimit. See LoadBalancer for what
// becomes of the worker that held it and of its late reply.
func WithHoldLimit(d time.Duration) Option { return holdLimitOption(d) }

// holdLimit returns the last WithHoldLimit among opts, or the default.
func holdLimit(opts []Option) time.Duration {
	d := DefaultHoldLimit
	for _, o := range opts {
		if h, ok := o.(holdLimitOption); ok {
			d = time.Duration(h)
		}
	}
	return d
}
