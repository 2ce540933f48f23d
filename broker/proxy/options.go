package proxy

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/socket"
)

// Option configures a Queue or a Forwarder at creation; every option here
// applies to both.
type Option struct{ o opt.Option[extra] }

// extra is what only this package's options set.
type extra struct {
	capture struct {
		typ      socket.Type
		endpoint string
		enabled  bool
	}
}

func build(opts []Option) (opt.Config[extra], error) {
	os := make([]opt.Option[extra], len(opts))
	for i, o := range opts {
		os[i] = o.o
	}
	return opt.Build(opt.Config[extra]{}, opt.All, "proxy", ErrBadOption, os)
}

// WithCapture gives the proxy a capture socket (the guide's ch. 5
// "Espresso Pattern"): a socket of type typ (socket.Pub, socket.Push,
// socket.Pair, ...) bound at endpoint ('>' to connect), which is sent a copy
// of every message the proxy passes, either way. A PUB capture drops what a
// slow listener cannot take; a PUSH or PAIR capture holds the proxy up
// instead.
func WithCapture(typ socket.Type, endpoint string) Option {
	return Option{opt.New("WithCapture", opt.All, func(c *opt.Config[extra]) error {
		switch typ {
		case socket.Pub, socket.XPub, socket.Push, socket.Pair, socket.Dealer:
		default:
			return fmt.Errorf("capture socket type %v cannot send copies", typ)
		}
		c.X.capture.typ, c.X.capture.endpoint, c.X.capture.enabled = typ, endpoint, true
		return nil
	})}
}

// WithSocketOptions passes options to every socket the proxy makes:
// high-water marks, PLAIN security, a socket logger.
func WithSocketOptions(opts ...socket.Option) Option {
	return Option{opt.SocketOptions[extra](opt.All, opts...)}
}

// WithLogger sets where the proxy logs: its actors' failures and restarts.
// The default logs nothing.
func WithLogger(l *zap.Logger) Option { return Option{opt.Logger[extra](opt.All, l)} }

// WithObserver sets the observer of the proxy's actors, one per direction,
// named after the proxy and the direction ("queue frontend->backend"): each
// message passed, with its queueing and sending time, and failures.
func WithObserver(o actor.Observer) Option { return Option{opt.Observer[extra](opt.All, o)} }
