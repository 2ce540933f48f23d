// Package proxy is the guide's proxies: libzmq's zmq_proxy as a function
// (Proxy), and two proxies that run on their own, the shared queue (Queue)
// and the pub-sub forwarder (Forwarder), each with an optional capture
// socket.
//
//	Guide ("ZeroMQ - The Guide", https://zguide.zeromq.org)  Here
//	Ch. 2 "Intermediaries and Proxies", "ZeroMQ's Built-In
//	      Proxy Function"                                    Proxy
//	Ch. 2 "Shared Queue (DEALER and ROUTER sockets)"         Queue
//	Ch. 2 "Transport Bridging" (wuproxy)                     Forwarder
//	Ch. 5 "Pub-Sub Tracing (Espresso Pattern)"               WithCapture
//
// A Queue or a Forwarder is a supervised group of two actors (package
// actor), one per direction, whose mailboxes are the sockets they read
// from: each passes what it receives on to the other socket. They report
// to an actor.Observer (WithObserver): every message handled, with its
// queueing and sending time, and any failure.
package proxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/broker/internal/run"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// Errors returned by the package, wrapped with detail and matched with
// errors.Is.
var (
	// ErrBadOption is an option value out of range, or a Proxy call
	// without two sockets that can pass anything.
	ErrBadOption = errors.New("proxy: invalid option")
	// ErrClosed is a proxy that was closed, or failed for good.
	ErrClosed = errors.New("proxy: closed")
)

// Proxy passes messages between frontend and backend, both ways, until ctx
// ends or a socket fails: libzmq's zmq_proxy. Each message received on one
// is sent on the other as it is. With a capture socket (non-nil), each is
// sent there too before it goes on (the Espresso pattern); a capture socket
// that blocks (PUSH, PAIR with no room) holds the proxy up, one that drops
// (PUB) does not.
//
// ROUTER frontend and DEALER backend make a shared queue (msgqueue), XSUB
// and XPUB a forwarder whose subscriptions go upstream (wuproxy); any pair
// of socket types that makes sense works.
//
// Proxy runs a goroutine per direction that the socket types allow (none
// from a PUSH or PUB, none to a PULL or SUB), and returns after they have
// ended: with ctx.Err() when ctx ended, otherwise the first socket error.
// It does not close the sockets. The sockets must not be read by anyone
// else meanwhile; sending to them, as package socket allows, is fine.
func Proxy(ctx context.Context, frontend, backend, capture *socket.Socket) error {
	if frontend == nil || backend == nil {
		return fmt.Errorf("%w: Proxy needs a frontend and a backend", ErrBadOption)
	}
	dirs := directions(frontend, backend)
	if len(dirs) == 0 {
		return fmt.Errorf("%w: nothing can pass from %v to %v or back", ErrBadOption, frontend.Type(), backend.Type())
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(dirs))
	for _, d := range dirs {
		go func() {
			p := pass{to: d.to, capture: capture}
			for {
				m, err := d.from.Recv(ctx)
				if err == nil {
					err = p.Receive(ctx, m)
				}
				if err != nil {
					cancel()
					errs <- err
					return
				}
			}
		}()
	}
	var errList []error
	for range dirs {
		errList = append(errList, <-errs)
	}
	for _, e := range errList {
		if !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
			return fmt.Errorf("proxy: %w", e)
		}
	}
	return parent.Err()
}

// direction is one way a proxy passes messages.
type direction struct {
	name     string
	from, to *socket.Socket
}

// directions are the ways the socket types allow: a PUSH or PUB has nothing
// to read, a PULL or SUB cannot send (zmq_proxy polls them and never sees
// anything).
func directions(frontend, backend *socket.Socket) []direction {
	var ds []direction
	if canRecv(frontend.Type()) && canSend(backend.Type()) {
		ds = append(ds, direction{"frontend->backend", frontend, backend})
	}
	if canRecv(backend.Type()) && canSend(frontend.Type()) {
		ds = append(ds, direction{"backend->frontend", backend, frontend})
	}
	return ds
}

func canRecv(t socket.Type) bool { return t != socket.Push && t != socket.Pub }
func canSend(t socket.Type) bool { return t != socket.Pull && t != socket.Sub }

// pass is the behaviour of one direction: a message received on one socket
// goes to the capture socket, then on to the other.
type pass struct {
	to, capture *socket.Socket
}

