package actor

import "fmt"

// Mailbox names what an actor's mailbox does when it is full. Make one with
// Bounded, DropNewest, DropOldest or Unbounded and pass it to WithMailbox.
// The zero Mailbox is Bounded(DefaultMailboxSize). A Mailbox is a plain value,
// safe to copy and share.
//
// The size counts the messages waiting for the actor, those it has taken
// from the mailbox in a batch and not finished handling included. Whatever
// the policy, nothing is lost silently: a message a mailbox drops, and one
// told to a stopped actor, is a DeadLetter, counted and reported to the
// actor's Observer.
type Mailbox struct {
	policy policy
	size   int
}

type policy uint8

const (
	policyDefault policy = iota // the zero Mailbox: Bounded(DefaultMailboxSize)
	policyBounded
	policyDropNewest
	policyDropOldest
	policyUnbounded
)

// Bounded is a mailbox of n messages whose senders wait for room: Tell blocks
// until there is room or its ctx ends (ErrMailboxFull wrapping ctx's error);
// TryTell returns ErrMailboxFull at once. This is back-pressure, ZeroMQ's
// PUSH at its high-water mark. It is the default, with DefaultMailboxSize.
func Bounded(n int) Mailbox { return Mailbox{policyBounded, n} }

// DropNewest is a mailbox of n messages that, when full, drops the message
// being told: Tell and TryTell return nil and never block, and the message
// becomes a DeadLetter with Reason ErrDropped. ZeroMQ's PUB at its high-water
// mark.
func DropNewest(n int) Mailbox { return Mailbox{policyDropNewest, n} }

// DropOldest is a mailbox of n messages that, when full, drops the oldest
// waiting message to make room: Tell and TryTell return nil and never block,
// and the dropped message becomes a DeadLetter with Reason ErrDropped.
// DropOldest(1) keeps only the latest value (conflation). The actor takes
// messages one at a time from a dropping mailbox, so the oldest is always
// droppable.
func DropOldest(n int) Mailbox { return Mailbox{policyDropOldest, n} }

// Unbounded is a mailbox that never fills: Tell never blocks and nothing is
// dropped, and memory grows for as long as senders outrun the actor. Use it
// only where the senders are bounded some other way.
func Unbounded() Mailbox { return Mailbox{policyUnbounded, 0} }

// String returns the mailbox's name, as in "bounded(1000)".
func (m Mailbox) String() string {
	switch m.policy {
	case policyDropNewest:
		return fmt.Sprintf("drop-newest(%d)", m.size)
	case policyDropOldest:
		return fmt.Sprintf("drop-oldest(%d)", m.size)
	case policyUnbounded:
		return "unbounded"
	}
	return fmt.Sprintf("bounded(%d)", m.normal().size)
}

// normal returns m with the zero Mailbox spelled out.
func (m Mailbox) normal() Mailbox {
	if m.policy == policyDefault {
		return Bounded(DefaultMailboxSize)
	}
	return m
}

func (m Mailbox) validate() error {
	if m.policy != policyDefault && m.policy != policyUnbounded && m.size < 1 {
		return fmt.Errorf("%w: mailbox %s, want size >= 1", ErrBadOption, m)
	}
	return nil
}
