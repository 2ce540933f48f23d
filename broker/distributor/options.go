package distributor

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/opt"
	"github.com/zmqflow/zmqflow/socket"
)

// Defaults, the guide's unless said otherwise.
const (
	// DefaultHeartbeatInterval is how often a Distributor and its Workers
	// send HEARTBEAT (the Paranoid Pirate's HEARTBEAT_INTERVAL, ch. 4).
	DefaultHeartbeatInterval = time.Second
	// DefaultLiveness is how many intervals without a word make a peer dead
	// (HEARTBEAT_LIVENESS; "3-5 is reasonable").
	DefaultLiveness = 3
	// DefaultReconnectInit and DefaultReconnectMax bound a Worker's
	// back-off between finding its distributor silent and saying HELLO
	// and READY again (ppworker's INTERVAL_INIT and INTERVAL_MAX).
	DefaultReconnectInit = time.Second
	DefaultReconnectMax  = 32 * time.Second
	// DefaultMaxDeliveries is how many times a demand-driven Distributor
	// hands one task to a worker before it gives up on it (not in the
	// guide: it stops a task that kills every worker it reaches from
	// killing them all).
	DefaultMaxDeliveries = 5
	// DefaultCredit is a Worker's tasks in flight. One keeps dispatch
	// greedy (a task never waits behind a long one at a busy worker while
	// another worker idles); more hides the round trip when tasks are tiny.
	DefaultCredit = 1
	// DefaultWindow bounds a Distributor's tasks in flight (dispatched, no
	// result yet) in all, and so each worker's credit, whatever the workers
	// announce: the sockets' default high-water mark, so that round-robin
	// never blocks on a queue.
	DefaultWindow = 1000
)

// maxCredit bounds WithCredit. A distributor takes any credit a READY
// announces, capped at its window.
const maxCredit = 1 << 20

// Option configures a Distributor or a Worker at creation. Each With
// function says which constructors take it; another refuses it with
// ErrBadOption, naming the option and the constructor. An Option is an
// immutable value, safe to reuse and to share between goroutines.
type Option struct{ o opt.Option[extra] }

// extra is what only this package's options set.
type extra struct {
	dispatch Dispatch
	window   int
	credit   int
}

// The constructors, one target bit each.
const (
	forDistributor opt.Target = 1 << iota
	forWorker
	forAll = forDistributor | forWorker
)

var defaults = opt.Config[extra]{
	Interval:      DefaultHeartbeatInterval,
	Liveness:      DefaultLiveness,
	ReconnectInit: DefaultReconnectInit,
	ReconnectMax:  DefaultReconnectMax,
	MaxDeliveries: DefaultMaxDeliveries,
	X:             extra{window: DefaultWindow, credit: DefaultCredit},
}

func build(t opt.Target, ctor string, opts []Option) (opt.Config[extra], error) {
	os := make([]opt.Option[extra], len(opts))
	for i, o := range opts {
		os[i] = o.o
	}
	return opt.Build(defaults, t, ctor, ErrBadOption, os)
}

// WithHeartbeat sets the heartbeat interval and liveness (New, NewWorker;
// default DefaultHeartbeatInterval and DefaultLiveness): a peer sends
// HEARTBEAT every interval and counts the other dead after liveness
// intervals without a message from it. Each side's silence allowance must
// exceed the other's interval several times.
func WithHeartbeat(interval time.Duration, liveness int) Option {
	return Option{opt.Heartbeat[extra](forAll, interval, liveness)}
}

// WithReconnect sets a Worker's back-off after it finds its distributor
// silent (NewWorker; default DefaultReconnectInit and DefaultReconnectMax):
// its supervisor waits init before the session that says HELLO and READY
// again, twice as long after each further loss in a row, up to max.
func WithReconnect(init, max time.Duration) Option {
	return Option{opt.Reconnect[extra](forWorker, init, max)}
}

// WithMaxDeliveries sets how many times a demand-driven Distributor hands
// one task to a worker, the first included, when the workers it reached
// died or gave it back (New; default DefaultMaxDeliveries); then the task
// completes as failed (ErrTaskFailed) and is counted in Stats.Abandoned.
// Round-robin, which does not know where a task went, never gives one up.
func WithMaxDeliveries(n int) Option {
	return Option{opt.MaxDeliveries[extra](forDistributor, n)}
}

// WithRoundRobin makes a Distributor dispatch round-robin on a PUSH socket
// (the guide's taskvent) instead of by demand (New). Flow is then bounded
// by WithWindow and the sockets' high-water marks, not by credit. The PUSH
// does not say which worker a task went to, so Workers say ACK for the
// tasks they get, and the end of a connection to the task endpoint sends
// again only those no worker has (see Distributor).
func WithRoundRobin() Option {
	return Option{opt.New("WithRoundRobin", forDistributor, func(c *opt.Config[extra]) error {
		c.X.dispatch = RoundRobin
		return nil
	})}
}

// WithWindow bounds a Distributor's tasks in flight, all workers together,
// and so the credit it grants any one worker (New; default DefaultWindow).
func WithWindow(n int) Option {
	return Option{opt.New("WithWindow", forDistributor, func(c *opt.Config[extra]) error {
		if n < 1 {
			return fmt.Errorf("window %d", n)
		}
		c.X.window = n
		return nil
	})}
}

// WithCredit sets how many tasks a Worker may hold at once (NewWorker;
// default DefaultCredit): its credit, the PIPELINE of fileio3, at most the
// distributor's window and 2^20. It handles them one at a time; the others
// wait in its queue. Demand-driven dispatch only: round-robin has no
// credit, and a worker queues at most this many tasks before it stops
// reading its task socket (with a distributor older than ACK; otherwise it
// reads every task as it comes, to say ACK for it, and the distributor's
// window bounds its queue).
func WithCredit(n int) Option {
	return Option{opt.New("WithCredit", forWorker, func(c *opt.Config[extra]) error {
		if n < 1 || n > maxCredit {
			return fmt.Errorf("credit %d", n)
		}
		c.X.credit = n
		return nil
	})}
}

// WithSocketOptions passes options to every socket the distributor or
// worker makes (New, NewWorker): high-water marks, PLAIN security, a socket
// logger.
func WithSocketOptions(opts ...socket.Option) Option {
	return Option{opt.SocketOptions[extra](forAll, opts...)}
}

// WithLogger sets where the distributor or worker logs (New, NewWorker):
// dead workers, given-up tasks, dropped results and malformed messages at
// warn, and its actors' failures and restarts. Each distinct message is
// logged at most 10 times a second, and a peer's frame is shown truncated,
// so that a hostile peer cannot flood the log. The default logs nothing.
func WithLogger(l *zap.Logger) Option { return Option{opt.Logger[extra](forAll, l)} }

// WithObserver sets the observer of the distributor's or worker's actors
// (New, NewWorker): "distributor" (the ventilator and sink), "distributor
// worker" (a worker's session with the distributor) and "distributor worker
// handler", each under a supervisor named "<actor> supervisor". It sees each
// message handled, with its queueing and handling time, and every failure
// and restart. The distributor's counts (Stats: results, requeues, dead
// workers, credit, tasks in flight) reach it too, as figures of
// "distributor", when it implements actor.Figures, and a worker's
// (WorkerStats: tasks handled and failed, ACKs delayed) as figures of
// "distributor worker".
func WithObserver(o actor.Observer) Option { return Option{opt.Observer[extra](forAll, o)} }
