// Package run is what every broker is made of: its sockets, and its actors
// under one supervisor. Start supervises the actors; Close stops them, then
// closes the sockets, so that each broker has no loop, cancel function, done
// channel or close-once of its own.
package run

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// Group is a running broker (or worker, or client): a supervisor of its
// actors and the sockets they use. Its methods are safe for concurrent use.
type Group struct {
	sup     *actor.Supervisor
	sockets []*socket.Socket
	once    sync.Once
	err     error
}

// Start starts children under a OneForOne supervisor named name (opts are
// the supervisor's: observer, logger, intensity) and returns once they all
// started. The group owns sockets from here on: if a child fails to start,
// they are closed before Start returns the error.
func Start(ctx context.Context, name string, sockets []*socket.Socket, children []actor.ChildSpec, opts ...actor.Option) (*Group, error) {
	sup, err := actor.Supervise(ctx, actor.OneForOne, children, append([]actor.Option{actor.WithName(name)}, opts...)...)
	if err != nil {
		CloseAll(sockets)
		return nil, err
	}
	return &Group{sup: sup, sockets: sockets}, nil
}

// Done is closed when the group ended: closed, or its supervisor gave up
// after too many failures (Err says why).
func (g *Group) Done() <-chan struct{} { return g.sup.Done() }

// Err is nil while the group runs and after Close; otherwise the failure
// that made its supervisor give up.
func (g *Group) Err() error { return g.sup.Err() }

// Close stops the actors (the message each is handling is cancelled), then
// closes the sockets, and returns after all have ended: with the failure
// that ended the group early, if one did. Later calls return nil.
func (g *Group) Close() error {
	var err error
	g.once.Do(func() {
		err = errors.Join(g.sup.Close(), CloseAll(g.sockets))
	})
	return err
}

// CloseAll closes the sockets that are not nil.
func CloseAll(sockets []*socket.Socket) error {
	var errs []error
	for _, s := range sockets {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// Open makes a socket of type t with opts and binds it to ep, or connects
// it when ep starts with '>' (CZMQ's convention; a leading '@' means bind).
// It returns the endpoint as bound (the port resolved) or connected. On
// error the socket is closed.
func Open(t socket.Type, ep string, opts []socket.Option) (*socket.Socket, string, error) {
	s, err := socket.New(t, opts...)
	if err != nil {
		return nil, "", err
	}
	// ep stays what was asked for until it worked: the error names it
	// (Bind returns "" on error).
	var done string
	if rest, ok := strings.CutPrefix(ep, ">"); ok {
		ep = rest
		err, done = s.Connect(ep), ep
	} else {
		ep = strings.TrimPrefix(ep, "@")
		done, err = s.Bind(ep)
	}
	if err != nil {
		s.Close()
		if strings.Contains(err.Error(), ep) { // said once is enough
			return nil, "", fmt.Errorf("%v: %w", t, err)
		}
		return nil, "", fmt.Errorf("%v %s: %w", t, ep, err)
	}
	return s, done, nil
}

// Call runs a worker's handler h on in, and returns a panic in it as an
// error (an *actor.PanicError, zmqflow's one panic type), so that the
// worker gives the request back instead of dying.
func Call[In, Out any](ctx context.Context, h func(context.Context, In) (Out, error), in In) (out Out, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &actor.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return h(ctx, in)
}
