package proxy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/broker/proxy"
	"github.com/zmqflow/zmqflow/internal/pyzmq"
	"github.com/zmqflow/zmqflow/socket"
)

// captureSub subscribes to everything a proxy's PUB capture sends.
func captureSub(t *testing.T, ep string) *socket.Socket {
	t.Helper()
	s := newSocket(t, socket.Sub)
	if err := s.Subscribe(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ep); err != nil {
		t.Fatal(err)
	}
	return s
}

// recvUntil receives from s until a message's last frame is want.
func recvUntil(t *testing.T, ctx context.Context, s *socket.Socket, want string) socket.Msg {
	t.Helper()
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if string(m[len(m)-1]) == want {
			return m
		}
	}
}

// libzmq REQ clients and a libzmq REP worker talk through a Queue; the
// capture sees requests and replies.
func TestQueueLibzmqPeers(t *testing.T) {
	ctx := testCtx(t)
	q := must[*proxy.Queue](t)(proxy.NewQueue("tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
		proxy.WithCapture(socket.Pub, "tcp://127.0.0.1:*")))
	t.Cleanup(func() { q.Close() })
	capture := captureSub(t, q.Capture())
	pyzmq.Socket(t, "REP", "--connect", q.Backend(), "--echo")
	pyzmq.Socket(t, "REP", "--connect", q.Backend(), "--echo")
	clients := []*pyzmq.Peer{
		pyzmq.Socket(t, "REQ", "--connect", q.Frontend()),
		pyzmq.Socket(t, "REQ", "--connect", q.Frontend()),
	}
	// The capture's SUB subscribed before the four libzmq peers started
	// (a process start each), so it hears the first request already.
	for round := range 3 {
		for i, c := range clients {
			want := fmt.Sprintf("c%d-%d", i, round)
			if err := c.SendString(want); err != nil {
				t.Fatal(err)
			}
			r, err := c.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(r) != 1 || string(r[0]) != want {
				t.Fatalf("REQ got %q, want [%s]", r, want)
			}
		}
	}
	// Every message passes the capture: the last request and its reply,
	// each with its ROUTER envelope (client id, delimiter, body).
	m := recvUntil(t, ctx, capture, "c1-2")
	if len(m) != 3 || len(m[1]) != 0 {
		t.Fatalf("captured %v, want the envelope and body", m)
	}
	recvUntil(t, ctx, capture, "c1-2") // the reply
}

// A libzmq publisher reaches libzmq subscribers through a Forwarder that
// connects to it; subscriptions go upstream through the forwarder, as the
// capture shows.
func TestForwarderLibzmqPeers(t *testing.T) {
	ctx := testCtx(t)
	pub := pyzmq.Socket(t, "PUB", "--bind", "tcp://127.0.0.1:*")
	f := must[*proxy.Forwarder](t)(proxy.NewForwarder(">"+pub.Endpoint(), "tcp://127.0.0.1:*",
		proxy.WithCapture(socket.Pub, "inproc://forwarder-capture")))
	t.Cleanup(func() { f.Close() })
	capture := captureSub(t, f.Capture())
	sub := pyzmq.Socket(t, "SUB", "--connect", f.Backend(), "--subscribe", "weather")
	// The publisher sends until the subscriber hears it: a publisher sends
	// only what its subscribers asked for, so the subscription must have
	// come through the forwarder.
	if err := pub.Repeat(20*time.Millisecond, []byte("weather 21C")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || string(m[0]) != "weather 21C" {
		t.Fatalf("SUB got %q", m)
	}
	pub.Writeln("echo off") // any command ends the repeat
	// The capture saw the subscription go upstream (unless it joined after
	// it went) and the data go down.
	recvUntil(t, ctx, capture, "weather 21C")
}

// Proxy with our own sockets on both sides, in one process: DEALER to
// ROUTER/DEALER to REP, the msgqueue shape, ended by its ctx.
func TestProxyFunctionEndsWithCtx(t *testing.T) {
	ctx := testCtx(t)
	front, back := newSocket(t, socket.Router), newSocket(t, socket.Dealer)
	fe := must[string](t)(front.Bind(inproc()))
	be := must[string](t)(back.Bind(inproc()))
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proxy.Proxy(pctx, front, back, nil) }()
	rep := newSocket(t, socket.Rep)
	rep.Connect(be)
	req := newSocket(t, socket.Req)
	req.Connect(fe)
	if err := req.Send(ctx, socket.NewMsgString("ping")); err != nil {
		t.Fatal(err)
	}
	m := must[socket.Msg](t)(rep.Recv(ctx))
	if err := rep.Send(ctx, socket.NewMsgString("pong:"+string(m[0]))); err != nil {
		t.Fatal(err)
	}
	if r := must[socket.Msg](t)(req.Recv(ctx)); string(r[0]) != "pong:ping" {
		t.Fatalf("got %v", r)
	}
	stop()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Proxy returned %v, want context.Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("Proxy did not return after its ctx ended")
	}
}
