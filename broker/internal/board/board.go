// Package board holds a broker's latest stats for its Stats and Wait
// methods: the broker's actor publishes a snapshot after each event; any
// goroutine may read it or wait for a condition on it.
package board

import (
	"context"
	"sync"

	"github.com/zmqflow/zmqflow/actor"
)

// Board holds the latest stats of a broker. Its methods are safe for
// concurrent use; the zero Board is ready.
type Board[S comparable] struct {
	mu      sync.Mutex
	stats   S
	changed chan struct{} // closed and replaced at a change, while someone waits
	waiters int
	figures actor.Figures // see Report; nil: none
	name    string
}

// Get returns the latest snapshot.
func (b *Board[S]) Get() S {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Publish records s and wakes the waiters if it differs from the last.
func (b *Board[S]) Publish(s S) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.publish(s)
}

// PublishFrom publishes the snapshot snap makes, taken under the board's
// lock: for stats kept in counters that several goroutines change, so that
// the snapshot published last is the latest taken. snap must not call the
// board.
func (b *Board[S]) PublishFrom(snap func() S) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.publish(snap())
}

// publish is Publish with b.mu held.
func (b *Board[S]) publish(s S) {
	if b.stats == s {
		return
	}
	b.stats = s
	if b.figures != nil {
		b.send(s, true)
	}
	if b.waiters > 0 && b.changed != nil {
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

// watching counts the caller among the waiters until the returned func
// runs; while it does, snapshot's channel is closed at every change.
func (b *Board[S]) watching() func() {
	b.mu.Lock()
	b.waiters++
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.waiters--
		b.mu.Unlock()
	}
}

// snapshot returns the latest stats and a channel closed at their next
// change (for callers inside watching).
func (b *Board[S]) snapshot() (S, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.stats, b.changed
}

// Wait blocks until cond holds for the stats (nil), ctx ends (ctx.Err()) or
// done is closed (closed, the package's ErrClosed). Stats published before
// done closed, or before ctx ended, that meet cond are reported as met
// (nil), even when Wait sees the ending first. cond runs in the caller's
// goroutine with no lock held.
func (b *Board[S]) Wait(ctx context.Context, done <-chan struct{}, closed error, cond func(S) bool) error {
	defer b.watching()()
	for {
		st, ch := b.snapshot()
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-done:
			return b.last(cond, closed)
		case <-ctx.Done():
			return b.last(cond, ctx.Err())
		}
	}
}

// last is Wait's last look once the wait has ended with err: a change that
// met cond may have come with the ending, and select picks either.
func (b *Board[S]) last(cond func(S) bool, err error) error {
	if cond(b.Get()) {
		return nil
	}
	return err
}
