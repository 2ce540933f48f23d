package socket

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// ZMTP heartbeats (RFC 37): a peer that is frozen, or behind a network
// partition, sends no RST; its connection stays ESTABLISHED, messages queue
// for it and PUSH deals to it until the high-water mark. With heartbeats
// each side sends PING every interval and drops a peer from which nothing at
// all (a message, a PONG, anything) has come within the timeout after a
// PING; a PING also carries a TTL, asking the peer to drop us if it hears
// nothing from us for that long. A dialer then reconnects.

// WithHeartbeat turns on ZMTP heartbeats (libzmq's ZMQ_HEARTBEAT_IVL,
// ZMQ_HEARTBEAT_TIMEOUT and ZMQ_HEARTBEAT_TTL) for tcp and ipc connections:
// a PING falls due every interval; a peer that shows no sign of life within
// timeout of a PING falling due is disconnected, with ErrHeartbeat in the
// EventDisconnected. A sign of life is anything from the peer (a message, a
// PONG), or the peer taking bytes we had queued for it: a peer that reads a
// long backlog slowly is alive. While our own receive queue is full, and so
// the peer's PONGs wait unread, the peer is not judged. ttl, if not 0, asks
// the peer to drop us after that long without traffic from us (it is sent in
// tenths of a second, at most 6553.5 s). timeout 0 means the interval, as in
// libzmq. A TTL that a peer announces is honoured whether or not this option
// is set. Heartbeats cost a timer per connection and a PING per interval;
// without them a connection costs nothing for them.
func WithHeartbeat(interval, timeout, ttl time.Duration) Option {
	return optionFunc(func(o *options) error {
		switch {
		case interval <= 0:
			return fmt.Errorf("%w: heartbeat interval %v, want > 0", ErrBadOption, interval)
		case timeout < 0:
			return fmt.Errorf("%w: heartbeat timeout %v, want >= 0", ErrBadOption, timeout)
		case ttl < 0 || ttl > maxTTL:
			return fmt.Errorf("%w: heartbeat TTL %v, want 0 to %v", ErrBadOption, ttl, maxTTL)
		case ttl > 0 && ttl < 100*time.Millisecond:
			return fmt.Errorf("%w: heartbeat TTL %v: it travels in tenths of a second", ErrBadOption, ttl)
		}
		if timeout == 0 {
			timeout = interval
		}
		o.hbInterval, o.hbTimeout, o.hbTTL = interval, timeout, ttl
		return nil
	})
}

// maxTTL is the largest TTL a PING can carry: 16 bits of tenths of a second.
const maxTTL = math.MaxUint16 * 100 * time.Millisecond

// heartbeat watches one connection: it has the writer send PINGs, and ends
// the connection when the peer has been silent too long. It runs on a timer,
// not in the writer, so that a writer blocked on a peer that no longer reads
// (a frozen process fills the TCP window) cannot keep it from firing.
type heartbeat struct {
	c        *conn
	interval time.Duration // ours; 0: we send no PINGs, but honour the peer's TTL
	timeout  time.Duration

	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	signs    uint64    // signs of life when last looked at (see lifeSigns)
	heardAt  time.Time // when they were last seen to move
	nextPing time.Time
	waiting  bool      // a PING fell due, no sign of life since
	pingMark uint64    // the signs of life when it fell due
	deadline time.Time // when the wait ends
}

// lifeSigns is a count that moves whenever the peer shows it is alive: bytes
// came from it, or it took bytes we had queued for it (writes that went out
// while more waited: a peer that reads slowly is alive, and may have our
// PING stuck behind a large message). held is true while our own reader is
// held back by a full receive queue: then the peer's PONGs wait unread in
// the kernel, and it cannot be judged.
func (c *conn) lifeSigns() (n uint64, held bool) {
	return c.w.rb.reads.Load() + c.w.wb.progress.Load(), c.p.held.Load()
}

// startHeartbeat starts watching c if this socket sends heartbeats; a
// peer's TTL starts it later (see peerTTL).
func (c *conn) startHeartbeat() {
	o := &c.s.opts
	c.hb = &heartbeat{c: c, interval: o.hbInterval, timeout: o.hbTimeout}
	if o.hbInterval > 0 {
		c.hb.start(o.hbInterval)
	}
}

// start arms the timer, once.
func (h *heartbeat) start(first time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer != nil || h.stopped {
		return
	}
	now := time.Now()
	h.heardAt, h.nextPing = now, now.Add(h.interval)
	h.timer = time.AfterFunc(first, h.tick)
}

// peerTTL is called by the reader when a PING announces a TTL: without
// heartbeats of our own, the timer starts now.
func (h *heartbeat) peerTTL(ttl time.Duration) {
	if ttl > 0 {
		h.start(ttl)
	}
}

// stop ends the watch; the timer never fires again.
func (h *heartbeat) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.timer != nil {
		h.timer.Stop()
	}
}

// tick runs on the timer: it looks at what was heard, fails the connection
// if the peer has been silent too long, asks the writer for a PING when one
// is due, and sets the timer for whichever comes next.
func (h *heartbeat) tick() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	now := time.Now()
	signs, held := h.c.lifeSigns()
	if signs != h.signs || held {
		h.signs, h.heardAt = signs, now
		h.waiting = false
	}
	ttl := time.Duration(h.c.w.peerTTL.Load())
	switch {
	case h.waiting && !now.Before(h.deadline):
		h.c.fail(fmt.Errorf("%w: no sign of life within %v of a PING", ErrHeartbeat, h.timeout))
		return
	case ttl > 0 && now.Sub(h.heardAt) >= ttl:
		h.c.fail(fmt.Errorf("%w: nothing heard within the TTL of %v the peer asked for", ErrHeartbeat, ttl))
		return
	}
	next := now.Add(time.Hour)
	if h.interval > 0 {
		if !now.Before(h.nextPing) {
			h.c.owePing()
			h.nextPing = now.Add(h.interval)
			// The wait starts when the PING falls due, not when it is
			// written: a writer stuck on a peer that reads nothing may
			// never write it.
			if !h.waiting {
				h.waiting, h.pingMark, h.deadline = true, h.signs, now.Add(h.timeout)
			}
		}
		next = h.nextPing
		if h.waiting && h.deadline.Before(next) {
			next = h.deadline
		}
	}
	if ttl > 0 {
		// Looked at again a TTL after the last sign of life, or sooner.
		if at := h.heardAt.Add(ttl); at.Before(next) {
			next = at
		}
		if min := now.Add(ttl / 10); next.Before(min) {
			next = min
		}
	}
	h.timer.Reset(next.Sub(now))
}

// pingBody is a PING's body after its name: our TTL in tenths of a second,
// and no context.
func (s *Socket) pingBody() []byte {
	t := uint16(s.opts.hbTTL / (100 * time.Millisecond))
	return []byte{byte(t >> 8), byte(t)}
}
