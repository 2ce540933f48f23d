package actor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
)

// TellAny tells m to one of refs, as ZeroMQ's PUSH deals a message to one
// of its PULL peers: to the first, from refs[from] on in turn (from is taken
// modulo len(refs)), whose mailbox has room; when every mailbox is full, it
// waits within ctx for whichever makes room first and tells m to that one.
// It returns the index in refs of the actor that took m. A dropping or
// Unbounded mailbox always has room, as for Tell.
//
// The refs must reach actors in this process (Spawn, Child.Ref): the room of
// a Remote cannot be waited on, and TellAny returns ErrBadOption for one. An
// actor that is stopping or gone (or a Child not supervised yet, or the zero
// Ref) is passed over without a dead letter. Only when every one is gone does
// TellAny return ErrStopped, and m is then reported once, as a dead letter of
// the first of them that has a mailbox. When ctx ends first TellAny returns
// ErrMailboxFull wrapping ctx's error, and m stays with the caller, as with
// Tell.
//
// TellAny is safe for concurrent use, with itself (on the same refs or
// overlapping ones) and with Tell. It waits without a goroutine of its own:
// it registers as a sender waiting for room on each full mailbox, and each
// actor wakes its waiters when it takes the next batch, stops, or is halted.
// Woken, it offers m again from the actor that woke it, then the others in
// turn; another sender may have taken the room first, and then it waits
// again. It withdraws every registration before it returns. Tell does not pay
// for any of this: the registration is the one a blocked Tell makes.
func TellAny[M any](ctx context.Context, refs []Ref[M], from int, m M) (int, error) {
	return tellAny(ctx, refs, from, m, true)
}

// TryTellAny is TellAny that never blocks: when every mailbox is full it
// returns ErrMailboxFull at once, and m stays with the caller.
func TryTellAny[M any](refs []Ref[M], from int, m M) (int, error) {
	return tellAny(context.Background(), refs, from, m, false)
}

func tellAny[M any](ctx context.Context, refs []Ref[M], from int, m M, block bool) (int, error) {
	n := len(refs)
	if n == 0 {
		return -1, fmt.Errorf("%w: TellAny to no actor", ErrBadOption)
	}
	for _, r := range refs {
		if r.r != nil {
			return -1, fmt.Errorf("%w: TellAny to a Remote (%s)", ErrBadOption, r.r.Name())
		}
	}
	if from %= n; from < 0 {
		from += n
	}
	var gone []bool // by index; made when the first actor is found gone
	for {
		full := 0
		for i := range n {
			k := (from + i) % n
			if gone != nil && gone[k] {
				continue
			}
			err := ErrStopped
			if c := refs[k].local(); c != nil {
				err = c.offer(m)
			}
			switch {
			case err == nil:
				return k, nil
			case errors.Is(err, ErrMailboxFull):
				full++
			default:
				if gone == nil {
					gone = make([]bool, n)
				}
				gone[k] = true
			}
		}
		if full == 0 {
			for i := range n {
				if c := refs[(from+i)%n].local(); c != nil {
					c.deadLetter(m, ErrStopped)
					break
				}
			}
			return -1, fmt.Errorf("%w (all %d actors)", ErrStopped, n)
		}
		if !block {
			return -1, fmt.Errorf("%w (all %d actors)", ErrMailboxFull, n)
		}
		k, err := awaitRoomAny(ctx, refs, gone)
		if err != nil {
			return -1, fmt.Errorf("%w (all %d actors): %w", ErrMailboxFull, n, err)
		}
		from = k
	}
}

// offer puts m in the mailbox if it has room now, as TryTell does, except
// that an actor stopping or gone is ErrStopped without a dead letter: the
// caller may deliver m to another. A message that a dropping mailbox drops
// is a dead letter, as for Tell.
func (c *cell[M]) offer(m M) error {
	e := envelope[M]{msg: m}
	if c.timing == timeAll {
		e.at = now()
	}
	victim, dropped, err := c.q.push(context.Background(), e, false)
	if dropped {
		c.deadLetter(victim.msg, ErrDropped)
	}
	return err
}

// awaitRoomAny waits until one of the mailboxes of refs, those gone
// excepted, has room (or takes no more messages), and returns its index; or
// until ctx ends, and returns ctx's error. Each mailbox is looked at under
// its lock as it registers, so room made after the caller found it full is
// never missed.
func awaitRoomAny[M any](ctx context.Context, refs []Ref[M], gone []bool) (int, error) {
	type waiting struct {
		q     *queue[M]
		space chan struct{}
	}
	ws := make([]waiting, 0, len(refs))
	idx := make([]int, 0, len(refs))
	cases := make([]reflect.SelectCase, 0, len(refs)+1)
	defer func() {
		for _, w := range ws {
			w.q.stopWaiting(w.space)
		}
	}()
	for k, r := range refs {
		if gone != nil && gone[k] {
			continue
		}
		c := r.local()
		if c == nil {
			return k, nil // not supervised now: the next offer finds it gone
		}
		space, ok := c.q.room()
		if ok {
			return k, nil
		}
		ws = append(ws, waiting{c.q, space})
		idx = append(idx, k)
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(space)})
	}
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	chosen, _, _ := reflect.Select(cases)
	if chosen == len(idx) {
		return -1, ctx.Err()
	}
	return idx[chosen], nil
}
