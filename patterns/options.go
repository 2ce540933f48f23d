package patterns

import (
	"fmt"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// Option configures a stage at creation. Options are made only by the
// functions of this package.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// config is what the options set; each stage reads the fields it uses.
type config struct {
	binds, connects []string
	sockOpts        []socket.Option
	onDecodeError   func(error) error
	pirate          bool
	timeout         time.Duration
	retries         int
}

// Bind makes the stage's socket bind endpoint ("tcp://127.0.0.1:*",
// "ipc:///path", "inproc://name") when the stage is made. The stage's
// Endpoint returns what was bound, the port filled in. May be repeated.
func Bind(endpoint string) Option {
	return optionFunc(func(c *config) error { c.binds = append(c.binds, endpoint); return nil })
}

// Connect makes the stage's socket connect to endpoint when the stage is made.
// The peer need not be there yet: the socket connects when it comes, and
// again after it goes away. May be repeated.
func Connect(endpoint string) Option {
	return optionFunc(func(c *config) error { c.connects = append(c.connects, endpoint); return nil })
}

// WithSocketOptions passes options to socket.New: high-water marks, linger,
// identity, PLAIN security, a logger.
func WithSocketOptions(opts ...socket.Option) Option {
	return optionFunc(func(c *config) error { c.sockOpts = append(c.sockOpts, opts...); return nil })
}

// OnDecodeError sets what a stage does with a received message that does not
// decode: f gets the error (wrapping ErrDecode) in the stage's goroutine and
// returns nil to drop the message and carry on, or an error to end the stage
// with it. The default ends the stage with the decode error: a peer speaking
// another format is usually a bug to hear about, not to hide. A Rep stage
// that carries on replies to the bad request with one empty frame, since a
// REP socket must reply before it may receive again.
func OnDecodeError(f func(err error) error) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: nil OnDecodeError", ErrBadOption)
		}
		c.onDecodeError = f
		return nil
	})
}

// LazyPirate makes a Req stage reliable the way the guide's "Client-Side
// Reliability (Lazy Pirate Pattern)" (ch. 4) does: each request waits at
// most timeout for its reply; on a timeout the REQ socket, which can neither
// send again nor be trusted, is closed and a new one connected, and the
// request is sent again, up to retries times. After the last retry the
// request fails with ErrNoReply. A server that restarts is found again on
// the next attempt.
//
// The server must tolerate a request it sees twice (its reply to the first
// may be what got lost): make requests idempotent, or number them.
func LazyPirate(timeout time.Duration, retries int) Option {
	return optionFunc(func(c *config) error {
		if timeout <= 0 || retries < 0 {
			return fmt.Errorf("%w: LazyPirate(%v, %d): want timeout > 0, retries >= 0", ErrBadOption, timeout, retries)
		}
		c.pirate, c.timeout, c.retries = true, timeout, retries
		return nil
	})
}

func newConfig(opts []Option) (config, error) {
	c := config{onDecodeError: func(err error) error { return err }}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	if len(c.binds)+len(c.connects) == 0 {
		return c, fmt.Errorf("%w: no Bind or Connect endpoint", ErrBadOption)
	}
	return c, nil
}
