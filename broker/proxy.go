package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/zmqflow/zmqflow/socket"
)

// Proxy passes messages between frontend and backend, both ways, until ctx
// ends or a socket fails: libzmq's zmq_proxy (guide ch. 2 "Intermediaries
// and Proxies", "ZeroMQ's Built-In Proxy Function"). Each message received
// on one is sent on the other as it is. With a capture socket (non-nil),
// each is sent there too before it goes on (ch. 5 "Espresso Pattern"); a
// capture socket that blocks (PUSH, PAIR with no room) holds the proxy up,
// one that drops (PUB) does not.
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
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	pass := func(from, to *socket.Socket) {
		for {
			m, err := from.Recv(ctx)
			if err == nil && capture != nil {
				err = capture.Send(ctx, m)
			}
			if err == nil {
				err = to.Send(ctx, m)
			}
			if err != nil {
				cancel()
				errs <- err
				return
			}
		}
	}
	// A direction runs only where the types allow it: a PUSH or PUB has
	// nothing to read, a PULL or SUB cannot send (zmq_proxy polls them
	// and never sees anything).
	n := 0
	for _, d := range [][2]*socket.Socket{{frontend, backend}, {backend, frontend}} {
		if canRecv(d[0].Type()) && canSend(d[1].Type()) {
			n++
			go pass(d[0], d[1])
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: nothing can pass from %v to %v or back", ErrBadOption, frontend.Type(), backend.Type())
	}
	var errList []error
	for range n {
		errList = append(errList, <-errs)
	}
	for _, e := range errList {
		if !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
			return fmt.Errorf("broker: proxy: %w", e)
		}
	}
	return parent.Err()
}

func canRecv(t socket.Type) bool { return t != socket.Push && t != socket.Pub }
func canSend(t socket.Type) bool { return t != socket.Pull && t != socket.Sub }

// Queue is the guide's shared queue (ch. 2 "Shared Queue (DEALER and ROUTER
// sockets)", msgqueue): REQ clients talk to its ROUTER frontend, REP
// workers to its DEALER backend, and requests and replies pass through with
// their envelopes.
//
// Concurrency: safe for concurrent use. NewQueue starts the proxy's
// goroutines; Close stops them, closes the sockets and returns after all
// have ended.
type Queue struct{ device }

// NewQueue makes a Queue and starts it. Each endpoint is bound, or
// connected when written with a leading '>' (CZMQ's convention; a leading
// '@' means bind). Options: WithCapture, WithSocketOptions.
func NewQueue(frontend, backend string, opts ...Option) (*Queue, error) {
	q := &Queue{}
	if err := q.start(socket.Router, frontend, socket.Dealer, backend, opts); err != nil {
		return nil, fmt.Errorf("broker: queue: %w", err)
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

// NewForwarder makes a Forwarder and starts it; endpoints and options as
// NewQueue's. A forwarder usually connects to the publisher
// (">tcp://server:5556") and binds for its subscribers.
func NewForwarder(frontend, backend string, opts ...Option) (*Forwarder, error) {
	f := &Forwarder{}
	if err := f.start(socket.XSub, frontend, socket.XPub, backend, opts); err != nil {
		return nil, fmt.Errorf("broker: forwarder: %w", err)
	}
	return f, nil
}

// device is a running Proxy with its own sockets.
type device struct {
	front, back, capture *socket.Socket
	eps                  [3]string
	cancel               context.CancelFunc
	done                 chan struct{}
	err                  error // Proxy's, once done
	closeOnce            sync.Once
}

func (d *device) start(ft socket.Type, fep string, bt socket.Type, bep string, opts []Option) (err error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			d.closeSockets()
		}
	}()
	open := func(t socket.Type, ep string) (*socket.Socket, string, error) {
		s, err := socket.New(t, append([]socket.Option{socket.WithLinger(0)}, cfg.sockOpts...)...)
		if err != nil {
			return nil, "", err
		}
		if rest, ok := strings.CutPrefix(ep, ">"); ok {
			return s, rest, s.Connect(rest)
		}
		ep, err = s.Bind(strings.TrimPrefix(ep, "@"))
		return s, ep, err
	}
	if d.front, d.eps[0], err = open(ft, fep); err != nil {
		return err
	}
	if d.back, d.eps[1], err = open(bt, bep); err != nil {
		return err
	}
	if cfg.captureEnabled {
		if d.capture, d.eps[2], err = open(cfg.captureType, cfg.captureEP); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		d.err = Proxy(ctx, d.front, d.back, d.capture)
	}()
	return nil
}

// Frontend returns the frontend's endpoint, bound (port resolved) or
// connected.
func (d *device) Frontend() string { return d.eps[0] }

// Backend returns the backend's endpoint.
func (d *device) Backend() string { return d.eps[1] }

// Capture returns the capture socket's endpoint, "" without WithCapture.
func (d *device) Capture() string { return d.eps[2] }

// Close stops the proxy and closes its sockets, dropping messages on their
// way. It returns after the proxy's goroutines have ended, with the error
// that stopped the proxy early, if one did. Calls after the first return
// nil.
func (d *device) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.done
		err = d.closeSockets()
		if d.err != nil && !errors.Is(d.err, context.Canceled) {
			err = errors.Join(d.err, err)
		}
	})
	return err
}

func (d *device) closeSockets() error {
	var errs []error
	for _, s := range []*socket.Socket{d.front, d.back, d.capture} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
