package actor

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sync"
)

// WithOutput hands the actor o, something its behaviour sends through (a
// socket reference of package patterns, say, to the stage downstream), to
// release once the actor has ended for good, after its feeds: with
// Shutdown(ctx) where o has it (see ShutdownFeed) and Stop ended the actor,
// Stop's ctx bounding the wait; with Close otherwise. A supervisor stops its
// children one after the other, last first, and each child's outputs are
// released before the next one stops: so when the stages of a pipeline are
// its children, what a stage sent through its output is delivered (as far
// as o's Shutdown goes: patterns.Outbox's waits for its peers to confirm
// it) before the stage downstream of it drains.
//
// An output given to several actors (the workers of a pool) is released
// when the last of them ends; one given to an actor that never runs (Spawn
// or Supervise refused its options) is released then, unless another actor
// holds it. Holding and releasing are one decision: an actor made with an
// output whose release has begun is refused (ErrBadOption) rather than
// handed an output closed under it. An output whose release fails makes
// the actor's end a failure (Actor.Err, and its ActorStopped for a
// supervised child), as what the actor sent may not have reached its
// peers. o must be comparable (a pointer, as an Outbox is); an output that
// is not is an ErrBadOption.
func WithOutput(o io.Closer) Option {
	return option{forActor, func(c *config) error {
		if o == nil {
			return fmt.Errorf("%w: nil output", ErrBadOption)
		}
		if !reflect.TypeOf(o).Comparable() {
			return fmt.Errorf("%w: output of type %T is not comparable", ErrBadOption, o)
		}
		c.outputs = append(c.outputs, o)
		return nil
	}}
}

// outputs counts the actors that hold each output given to WithOutput: the
// last to end releases it. An output whose release has been decided stays
// in held, as releasing, until it is done: the decision and the count are
// one step under the lock, so an actor made meanwhile with the same output
// is refused (holdOutputs) rather than handed an output being closed under
// it.
var outputs = struct {
	sync.Mutex
	held map[io.Closer]int // holders; releasing while its release runs
}{held: map[io.Closer]int{}}

// releasing marks an output in outputs.held whose release runs.
const releasing = -1

// holdOutputs records that an actor holds os, until releaseOutputs. It
// holds none of them if one is being released (ErrBadOption).
func holdOutputs(os []io.Closer) error {
	outputs.Lock()
	defer outputs.Unlock()
	for _, o := range os {
		if outputs.held[o] == releasing {
			return fmt.Errorf("%w: output %T is being released by the last actor that held it", ErrBadOption, o)
		}
	}
	for _, o := range os {
		outputs.held[o]++
	}
	return nil
}

// releaseOutputs lets go of os, held by an actor that has ended for good,
// and releases those it was the last to hold (see WithOutput); ctx is
// Stop's, or nil. It returns the first error of their release.
func releaseOutputs(ctx context.Context, os []io.Closer) error {
	var first error
	for _, o := range os {
		outputs.Lock()
		n := outputs.held[o] - 1
		if n > 0 {
			outputs.held[o] = n
		} else {
			outputs.held[o] = releasing
		}
		outputs.Unlock()
		if n > 0 {
			continue
		}
		if err := release(ctx, o); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// abandonOutputs releases os, given to an actor that never ran, but those
// another actor holds or whose release already runs.
func abandonOutputs(os []io.Closer) {
	for _, o := range os {
		outputs.Lock()
		_, known := outputs.held[o] // held, or being released
		if !known {
			outputs.held[o] = releasing
		}
		outputs.Unlock()
		if !known {
			_ = release(nil, o)
		}
	}
}

// release releases o, marked releasing, and forgets it.
func release(ctx context.Context, o io.Closer) error {
	defer func() {
		outputs.Lock()
		delete(outputs.held, o)
		outputs.Unlock()
	}()
	return releaseFeed(ctx, o)
}
