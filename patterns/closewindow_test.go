package patterns_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// A Router, Rep or Pair mailbox keeps its connections while it closes, for its
// socket to linger for what it sends. Messages its peer sends once the
// close has taken what the socket held (held there by a test hook) are
// never lost uncounted: each is refused at the peer's Send (inproc), or
// read off the wire and counted in the socket's Stats().Unreceived (tcp,
// ipc), or, if the socket took it in, a dead letter of the actor wrapping
// actor.ErrStopped and, for a request, refused to its asker at once.
func TestArrivingInCloseWindowIsAccounted(t *testing.T) {
	for _, kind := range []string{"router", "rep", "pair"} {
		for _, tr := range transports {
			t.Run(kind+"/"+tr, func(t *testing.T) { arrivingInCloseWindow(t, kind, tr) })
		}
	}
}

func arrivingInCloseWindow(t *testing.T, kind, tr string) {
	late := 3
	if kind == "rep" {
		late = 1 // a REQ asks once, then waits
	}
	ctx := testCtx(t)
	var dead struct {
		sync.Mutex
		stopped map[string]bool // by the message's last frame
	}
	dead.stopped = map[string]bool{}
	observer := deadLetters(func(l actor.DeadLetter) {
		if m, ok := l.Message.(socket.Msg); ok && len(m) > 0 && errors.Is(l.Reason, actor.ErrStopped) {
			dead.Lock()
			dead.stopped[string(m[len(m)-1])] = true
			dead.Unlock()
		}
	})

	// The mailbox, its actor, and a raw peer that sends without waiting.
	var (
		in     *patterns.Inbox[[]byte]
		rin    *patterns.Inbox[actor.Request[[]byte, []byte]]
		sock   *socket.Socket
		closer func() error
		peer   *socket.Socket
		got    chan []byte // what the Pair's actor handled
		err    error
	)
	msg := func(body string) socket.Msg { return socket.NewMsgString(body) }
	echo := actor.BehaviorFunc[actor.Request[[]byte, []byte]](func(_ context.Context, r actor.Request[[]byte, []byte]) error {
		r.Reply(r.Query, nil)
		return nil
	})
	switch kind {
	case "router":
		rin, err = patterns.Router(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind(endpoint(t, tr)))
		if err != nil {
			t.Fatal(err)
		}
		a := spawn(t, echo, actor.WithFeed(rin), actor.WithObserver(observer))
		sock, closer = rin.Socket(), a.Close
		peer, err = socket.New(socket.Dealer, socket.WithLinger(0))
		corr := uint64(0)
		msg = func(body string) socket.Msg {
			corr++
			return socket.Msg{binary.BigEndian.AppendUint64(nil, corr), []byte(body)}
		}
	case "rep":
		rin, err = patterns.Rep(patterns.Bytes{}, patterns.Bytes{}, patterns.Bind(endpoint(t, tr)))
		if err != nil {
			t.Fatal(err)
		}
		a := spawn(t, echo, actor.WithFeed(rin), actor.WithObserver(observer))
		sock, closer = rin.Socket(), a.Close
		peer, err = socket.New(socket.Req, socket.WithLinger(0))
	case "pair":
		in, err = patterns.Pair(patterns.Bytes{}, patterns.Bind(endpoint(t, tr)))
		if err != nil {
			t.Fatal(err)
		}
		got = make(chan []byte, 1)
		a := spawn(t, actor.BehaviorFunc[[]byte](func(_ context.Context, b []byte) error {
			got <- b
			return nil
		}), actor.WithFeed(in), actor.WithObserver(observer))
		sock, closer = in.Socket(), a.Close
		peer, err = socket.New(socket.Pair, socket.WithLinger(0))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var bound string
	if rin != nil {
		bound = rin.Endpoint()
	} else {
		bound = in.Endpoint()
	}
	if err := peer.Connect(bound); err != nil {
		t.Fatal(err)
	}
	// A first message goes through: the link is up.
	if err := peer.Send(ctx, msg("warm-up")); err != nil {
		t.Fatal(err)
	}
	if rin != nil {
		if m, err := peer.Recv(ctx); err != nil || string(m[len(m)-1]) != "warm-up" {
			t.Fatalf("the warm-up's reply: %q, %v", m.Strings(), err)
		}
	} else {
		select {
		case b := <-got:
			if string(b) != "warm-up" {
				t.Fatalf("the actor got %q, want warm-up", b)
			}
		case <-ctx.Done():
			t.Fatal("the warm-up never reached the actor")
		}
	}

	// The close, held once it has taken what the socket held.
	inWindow, proceed := make(chan struct{}), make(chan struct{})
	undo := patterns.HoldCloseAfterLeftOver(func(s *socket.Socket) {
		if s == sock {
			close(inWindow)
			<-proceed
		}
	})
	defer undo()
	closed := make(chan error, 1)
	go func() { closed <- closer() }()
	select {
	case <-inWindow:
	case <-ctx.Done():
		t.Fatal("the close never reached its last look at the socket")
	}
	refused := map[string]bool{}
	for i := range late {
		body := fmt.Sprint("late-", i)
		switch err := peer.TrySend(msg(body)); {
		case errors.Is(err, socket.ErrWouldBlock):
			refused[body] = true
		case err != nil:
			t.Fatal(err)
		}
	}
	// Each is at the mailbox's socket (taken in, or read and not) before
	// the close goes on.
	eventually(t, "the late messages to reach the mailbox's socket", func() bool {
		st := sock.Stats()
		return len(refused)+st.Queued+int(st.Unreceived) == late
	})
	close(proceed)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}

	unreceived := int(sock.Stats().Unreceived)
	dead.Lock()
	defer dead.Unlock()
	lost, owed := 0, 0
	for i := range late {
		body := fmt.Sprint("late-", i)
		switch {
		case refused[body]:
		case dead.stopped[body]:
			owed++
		default:
			lost++
		}
	}
	// The asker of each request that was a dead letter is told at once:
	// the close lingered for the refusals.
	for rin != nil && owed > 0 {
		m, err := peer.Recv(ctx)
		if err != nil {
			t.Fatalf("%d requests were dead letters, and their refusals did not come: %v", owed, err)
		}
		switch {
		case kind == "rep" && len(m) == 1 && len(m[0]) == 0: // REP's refusal: an empty reply
			owed--
		case kind == "router" && len(m) >= 2 && len(m[1]) == 1 && m[1][0] != 0:
			owed--
		}
	}
	if lost != unreceived {
		t.Errorf("%d late messages neither refused at the peer nor dead letters, and the socket counts %d unreceived: %d lost uncounted",
			lost, unreceived, lost-unreceived)
	}
}

