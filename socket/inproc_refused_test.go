package socket_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// A PAIR that has its peer refuses a second one over inproc, as libzmq
// does, and nothing the second one sends reaches it: not what it sends
// while the link is being made and refused, nor what it queued for the
// Bind. What the second one's Send took is counted as discarded once it
// closes (Sent == Discarded), never delivered.
func TestInprocRefusedPairNeverDelivers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []socket.Option
		// beforeBind: the intruder connects to a name the bound PAIR binds
		// next, so that it has queued for the Bind.
		beforeBind bool
	}{
		{"immediate", []socket.Option{socket.WithImmediate()}, false},
		{"queued", nil, false},
		{"queued before bind", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := openSock(t, socket.Pair)
			ep := a.bind(inprocName(t))
			b := openSock(t, socket.Pair)
			b.connect(ep)
			// a receives all along, so that it is in Recv while the
			// intruder's link is made and refused.
			got := make(chan socket.Msg)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(got)
				for {
					m, err := a.Recv(ctx)
					if err != nil {
						return
					}
					select {
					case got <- m:
					case <-ctx.Done():
						return
					}
				}
			}()
			defer wg.Wait()
			defer cancel()
			// The refusal races with the intruder's sends: many rounds
			// make it likely that some send falls while the link is made.
			for round := range 200 {
				refusedRound(t, a, b, got, ep, round, tc.beforeBind, tc.opts)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func refusedRound(t *testing.T, a, b *tsock, got <-chan socket.Msg, ep string, round int, beforeBind bool, opts []socket.Option) {
	t.Helper()
	// A mark the intruder never reaches: it sends all along.
	opts = append([]socket.Option{socket.WithLinger(0), socket.WithSendHWM(1 << 20)}, opts...)
	intruder, err := socket.New(socket.Pair, opts...)
	if err != nil {
		t.Fatal(err)
	}
	target := ep
	if beforeBind {
		target = inprocName(t)
		if err := intruder.Connect(target); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var sendErr error
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			err := intruder.Send(ctx, socket.NewMsgString(fmt.Sprint("intruder ", round, " ", i)))
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					sendErr = err
				}
				return
			}
		}
	}()
	if beforeBind {
		a.bind(target) // refused: a has its peer
	} else if err := intruder.Connect(target); err != nil {
		t.Error(err)
	}
	// b's mark comes after anything the intruder's link let through.
	mark := fmt.Sprint("mark ", round)
	b.send(mark)
	intruded := 0
	wait := testCtx(t, waitLimit)
	for {
		var m socket.Msg
		var ok bool
		select {
		case m, ok = <-got:
		case <-wait.Done():
			cancel()
			wg.Wait()
			t.Fatalf("round %d: the mark did not come", round)
		}
		if !ok {
			t.Fatalf("round %d: the bound PAIR's Recv ended before the mark", round)
		}
		if equal(m.Strings(), mark) {
			break
		}
		if intruded++; intruded == 1 {
			t.Errorf("round %d: bound PAIR received %q from the refused peer", round, m.Strings())
		}
	}
	if intruded > 1 {
		t.Errorf("round %d: %d messages from the refused peer in all", round, intruded)
	}
	cancel()
	wg.Wait()
	if sendErr != nil {
		t.Errorf("round %d: intruder Send: %v", round, sendErr)
	}
	if beforeBind {
		if err := a.Unbind(target); err != nil {
			t.Fatal(err)
		}
	}
	if err := intruder.Close(); err != nil {
		t.Fatal(err)
	}
	if st := intruder.Stats(); st.Sent != st.Discarded {
		t.Errorf("round %d: refused PAIR: Sent %d, Discarded %d: %d messages went somewhere", round, st.Sent, st.Discarded, st.Sent-st.Discarded)
	}
}
