package attempt

import (
	"context"
	"errors"
	"testing"
	"time"
)

// bound is how long these tests wait for what must happen at once.
const bound = 60 * time.Second

// An attempt ends when its time is up, and serves the next attempt and the
// next Request; an attempt that is released in time leaves nothing behind.
func TestAttemptExpiresAndIsUsedAgain(t *testing.T) {
	a := New()
	a.Watch(context.Background())
	a.Begin(time.Millisecond)
	select {
	case <-a.Done():
	case <-time.After(bound):
		t.Fatal("attempt of 1 ms did not end")
	}
	if a.Ended() != ErrExpired || !errors.Is(a.Err(), context.DeadlineExceeded) {
		t.Fatalf("ended %v, Err %v; want ErrExpired, DeadlineExceeded", a.Ended(), a.Err())
	}
	a.Begin(time.Hour) // the resend's attempt
	if a.Err() != nil {
		t.Fatalf("second attempt: Err %v", a.Err())
	}
	if !a.Release() {
		t.Fatal("an attempt released before its time is not reusable")
	}
	a.Watch(context.Background())
	a.Begin(time.Hour)
	select {
	case <-a.Done():
		t.Fatal("the next Request's attempt is over at once")
	default:
	}
	if !a.Release() {
		t.Fatal("not reusable after a second Request")
	}
}

// An attempt ends with its Request's ctx, and serves the next Request: the
// hook that ended it, should it run again late, ends nothing of the next.
func TestAttemptEndsWithCtx(t *testing.T) {
	a := New()
	ctx, cancel := context.WithCancel(context.Background())
	a.Watch(ctx)
	a.Begin(time.Hour)
	cancel()
	select {
	case <-a.Done():
	case <-time.After(bound):
		t.Fatal("attempt did not end with its ctx")
	}
	if !errors.Is(a.Ended(), context.Canceled) || !errors.Is(a.Err(), context.Canceled) {
		t.Fatalf("ended %v, Err %v; want Canceled", a.Ended(), a.Err())
	}
	if !a.Release() {
		t.Fatal("an attempt whose ctx ended, with no clock on its way, is not reusable")
	}
	a.Watch(context.Background())
	a.Begin(time.Hour)
	a.hook() // the ended ctx's hook, late
	if a.Err() != nil {
		t.Fatalf("next Request's attempt after a late hook: Err %v", a.Err())
	}
	a.Release()

	// A ctx that ends after its Request is done with the attempt does not
	// touch it.
	b := New()
	ctx, cancel = context.WithCancel(context.Background())
	b.Watch(ctx)
	b.Begin(time.Hour)
	if !b.Release() {
		t.Fatal("attempt released before its ctx ended is not reusable")
	}
	cancel()
	b.Watch(context.Background())
	b.Begin(time.Hour)
	if b.Err() != nil {
		t.Fatalf("next Request's attempt: Err %v", b.Err())
	}
	b.Release()
}

// A ctx that ends as its Request releases the attempt: the ctx's hook may
// run after release, and touches nothing release changed.
func TestAttemptCtxEndsAsReleased(t *testing.T) {
	for range 1000 {
		a := New()
		ctx, cancel := context.WithCancel(context.Background())
		a.Watch(ctx)
		a.Begin(time.Hour)
		go cancel()
		a.Release()
	}
}

// A ctx that ends between two attempts of a Request ends the second at
// once: its hook found the first over, and ended nothing.
func TestAttemptCtxEndedBetweenAttempts(t *testing.T) {
	a := New()
	ctx, cancel := context.WithCancel(context.Background())
	a.Watch(ctx)
	a.Begin(time.Millisecond)
	select {
	case <-a.Done():
	case <-time.After(bound):
		t.Fatal("attempt of 1 ms did not end")
	}
	cancel()
	a.hook() // as the hook runs, on the attempt that expired: nothing
	a.Begin(time.Hour)
	if !errors.Is(a.Err(), context.Canceled) {
		t.Fatalf("attempt begun after its ctx ended: Err %v, want Canceled", a.Err())
	}
	a.Release()
}

// An attempt begun with no time limit ends only with its ctxs.
func TestAttemptWithoutClock(t *testing.T) {
	a := New()
	ctx, cancel := context.WithCancel(context.Background())
	a.Watch(ctx)
	a.Begin(0)
	if a.armed || a.Err() != nil {
		t.Fatalf("attempt with no limit: clock set %v, Err %v", a.armed, a.Err())
	}
	cancel()
	select {
	case <-a.Done():
	case <-time.After(bound):
		t.Fatal("attempt with no limit did not end with its ctx")
	}
	if !a.Release() {
		t.Fatal("an attempt with no clock is not reusable")
	}
}

// An Attempt made within a life ends every attempt when the life ends,
// the one in progress and any begun after, watching it once.
func TestAttemptWithinLife(t *testing.T) {
	life, end := context.WithCancel(context.Background())
	a := NewWithin(life)
	for range 3 {
		a.Watch(context.Background())
		a.Begin(time.Hour)
		if a.Err() != nil {
			t.Fatalf("attempt within a life that goes on: Err %v", a.Err())
		}
		if !a.Release() {
			t.Fatal("not reusable")
		}
	}
	a.Watch(context.Background())
	a.Begin(0)
	end()
	select {
	case <-a.Done():
	case <-time.After(bound):
		t.Fatal("attempt did not end with its life")
	}
	a.Release()
	a.Watch(context.Background())
	a.Begin(time.Hour)
	if !errors.Is(a.Err(), context.Canceled) {
		t.Fatalf("attempt begun after its life ended: Err %v, want Canceled", a.Err())
	}
	a.Release()
}
