package patterns

import (
	"context"
	"fmt"
	"sync"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/socket"
)

// Feed makes an entrance to an actor's mailbox from a socket the caller
// owns: each message received on s, frames as they are, goes into the
// mailbox as wrap(m). It is how an actor with several sockets reads them
// all, as a broker reads its frontend and its backend: one Feed per socket,
// each given with actor.WithFeed, wrap tagging where a message came from.
// The actor sends on the sockets itself, from Receive (a socket is safe for
// a sender and a receiver at once).
//
// While gate is closed (nil: never), the feed reads nothing more from s, so
// that messages wait in the socket and its peers feel the high-water mark:
// the guide's load balancer reads its clients only while a worker is idle.
// A message the feed was already receiving when the gate closed still goes
// in.
//
// Run returns when the actor stops, or with the socket's error when it
// fails (the actor then fails). Close does nothing: the socket stays the
// caller's, to close after the actor ended. A wrap that panics fails the
// feed, and so the actor.
func Feed[M any](s *socket.Socket, wrap func(socket.Msg) M, gate *Gate) actor.Feed[M] {
	return &rawFeed[M]{s: s, wrap: wrap, gate: gate}
}

type rawFeed[M any] struct {
	s    *socket.Socket
	wrap func(socket.Msg) M
	gate *Gate
}

func (f *rawFeed[M]) Run(ctx context.Context, in actor.Inlet[M]) error {
	for {
		if f.gate != nil {
			if err := f.gate.wait(ctx); err != nil {
				return nil
			}
		}
		m, err := f.s.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("patterns: %s: receive: %w", in.Name(), err)
		}
		if in.Put(f.wrap(m)) != nil {
			return nil // the actor is stopping
		}
	}
}

func (f *rawFeed[M]) Close() error { return nil }

// Gate holds a Feed back: closed, the feed receives nothing more until it
// opens again. It starts open. Its methods are safe for concurrent use;
// usually the actor the feed feeds opens and closes it from Receive.
type Gate struct {
	mu     sync.Mutex
	closed bool
	opened chan struct{} // closed when the gate opens; nil while open
}

// NewGate returns an open gate.
func NewGate() *Gate { return &Gate{} }

// Open lets the feed read again.
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.opened)
		g.opened = nil
	}
}

// Close holds the feed back after the message it may be receiving.
func (g *Gate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		g.opened = make(chan struct{})
	}
}

// IsOpen reports whether the gate is open.
func (g *Gate) IsOpen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.closed
}

// wait returns once the gate is open, or ctx's error.
func (g *Gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
