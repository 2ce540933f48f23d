package socket

import (
	"context"
	"errors"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"
)

// refusingConn is a connection's raw side whose kernel takes nothing: each
// write first runs during, what other goroutines do while a write-through
// holds the connection.
type refusingConn struct {
	syscall.RawConn
	during func()
}

func (r *refusingConn) Write(func(fd uintptr) bool) error {
	if f := r.during; f != nil {
		r.during = nil
		f()
	}
	return syscall.EAGAIN
}

// throughPipe attaches to s a tcp-like peer whose connection has no
// goroutines (nothing drains its queue) and writes through a refusingConn.
func throughPipe(t *testing.T, s *Socket, during func()) *pipe {
	t.Helper()
	nc, other := net.Pipe()
	t.Cleanup(func() { nc.Close(); other.Close() })
	p := s.newPipe("tcp://refusing", true)
	w := newWire(nc, s.opts.maxMsgSize)
	t.Cleanup(w.release)
	c := &conn{s: s, p: p, nc: nc, w: w, wrc: &refusingConn{during: during}, flushSig: make(chan struct{}, 1)}
	if !s.attach(p) {
		t.Fatal("attach refused")
	}
	p.direct.Store(c)
	p.heard.Store(true) // the peer has just spoken: the next send writes through
	return p
}

// queued returns what p's queue holds, as strings, taking it out.
func queued(p *pipe) []string {
	var got []string
	for {
		m, ok := p.out.get()
		if !ok {
			return got
		}
		got = append(got, string(m[0]))
	}
}

// A write-through the kernel refuses whole goes the way of any message:
// into the queue if it has room, and no further; here other senders
// filled it to the mark during the write, so Send waits for room (a
// TrySend says there is none), and the message is counted once, when it
// is queued.
func TestWriteThroughRefusedKeepsTheMark(t *testing.T) {
	s, err := New(Dealer, WithSendHWM(2), WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var p *pipe
	p = throughPipe(t, s, func() { // two concurrent sends, queued
		for _, v := range []string{"a", "b"} {
			if !p.out.tryPut(NewMsgString(v)) {
				t.Error("tryPut refused below the mark")
			}
		}
	})
	err = s.TrySend(NewMsgString("refused"))
	if !errors.Is(err, ErrWouldBlock) {
		t.Errorf("TrySend with the queue at its mark = %v, want ErrWouldBlock", err)
	}
	if n := p.out.len(); n > 2 {
		t.Errorf("%d messages queued, past the mark of 2", n)
	}
	if st := s.Stats(); st.Sent != 2 || st.Discarded != 0 {
		t.Errorf("Sent %d, Discarded %d: want the 2 queued, none discarded", st.Sent, st.Discarded)
	}
	// Room made (the writer took them): the same message goes, once.
	if got := queued(p); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("queued %q, want a b", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, NewMsgString("refused")); err != nil {
		t.Fatal(err)
	}
	if got := queued(p); !slices.Equal(got, []string{"refused"}) {
		t.Fatalf("queued %q, want the refused message once", got)
	}
	if st := s.Stats(); st.Sent != 3 {
		t.Errorf("Sent %d, want 3", st.Sent)
	}
}

// A write-through the kernel refuses whole, whose pipe leaves during the
// write, is sent to another peer, not discarded: as a message that
// finds a peer's queue discarded tries the next.
func TestWriteThroughRefusedPipeLeft(t *testing.T) {
	s, err := New(Dealer, WithLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var left *pipe
	left = throughPipe(t, s, func() { s.detach(left) }) // its connection ends
	other := throughPipe(t, s, nil)
	other.heard.Store(false) // queues, never writes through
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Round-robin may offer the first message to either peer: send until
	// the leaving one has been offered one.
	sent := 0
	for ; s.Stats().Peers == 2; sent++ {
		if sent == 4 {
			t.Fatal("the write-through peer was never offered a message")
		}
		if err := s.Send(ctx, NewMsgString("m")); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Discarded != 0 || st.Sent != uint64(sent) {
		t.Errorf("Sent %d, Discarded %d after %d sends: want each sent once, none discarded", st.Sent, st.Discarded, sent)
	}
	if got := queued(other); len(got) != sent {
		t.Errorf("the other peer has %d of the %d messages", len(got), sent)
	}
}
