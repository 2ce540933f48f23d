package patterns_test

import (
	"testing"

	"github.com/zmqflow/zmqflow/patterns"
)

// An Outbox's Stats().Handled counts the messages told through it, once
// each: a PUSH's as its socket counts them (after Close too), a PUB's once
// a message however many subscribers take a copy.
func TestOutboxHandledCountsMessages(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			ctx := testCtx(t)
			in := must[*patterns.Inbox[string]](t)(patterns.Pull(patterns.String{}, patterns.Bind(endpoint(t, tr))))
			t.Cleanup(func() { in.Close() })
			push := must[*patterns.Outbox[string]](t)(patterns.Push(patterns.String{}, patterns.Connect(in.Endpoint())))
			for range 20 {
				must[struct{}](t)(struct{}{}, push.Tell(ctx, "task"))
			}
			if got := push.Stats().Handled; got != 20 {
				t.Fatalf("PUSH Handled = %d after 20 Tells, want 20", got)
			}
			must[struct{}](t)(struct{}{}, push.Close())
			if got := push.Stats().Handled; got != 20 {
				t.Fatalf("PUSH Handled = %d after Close, want 20", got)
			}

			pub := must[*patterns.Outbox[string]](t)(patterns.Pub(patterns.String{},
				func(string) string { return "" }, patterns.Bind(endpoint(t, tr))))
			t.Cleanup(func() { pub.Close() })
			for range 2 {
				sub := must[*patterns.Inbox[string]](t)(patterns.Sub(patterns.String{},
					patterns.Connect(pub.Endpoint()), patterns.Subscribe("")))
				t.Cleanup(func() { sub.Close() })
			}
			eventually(t, "two subscribers", func() bool { return pub.Socket().Stats().Subscribers == 2 })
			for range 3 {
				must[struct{}](t)(struct{}{}, pub.Tell(ctx, "news"))
			}
			if got, copies := pub.Stats().Handled, pub.Socket().Sent(); got != 3 || copies != 6 {
				t.Fatalf("PUB Handled = %d, its socket's Sent = %d after 3 Tells to 2 subscribers; want 3 and 6", got, copies)
			}
		})
	}
}