// A Router or Rep mailbox shut down with an ended ctx lingers a moment for
// the refusals it sends (see Inbox.Shutdown), unless its socket was made
// with socket.WithLinger(0): its maker asked for an immediate close.
func TestShutdownGraceHonoursLingerZero(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []patterns.Option
		lingers bool
	}{
		{"default linger", nil, true},
		{"linger 0", []patterns.Option{patterns.WithSocketOptions(socket.WithLinger(0))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]patterns.Option{patterns.Bind(endpoint(t, "inproc"))}, tc.opts...)
			router := must[*patterns.Inbox[actor.Request[[]byte, []byte]]](t)(patterns.Router(patterns.Bytes{}, patterns.Bytes{}, opts...))
			defer router.Close()
			opts[0] = patterns.Bind(endpoint(t, "inproc"))
			rep := must[*patterns.Inbox[actor.Request[[]byte, []byte]]](t)(patterns.Rep(patterns.Bytes{}, patterns.Bytes{}, opts...))
			defer rep.Close()
			if got := patterns.ShutdownLingers(router); got != tc.lingers {
				t.Errorf("Router: lingers after ctx ended: %v, want %v", got, tc.lingers)
			}
			if got := patterns.ShutdownLingers(rep); got != tc.lingers {
				t.Errorf("Rep: lingers after ctx ended: %v, want %v", got, tc.lingers)
			}
		})
	}
}
