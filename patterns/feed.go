package patterns

import (
	"context"
	"errors"
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
// The first Feed (or other actor.PolledFeed) an actor is given is read by
// the actor's own goroutine, between the messages of its mailbox, and then
// the gate holds back the very next message; any other Feed runs in a
// goroutine of its own. A socket that fails fails the actor. Close does
// nothing: the socket stays the caller's, to close after the actor ended. A wrap that panics fails the
// feed, and so the actor.
func Feed[M any](s *socket.Socket, wrap func(socket.Msg) M, gate *Gate) actor.Feed[M] {
	return &rawFeed[M]{s: s, wrap: wrap, gate: gate}
}

type rawFeed[M any] struct {
	s     *socket.Socket
	wrap  func(socket.Msg) M
	gate  *Gate
	drain drainBudget // when polled
}

func (f *rawFeed[M]) Run(ctx context.Context, in actor.Inlet[M]) error {
	for {
		if ended(ctx) { // Recv would take what is queued first
			return nil
		}
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

// Attach lets the actor read the socket itself (actor.PolledFeed): the
// first Feed an actor is given is read by the actor's own goroutine, one
// hand-over between goroutines fewer per message; any other is run.
func (f *rawFeed[M]) Attach(ctx context.Context, _ actor.Inlet[M]) (bool, error) {
	f.drain.attach(ctx)
	return true, nil
}

// Ready is closed once the socket has a message while the gate is open,
// or, while it is closed, once it opens.
func (f *rawFeed[M]) Ready() <-chan struct{} {
	if f.gate != nil {
		if opened := f.gate.openedChan(); opened != nil {
			return opened
		}
	}
	return f.s.Readable()
}

// Poll takes what the socket has, up to max messages; behind a gate one
// at a time, so that a gate the actor closes holds back the very next.
func (f *rawFeed[M]) Poll(in actor.Inlet[M], dst []M, max int) ([]M, error) {
	if f.gate != nil {
		if !f.gate.IsOpen() {
			return dst, nil
		}
		max = 1
	}
	max = f.drain.limit(f.s, max) // stopped: what the socket held, no more
	from := len(dst)
	var err error
	for range max {
		m, rerr := f.s.TryRecv()
		if rerr != nil {
			if !errors.Is(rerr, socket.ErrWouldBlock) {
				err = fmt.Errorf("patterns: %s: receive: %w", in.Name(), rerr)
			}
			break
		}
		dst = append(dst, f.wrap(m))
	}
	f.drain.took(len(dst) - from)
	return dst, err
}

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

// openedChan returns a channel closed when the gate opens, nil while it
// is open.
func (g *Gate) openedChan() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.opened
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