func (p pass) Receive(ctx context.Context, m socket.Msg) error {
	if p.capture != nil {
		if err := p.capture.Send(ctx, m); err != nil {
			return fmt.Errorf("capture: %w", err)
		}
	}
	return p.to.Send(ctx, m)
}

// Queue is the guide's shared queue (ch. 2 "Shared Queue (DEALER and ROUTER
// sockets)", msgqueue): REQ clients talk to its ROUTER frontend, REP
// workers to its DEALER backend, and requests and replies pass through with
// their envelopes.
//
// Concurrency: safe for concurrent use. NewQueue starts its actors; Close
// stops them, closes the sockets and returns after all have ended.
type Queue struct{ device }

// NewQueue makes a Queue and starts it. Each endpoint is bound, or
// connected when written with a leading '>' (CZMQ's convention; a leading
// '@' means bind).
func NewQueue(frontend, backend string, opts ...Option) (*Queue, error) {
	q := &Queue{}
	if err := q.start("queue", socket.Router, frontend, socket.Dealer, backend, opts); err != nil {
		return nil, fmt.Errorf("proxy: queue: %w", err)
	}
	return q, nil
}

// Forwarder is the guide's pub-sub forwarder (ch. 2 "Transport Bridging",
// wuproxy): publishers reach its XSUB frontend, subscribers its XPUB
// backend; messages go downstream and subscriptions upstream, so a
// publisher sends only what some subscriber behind the proxy wants.
//
// Concurrency: as Queue.
type Forwarder struct{ device }

// NewForwarder makes a Forwarder and starts it; endpoints as NewQueue's. A
// forwarder usually connects to the publisher (">tcp://server:5556") and
// binds for its subscribers.
func NewForwarder(frontend, backend string, opts ...Option) (*Forwarder, error) {
	f := &Forwarder{}
	if err := f.start("forwarder", socket.XSub, frontend, socket.XPub, backend, opts); err != nil {
		return nil, fmt.Errorf("proxy: forwarder: %w", err)
	}
	return f, nil
}

// device is a proxy with its own sockets, run as a supervised actor per
// direction.
type device struct {
	g   *run.Group
	eps [3]string
}

func (d *device) start(name string, ft socket.Type, fep string, bt socket.Type, bep string, opts []Option) error {
	cfg, err := build(opts)
	if err != nil {
		return err
	}
	var socks [3]*socket.Socket
	sockOpts := append([]socket.Option{socket.WithLinger(0)}, cfg.SockOpts...)
	open := func(i int, t socket.Type, ep string) error {
		s, ep, err := run.Open(t, ep, sockOpts)
		socks[i], d.eps[i] = s, ep
		return err
	}
	err = open(0, ft, fep)
	if err == nil {
		err = open(1, bt, bep)
	}
	if c := cfg.X.capture; err == nil && c.enabled {
		err = open(2, c.typ, c.endpoint)
	}
	if err != nil {
		run.CloseAll(socks[:])
		return err
	}
	var children []actor.ChildSpec
	for _, dir := range directions(socks[0], socks[1]) {
		p := pass{to: dir.to, capture: socks[2]}
		children = append(children, actor.NewChild(name+" "+dir.name,
			func() actor.Behavior[socket.Msg] { return p },
			actor.WithFeed(patterns.Feed(dir.from, func(m socket.Msg) socket.Msg { return m }, nil))))
	}
	d.g, err = run.Start(context.Background(), name, socks[:], children, cfg.Supervision()...)
	return err
}

// Frontend returns the frontend's endpoint, bound (port resolved) or
// connected.
func (d *device) Frontend() string { return d.eps[0] }

// Backend returns the backend's endpoint.
func (d *device) Backend() string { return d.eps[1] }

// Capture returns the capture socket's endpoint, "" without WithCapture.
func (d *device) Capture() string { return d.eps[2] }

// Done is closed when the proxy has ended: closed, or failed for good (a
// socket that kept failing), when Err says why.
func (d *device) Done() <-chan struct{} { return d.g.Done() }

// Err is nil while the proxy runs and after Close; otherwise why it failed.
func (d *device) Err() error {
	if err := d.g.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// Close stops the proxy and closes its sockets, dropping messages on their
// way. It returns after the proxy's goroutines have ended, with the error
// that stopped the proxy early, if one did. Calls after the first return
// nil.
func (d *device) Close() error { return d.g.Close() }
