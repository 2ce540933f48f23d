package socket

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
)

// The packed counts stay exact across folds by the writers and the
// reader, with concurrent writers, and for messages too big to pack.
func TestPackedCountsExact(t *testing.T) {
	var p packed
	const writers, each = 4, 20000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p.add(i%100 + w)
				if i%5000 == 0 {
					_ = p.messages() // the exporter reads meanwhile
				}
			}
		})
	}
	wg.Wait()
	var wantBytes uint64
	for w := range writers {
		for i := range each {
			wantBytes += uint64(i%100 + w)
		}
	}
	p.add(int(bigMsg)) // straight to the totals
	wantBytes += bigMsg
	// Near the thresholds: the writer folds before a field overflows.
	p.fold() // what the writers left in the word, before it is set by hand
	p.word.Store(foldAt - packMsg)
	p.add(1)
	if p.word.Load() != 0 {
		t.Errorf("word %#x not folded at the messages' threshold", p.word.Load())
	}
	p.add(int(bigMsg - 1))
	p.add(int(bigMsg - 1))
	if p.word.Load()&packBytes >= bigMsg {
		t.Errorf("word %#x not folded at the bytes' threshold", p.word.Load())
	}
	msgs, nbytes := p.messages(), p.bytes()
	wantMsgs := uint64(writers*each+1) + (foldAt-packMsg)/packMsg + 1 + 2
	wantBytes += 1 + 2*(bigMsg-1)
	if msgs != wantMsgs || nbytes != wantBytes {
		t.Errorf("%d messages, %d bytes; want %d, %d", msgs, nbytes, wantMsgs, wantBytes)
	}
}

// The profile transport's Close does not wait for its ctx once the
// collector is known to be away, never reached or gone after taking
// batches: a profiled program ends at once, its last batch counted as
// discarded, and the error says that no collector was there.
func TestProfileCloseCollectorAway(t *testing.T) {
	const limit = 20 * time.Second
	awaitDown := func(s *Socket) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !s.peersDown() { // the dial's refusal, which no event of the API tells
			if time.Now().After(deadline) {
				t.Fatalf("the collector's absence not seen within %v", limit)
			}
			time.Sleep(time.Millisecond)
		}
	}
	check := func(what string, snd telemetry.Sender) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		err := snd.Close(ctx)
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Close waited for its ctx to end: %v", what, err)
		}
		if !errors.Is(err, ErrDiscarded) || !errors.Is(err, telemetry.ErrNoCollector) {
			t.Errorf("%s: Close: %v, want the batch discarded, for want of a collector", what, err)
		}
	}
	batch := [][]byte{[]byte(telemetry.Version), []byte("figures")}

	// Never reached: nothing listens on the port.
	free, err := New(Pull)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := free.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	free.Close()
	snd, err := dialProfile(ep)
	if err != nil {
		t.Fatal(err)
	}
	awaitDown(snd.(profileSender).s)
	if err := snd.TrySend(batch); err != nil {
		t.Fatal(err)
	}
	check("never reached", snd)

	// Gone: a collector that took a batch, then closed.
	coll, err := New(Pull, WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	if ep, err = coll.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	if snd, err = dialProfile(ep); err != nil {
		t.Fatal(err)
	}
	if err := snd.TrySend(batch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if _, err := coll.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	coll.Close()
	awaitDown(snd.(profileSender).s)
	if err := snd.TrySend(batch); err != nil {
		t.Fatal(err)
	}
	check("gone", snd)
}

// A collector that is connected but does not keep up is not an absent
// one: the batches that find no room say so without ErrNoCollector, as
// that is news of this process's own, which a parent does not report for
// its children.
func TestProfileSlowCollectorIsNotAbsent(t *testing.T) {
	coll, err := New(Pull, WithRecvHWM(1), WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	ep, err := coll.Bind("tcp://127.0.0.1:*")
	if err != nil {
		t.Fatal(err)
	}
	snd, err := dialProfile(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close(context.Background())
	s := snd.(profileSender).s
	deadline := time.Now().Add(20 * time.Second)
	for s.noPeerUp() { // the handshake, which no event of the API tells
		if time.Now().After(deadline) {
			t.Fatal("the collector's connection not up within 20 s")
		}
		time.Sleep(time.Millisecond)
	}
	// The collector reads nothing: its queue, the kernel's buffers and the
	// transport's fill up, a few MB at most.
	batch := [][]byte{[]byte(telemetry.Version), make([]byte, 1<<20)}
	for i := 0; ; i++ {
		err := snd.TrySend(batch)
		if err == nil {
			if i == 1000 {
				t.Fatal("1000 batches of 1 MB taken by a collector that reads nothing")
			}
			continue
		}
		if !errors.Is(err, ErrWouldBlock) || errors.Is(err, telemetry.ErrNoCollector) {
			t.Fatalf("TrySend: %v, want no room, and not for want of a collector", err)
		}
		break
	}
}

// A message written through (tryDirect) by a sender that held the pipe
// as it left the socket (a ROUTER's peer handed over, say), between its
// count's move (retirePuts) and its queue's discard, is counted in
// Stats().Sent, not in the count of a queue nobody sums any more; once
// the queue is discarded, nothing more is let by.
func TestSentWrittenThroughAfterRetire(t *testing.T) {
	var aside packed
	q := newQueue(10, nil)
	q.countPuts = true
	m := NewMsgString("through")
	if !q.passThrough() { // before the pipe left
		t.Fatal("an empty queue refused a write-through")
	}
	q.countPut(m)         // written, as tryDirect counts it
	q.retirePuts(&aside)  // detach, under the socket's lock
	if !q.passThrough() { // the write-through that raced the leaving
		t.Fatal("a retired queue not yet discarded refused a write-through")
	}
	q.countPut(m)
	q.discard()
	if q.passThrough() {
		t.Fatal("a discarded queue let a write-through by")
	}
	if got := aside.messages(); got != 2 {
		t.Fatalf("Sent counts %d of the 2 messages written through, want 2", got)
	}
	if got := aside.bytes(); got != 2*uint64(m.Size()) {
		t.Fatalf("Sent counts %d bytes, want %d", got, 2*m.Size())
	}
}

// What an inproc sender that still held its pipe puts into the peer's
// receive queue after the pipe left is counted in Stats().Sent.
func TestSentInprocPutAfterRetire(t *testing.T) {
	var aside packed
	q := newQueue(10, nil) // the peer's receive queue
	q.countPuts = true
	m := NewMsgString("inproc")
	q.tryPut(m)
	q.retirePuts(&aside)
	q.tryPut(m) // the peer still takes it
	if got, left := aside.messages(), q.putCount().msgs; got != 2 || left != 0 {
		t.Fatalf("Sent counts %d of 2 puts, the queue %d; want 2 and 0", got, left)
	}
}
