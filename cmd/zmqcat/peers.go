package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/zmqflow/zmqflow/socket"
)

// peers follows the socket's monitor events: how many connections are
// established (for -wait-peers), which endpoints are up or never came up
// (to say where discarded messages were going), and why a connect failed.
type peers struct {
	mu      sync.Mutex
	total   int
	eps     map[string]*endpointState
	closing bool          // Shutdown began: its own disconnects are not outages
	changed chan struct{} // closed and replaced at every change of total
	done    chan struct{} // closed when the event stream ends (socket closed)
}

type endpointState struct {
	up      int    // connections established now
	ever    bool   // established at least once
	dropped bool   // a connection just ended: the retry event that follows is about it
	cause   string // the last connect failure reported (see causeKey)
}

// trackPeers consumes events until the channel closes. With verbose, every
// event is written to errOut; without, only a connect failure whose cause is
// new for its endpoint, so that a peer that is not there is not silent but
// its retries do not flood stderr.
func trackPeers(events <-chan socket.Event, verbose bool, errOut *lockedWriter) *peers {
	p := &peers{eps: map[string]*endpointState{}, changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ev := range events {
			newCause := p.note(ev)
			switch {
			case verbose && ev.Kind != socket.EventListening: // open reports those
				errOut.line(ev)
			case !verbose && newCause:
				errOut.line(fmt.Sprintf("connect %s: %v (retrying)", ev.Endpoint, ev.Err))
			}
		}
	}()
	return p
}

func (p *peers) ep(name string) *endpointState {
	s := p.eps[name]
	if s == nil {
		s = &endpointState{}
		p.eps[name] = s
	}
	return s
}

// note records ev; it says whether ev is a failed connect with a cause not
// reported yet for its endpoint.
func (p *peers) note(ev socket.Event) (newCause bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.ep(ev.Endpoint)
	switch ev.Kind {
	case socket.EventHandshakeOK:
		p.total++
		s.up++
		s.ever = true
	case socket.EventDisconnected:
		s.dropped = true
		if p.closing {
			return false
		}
		p.total--
		s.up--
	case socket.EventConnectRetried:
		// After a connection ends, the dialer reports the same error again
		// as the reason to redial: that is a disconnect, not a failed connect.
		if s.dropped || ev.Err == nil {
			s.dropped = false
			return false
		}
		key := causeKey(ev.Err)
		if key == s.cause {
			return false
		}
		s.cause = key
		return true
	default:
		return false
	}
	close(p.changed)
	p.changed = make(chan struct{})
	return false
}

// causeKey tells connect failures apart: by their text, but for a failed
// lookup without the DNS server that answered (one of several, perhaps).
func causeKey(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "lookup " + dns.Name + ": " + dns.Err
	}
	return err.Error()
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

// shuttingDown is called before Shutdown: the connections it closes still
// count as up, so that down tells what was down when zmqcat gave up.
func (p *peers) shuttingDown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closing = true
}

// down describes the endpoints of eps with no connection up:
// "EP never connected" or "EP disconnected".
func (p *peers) down(eps []string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, ep := range eps {
		switch s := p.eps[ep]; {
		case s == nil || !s.ever:
			out = append(out, ep+" never connected")
		case s.up <= 0:
			out = append(out, ep+" disconnected")
		}
	}
	return out
}
