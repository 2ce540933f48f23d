package socket_test

import (
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// Once a PULL's Unbind or Disconnect of an inproc endpoint has returned,
// nothing more arrives from that link: a PUSH that was sending into it as
// it ended sees no room there and sends elsewhere or waits, as for any
// peer gone. So what the PULL takes after the detach is all it holds, and
// its Close discards nothing the PUSH sent. Every message the PUSH counts
// as sent is received or counted as discarded.
func TestInprocDetachRefusesLatePuts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pushBinds bool // the PULL connects, and ends the link with Disconnect
	}{
		{name: "unbind"},
		{name: "disconnect", pushBinds: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rounds := 300
			if testing.Short() {
				rounds = 50
			}
			for round := range rounds {
				if !detachRound(t, tc.pushBinds, round) {
					return
				}
			}
		})
	}
}

// detachRound floods a PULL from a PUSH over inproc while the PULL ends
// the link, takes what it holds and closes; false if the round failed.
func detachRound(t *testing.T, pushBinds bool, round int) bool {
	var log discardLog
	ep := inprocName(t)
	push := openSock(t, socket.Push, log.option(), socket.WithLinger(0), socket.WithSendHWM(4))
	pull := openSock(t, socket.Pull, socket.WithRecvHWM(4))
	if pushBinds {
		push.bind(ep)
		pull.connect(ep)
	} else {
		pull.bind(ep)
		push.connect(ep)
	}
	stopSending := flood(push)
	received := 0
	for range round % 3 {
		pull.recv()
		received++
	}
	if pushBinds {
		must(t, pull.Disconnect(ep))
	} else {
		must(t, pull.Unbind(ep))
	}
	// Everything the link delivered before it ended is here to take.
	for pull.Stats().Queued > 0 {
		ms, err := pull.TryRecvBatch(nil, 16)
		must(t, err)
		received += len(ms)
	}
	if err := stopSending(); err != nil {
		t.Fatal(err)
	}
	ok := true
	if q := pull.Stats().Queued; q != 0 {
		t.Errorf("round %d: %d messages arrived after the PULL ended the link and took what it held", round, q)
		ok = false
	}
	must(t, pull.Close())
	if g := log.take(); len(g) != 0 {
		t.Errorf("round %d: the PULL's close discarded %q: sent into the link after it ended", round, g)
		ok = false
	}
	must(t, push.Close()) // what waits for the next Bind is discarded
	st := push.Stats()
	if st.Sent != uint64(received)+st.Discarded {
		t.Errorf("round %d: Sent %d, received %d, Discarded %d: %d unaccounted for", round, st.Sent, received, st.Discarded, int64(st.Sent)-int64(received)-int64(st.Discarded))
		ok = false
	}
	return ok
}
