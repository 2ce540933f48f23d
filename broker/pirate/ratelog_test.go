package pirate_test

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zmqflow/zmqflow/broker/pirate"
	"github.com/zmqflow/zmqflow/socket"
)

// A peer sending malformed messages as fast as it can must not flood the
// log: each distinct warning is written a few times a second, truncated.
func TestMalformedLogRateLimited(t *testing.T) {
	ctx := testCtx(t)
	core, logs := observer.New(zapcore.DebugLevel)
	front, back := inproc(), inproc()
	b := newLB(t, front, back, pirate.WithLogger(zap.New(core)), steadyBeat)
	newWorker(t, back, echo("w"), steadyBeat) // the load balancer reads clients only while a worker is idle

	peer := newSocket(t, socket.Dealer)
	if err := peer.Connect(front); err != nil {
		t.Fatal(err)
	}
	const sent = 1000
	huge := make(socket.Msg, 10000) // no delimiter: not a request
	for i := range huge {
		huge[i] = []byte("frame")
	}
	for range sent {
		if err := peer.Send(ctx, huge); err != nil {
			t.Fatal(err)
		}
	}
	waitLB(t, ctx, b, "every message counted", func(s pirate.Stats) bool { return s.Malformed == sent })
	entries := logs.FilterMessage("request without an address stack dropped").All()
	// 1000 messages arrive within a few seconds at most; allow a tick per
	// second of a very slow run.
	if len(entries) == 0 || len(entries) > 10*30 {
		t.Fatalf("%d warnings logged for %d malformed messages", len(entries), sent)
	}
	for _, e := range entries {
		if s := e.ContextMap()["msg"].(string); len(s) > 4096 {
			t.Fatalf("warning holds %d bytes of the peer's message", len(s))
		}
	}
}
