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

// An attempt ends with its Request's ctx, and is not used again: the
// call that ended it may come late.
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
	if a.Release() {
		t.Fatal("an attempt whose ctx ended is reusable")
	}

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
