package broker

import (
	"context"
	"sync"
)

// statsBoard holds the latest stats of a broker for its Stats and Wait
// methods. The broker's loop goroutine publishes a new snapshot after each
// event; any goroutine may read it or wait for a condition on it.
type statsBoard[S comparable] struct {
	mu      sync.Mutex
	stats   S
	changed chan struct{} // closed and replaced at a change, while someone waits
	waiters int
}

// get returns the latest snapshot.
func (b *statsBoard[S]) get() S {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// publish records s and wakes the waiters if it differs from the last.
func (b *statsBoard[S]) publish(s S) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stats == s {
		return
	}
	b.stats = s
	if b.waiters > 0 && b.changed != nil {
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

// watching counts the caller among the waiters until the returned func
// runs; while it does, snapshot's channel is closed at every change.
func (b *statsBoard[S]) watching() func() {
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
func (b *statsBoard[S]) snapshot() (S, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.stats, b.changed
}

// wait blocks until cond holds for the stats (nil), ctx ends (ctx.Err()) or
// done is closed (ErrClosed). cond runs in the caller's goroutine with no
// lock held.
func (b *statsBoard[S]) wait(ctx context.Context, done <-chan struct{}, cond func(S) bool) error {
	defer b.watching()()
	for {
		st, ch := b.snapshot()
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
