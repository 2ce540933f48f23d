package pirate

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
	a := newAttempt()
	a.watch(context.Background())
	a.begin(time.Millisecond)
	select {
	case <-a.Done():
	case <-time.After(bound):
		t.Fatal("attempt of 1 ms did not end")
	}
	if a.ended() != errAttempt || !errors.Is(a.Err(), context.DeadlineExceeded) {
		t.Fatalf("ended %v, Err %v; want errAttempt, DeadlineExceeded", a.ended(), a.Err())
	}
	a.begin(time.Hour) // the resend's attempt
	if a.Err() != nil {
		t.Fatalf("second attempt: Err %v", a.Err())
	}
	if !a.release() {
		t.Fatal("an attempt released before its time is not reusable")
	}
	a.watch(context.Background())
	a.begin(time.Hour)
	select {
	case <-a.Done():
		t.Fatal("the next Request's attempt is over at once")
	default:
	}
	if !a.release() {
		t.Fatal("not reusable after a second Request")
	}
}

// An attempt ends with its Request's ctx, and is not used again: the
// call that ended it may come late.
func TestAttemptEndsWithCtx(t *testing.T) {
	a := newAttempt()
	ctx, cancel := context.WithCancel(context.Background())
	a.watch(ctx)
	a.begin(time.Hour)
	cancel()
	select {
	case <-a.Done():
	case <-time.After(bound):
		t.Fatal("attempt did not end with its ctx")
	}
	if !errors.Is(a.ended(), context.Canceled) || !errors.Is(a.Err(), context.Canceled) {
		t.Fatalf("ended %v, Err %v; want Canceled", a.ended(), a.Err())
	}
	if a.release() {
		t.Fatal("an attempt whose ctx ended is reusable")
	}

	// A ctx that ends after its Request is done with the attempt does not
	// touch it.
	b := newAttempt()
	ctx, cancel = context.WithCancel(context.Background())
	b.watch(ctx)
	b.begin(time.Hour)
	if !b.release() {
		t.Fatal("attempt released before its ctx ended is not reusable")
	}
	cancel()
	b.watch(context.Background())
	b.begin(time.Hour)
	if b.Err() != nil {
		t.Fatalf("next Request's attempt: Err %v", b.Err())
	}
	b.release()
}

// A ctx that ends as its Request releases the attempt: the ctx's hook may
// run after release, and touches nothing release changed.
func TestAttemptCtxEndsAsReleased(t *testing.T) {
	for range 1000 {
		a := newAttempt()
		ctx, cancel := context.WithCancel(context.Background())
		a.watch(ctx)
		a.begin(time.Hour)
		go cancel()
		a.release()
	}
}
