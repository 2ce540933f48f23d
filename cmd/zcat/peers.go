package main

import (
	"context"
	"sync"

	"github.com/zmqflow/zmqflow/socket"
)

// peers follows the socket's monitor events to know which connections are
// established: how many in all (for -wait-peers) and on which endpoint (so
// that exit can tell whether a connected endpoint's queue went out).
type peers struct {
	mu      sync.Mutex
	total   int
	byEP    map[string]int
	seen    map[string]bool // established at or since the last send
	sentAny bool
	changed chan struct{} // closed and replaced at every change
	done    chan struct{} // closed when the event stream ends (socket closed)
}

// trackPeers consumes events until the channel closes. logf, if not nil,
// is told every event.
func trackPeers(events <-chan socket.Event, logf func(socket.Event)) *peers {
	p := &peers{byEP: map[string]int{}, seen: map[string]bool{}, changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ev := range events {
			p.note(ev)
			if logf != nil {
				logf(ev)
			}
		}
	}()
	return p
}

func (p *peers) note(ev socket.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Kind {
	case socket.EventHandshakeOK:
		p.total++
		p.byEP[ev.Endpoint]++
		p.seen[ev.Endpoint] = true
	case socket.EventDisconnected:
		p.total--
		p.byEP[ev.Endpoint]--
	default:
		return
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait returns once cond holds (checked under the lock at every change), or
// with ctx's error.
func (p *peers) wait(ctx context.Context, cond func() bool) error {
	for {
		p.mu.Lock()
		ok, changed := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// atLeast waits until n peers are established.
func (p *peers) atLeast(ctx context.Context, n int) error {
	return p.wait(ctx, func() bool { return p.total >= n })
}

// sent notes a send: an endpoint not connected now may get part of it queued.
func (p *peers) sent() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sentAny = true
	for ep, n := range p.byEP { // seen has no endpoint that byEP lacks
		p.seen[ep] = n > 0
	}
}

// undelivered lists the endpoints of eps not connected since the last
// send, if anything was sent.
func (p *peers) undelivered(eps []string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.sentAny {
		return nil
	}
	var out []string
	for _, ep := range eps {
		if !p.seen[ep] {
			out = append(out, ep)
		}
	}
	return out
}
