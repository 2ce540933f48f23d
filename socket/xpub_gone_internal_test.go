package socket

import "testing"

// A subscription an inproc subscriber sends as it leaves may come after
// the XPUB cancelled its subscriptions: it must not count for the prefix,
// or a later subscriber's subscription to it would never be passed on,
// and no cancel for it ever comes. Here the two orders are played in turn
// on the XPUB's functions.
func TestXPubSubscriptionAfterPeerGone(t *testing.T) {
	for _, manual := range []bool{false, true} {
		opts := []Option{}
		if manual {
			opts = append(opts, WithXPubManual())
		}
		s, err := New(XPub, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		gone := s.newPipe("inproc://gone", false)
		gone.gone.Store(true)
		s.xpubPeerGone(gone)
		if s.onSubscription(gone, subscriptionMsg(subscribeByte, "a")) {
			t.Errorf("manual %v: a subscription from a subscriber whose subscriptions were cancelled was passed on; its cancel never comes", manual)
		}
		if !manual {
			next := s.newPipe("inproc://next", false)
			if !s.onSubscription(next, subscriptionMsg(subscribeByte, "a")) {
				t.Error("the first live subscriber's subscription to a prefix was not passed on: the gone subscriber's counted")
			}
		}
	}
}
