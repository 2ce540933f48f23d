package actor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The hand-over (see queue) step by step, the test playing the receiver.

// qMsgs returns the messages of a batch.
func qMsgs(es []envelope[int]) []int {
	var ms []int
	for _, e := range es {
		ms = append(ms, e.msg)
	}
	return ms
}

// sleepingQueue returns a queue whose receiver has found it empty and sleeps.
func sleepingQueue(t *testing.T, m Mailbox) *queue[int] {
	t.Helper()
	q := newQueue[int](m)
	if batch, done := q.take(nil); len(batch) != 0 || done || !asleep(q) {
		t.Fatalf("take of an empty queue = %v, %v; asleep %v", batch, done, asleep(q))
	}
	return q
}

func asleep(q *queue[int]) bool { return q.rs.Load()&rMask == rAsleep }

// awaken is the receiver's wait on wake, which must have a wake-up.
func awaken(t *testing.T, q *queue[int]) handoff[int] {
	t.Helper()
	select {
	case h := <-q.wake:
		q.woke()
		return h
	default:
		t.Fatal("no wake-up")
		return handoff[int]{}
	}
}

func qPush(t *testing.T, q *queue[int], m int) {
	t.Helper()
	if _, _, err := q.push(context.Background(), envelope[int]{msg: m}, false); err != nil {
		t.Fatalf("push %d: %v", m, err)
	}
}

// The first message told to a sleeping receiver comes with its wake-up, and
// counts as taken; the next go to the ring, after it.
func TestQueueHandsFirstMessageToSleepingReceiver(t *testing.T) {
	q := sleepingQueue(t, Bounded(3))
	qPush(t, q, 1)
	qPush(t, q, 2)
	qPush(t, q, 3)
	if _, _, err := q.push(context.Background(), envelope[int]{msg: 4}, false); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("push to a mailbox full with the handed message counted = %v", err)
	}
	h := awaken(t, q)
	if !h.ok || h.e.msg != 1 {
		t.Fatalf("wake-up = %+v, want message 1 handed over", h)
	}
	if batch, done := q.take(nil); done || !slices.Equal(qMsgs(batch), []int{2, 3}) {
		t.Fatalf("take = %v, %v; want [2 3]", qMsgs(batch), done)
	}
}

// A handed message the receiver did not receive from wake (it was woken
// otherwise) is taken first, before what the ring holds.
func TestQueueTakesUnreceivedHandedMessageFirst(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1) // handed
	qPush(t, q, 2) // ring
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{1, 2}) {
		t.Fatalf("take = %v, want [1 2]", qMsgs(batch))
	}
	select {
	case h := <-q.wake:
		t.Fatalf("wake-up left after take: %+v", h)
	default:
	}
}

// A receiver that handled a handed message goes back to sleep without the
// lock, and the next message is handed over again, its count published.
func TestQueueSleepsAgainAfterHandedMessage(t *testing.T) {
	q := sleepingQueue(t, Bounded(1))
	for i := range 3 {
		qPush(t, q, i)
		if h := awaken(t, q); !h.ok || h.e.msg != i {
			t.Fatalf("wake-up %d = %+v, want message %d handed over", i, h, i)
		}
		q.pending++ // handled
		if !q.sleepHanded() || !asleep(q) {
			t.Fatalf("message %d: not asleep again after it", i)
		}
		if n := q.handledCount(); n != uint64(i+1) {
			t.Fatalf("handled %d after message %d, want %d", n, i, i+1)
		}
	}
}

// A message put while the receiver handles a handed one goes to the ring,
// after it, and the receiver must take it before it sleeps again.
func TestQueuePutWhileHandledKeepsReceiverAwake(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1)
	if h := awaken(t, q); !h.ok || h.e.msg != 1 {
		t.Fatalf("wake-up = %+v, want message 1", h)
	}
	qPush(t, q, 2)
	if q.sleepHanded() {
		t.Fatal("went back to sleep with a message in the ring")
	}
	if batch, done := q.take(nil); done || !slices.Equal(qMsgs(batch), []int{2}) {
		t.Fatalf("take = %v, %v; want [2]", qMsgs(batch), done)
	}
}

// A Bounded mailbox counts the handed message while it is handled: a
// sender waits for room, and the receiver, made to take rather than sleep,
// lets it in.
func TestQueueHandedMessageTakesRoom(t *testing.T) {
	q := sleepingQueue(t, Bounded(1))
	qPush(t, q, 1)
	awaken(t, q)
	if _, _, err := q.push(context.Background(), envelope[int]{msg: 2}, false); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("push beside the handed message = %v, want ErrMailboxFull", err)
	}
	pushed := make(chan error, 1)
	go func() {
		_, _, err := q.push(context.Background(), envelope[int]{msg: 2}, true)
		pushed <- err
	}()
	// The waiting sender stops the receiver from sleeping unseen.
	for deadline := time.Now().Add(15 * time.Second); ; runtime.Gosched() {
		q.mu.Lock()
		w := q.waiters
		q.mu.Unlock()
		if w > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sender never waited")
		}
	}
	q.pending++
	if q.sleepHanded() {
		t.Fatal("went back to sleep with a sender waiting for room")
	}
	if batch, _ := q.take(nil); len(batch) != 0 {
		t.Fatalf("take = %v, want nothing yet", qMsgs(batch))
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	if h := awaken(t, q); !h.ok || h.e.msg != 2 {
		t.Fatalf("wake-up = %+v, want message 2 handed over", h)
	}
}

// A handed message the receiver has not handled when the mailbox closes is
// its to dead-letter: take returns it, done; close returns the ring's.
func TestQueueCloseLeavesHandedMessageToReceiver(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1)
	qPush(t, q, 2)
	if left := q.close(); !slices.Equal(qMsgs(left), []int{2}) {
		t.Fatalf("close left %v, want [2]", qMsgs(left))
	}
	if batch, done := q.take(nil); !done || !slices.Equal(qMsgs(batch), []int{1}) {
		t.Fatalf("take after close = %v, %v; want [1], done", qMsgs(batch), done)
	}
	select {
	case h := <-q.wake:
		t.Fatalf("wake-up left after take: %+v", h)
	default:
	}
}

// After a halt (a restart) no message is handed over until the next
// receiver sleeps: one handed before goes back in front, for it.
func TestQueueHandedMessageSurvivesHalt(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1) // handed
	q.stopReceiver()
	qPush(t, q, 2)
	if asleep(q) {
		t.Fatal("asleep after stopReceiver")
	}
	if batch, done := q.take(nil); !done || len(batch) != 0 {
		t.Fatalf("take after stopReceiver = %v, %v; want done", qMsgs(batch), done)
	}
	if left := q.retire(); left != nil {
		t.Fatalf("retire left %v", qMsgs(left))
	}
	q.resume()
	qPush(t, q, 3)
	if batch, done := q.take(nil); done || !slices.Equal(qMsgs(batch), []int{1, 2, 3}) {
		t.Fatalf("take after resume = %v, %v; want [1 2 3]", qMsgs(batch), done)
	}
}

// A receiver that returns asleep, its wake-up not received (a polled
// feed's error ended it), leaves the mailbox awake: what is told then
// waits in the ring for the next one, and a message handed over meanwhile
// goes back in front.
func TestQueueRetireLeavesMailboxAwake(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1) // handed, not received
	if left := q.retire(); left != nil || asleep(q) {
		t.Fatalf("retire left %v, asleep %v", qMsgs(left), asleep(q))
	}
	qPush(t, q, 2)
	select {
	case h := <-q.wake:
		t.Fatalf("wake-up after retire: %+v", h)
	default:
	}
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{1, 2}) {
		t.Fatalf("take = %v, want [1 2]", qMsgs(batch))
	}
}

// A dropping mailbox hands over one message, as it gives one per take.
func TestQueueDroppingHandsOne(t *testing.T) {
	q := sleepingQueue(t, DropOldest(1))
	qPush(t, q, 1) // handed, not counted
	qPush(t, q, 2) // ring
	victim, dropped, err := q.push(context.Background(), envelope[int]{msg: 3}, false)
	if err != nil || !dropped || victim.msg != 2 {
		t.Fatalf("push to a full DropOldest(1) = %v, %v, %v; want 2 dropped", victim.msg, dropped, err)
	}
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{1}) {
		t.Fatalf("take = %v, want [1]", qMsgs(batch))
	}
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{3}) {
		t.Fatalf("take = %v, want [3]", qMsgs(batch))
	}
}

// A Bounded mailbox never holds more than its size, while senders with the
// lock (a feed's PutAll, a Tell that found the receiver awake) race
// senders that hand a message to the receiver without it: the hand-over
// claims the room the locked sender saw, and that one must look again.
func TestQueueBoundedNeverOverfull(t *testing.T) {
	for _, profiled := range []bool{false, true} {
		for _, size := range []int{1, 2} {
			t.Run(fmt.Sprintf("profiled=%v/size=%d", profiled, size), func(t *testing.T) {
				boundedRace(t, size, profiled)
			})
		}
	}
}

func boundedRace(t *testing.T, size int, profiled bool) {
	const senders, per = 4, 2000
	var handled atomic.Int64
	a, err := Spawn[int](context.Background(), BehaviorFunc[int](func(context.Context, int) error {
		handled.Add(1)
		runtime.Gosched() // let senders pile up behind the one handled
		return nil
	}), WithMailbox(Bounded(size)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	q := a.Ref().local().q
	if profiled { // before any sender: what a profiled cell sets at its making
		q.sample = true
		q.sampleMask.Store(1)
	}
	stop := make(chan struct{})
	over := make(chan int, 1)
	var wg sync.WaitGroup
	wg.Go(func() { // watches what the mailbox holds
		for {
			select {
			case <-stop:
				return
			default:
			}
			q.mu.Lock()
			held := q.held()
			q.mu.Unlock()
			if held > size {
				select {
				case over <- held:
				default:
				}
			}
			runtime.Gosched()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sent sync.WaitGroup
	for s := range senders {
		sent.Go(func() {
			for i := range per {
				var err error
				if s == 0 { // a feed: PutAll, under the lock
					_, _, err = q.pushAll(ctx, []envelope[int]{{msg: i}})
				} else {
					_, _, err = q.push(ctx, envelope[int]{msg: i}, true)
				}
				if err != nil {
					t.Errorf("sender %d: %v", s, err)
					return
				}
				if i%4 == 0 { // now and then, let the actor fall idle: the next is handed over
					for q.len() > 0 && ctx.Err() == nil {
						runtime.Gosched()
					}
				}
			}
		})
	}
	sent.Wait()
	for handled.Load() < senders*per && ctx.Err() == nil {
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if n := handled.Load(); n != senders*per {
		t.Fatalf("%d of %d messages handled", n, senders*per)
	}
	select {
	case held := <-over:
		t.Fatalf("a Bounded(%d) mailbox held %d messages", size, held)
	default:
	}
}
