package patterns

// FuzzEnvelope feeds arbitrary messages from a peer to the envelope codec of
// the Router (a routing identity first) and Dealer stages, with a body of
// Frames and of String. The route is every frame up to and including the
// first empty one after the identity (envelope.go), the body decodes from
// the rest, errors wrap ErrDecode, the route cannot grow into the body, and
// what was received goes back out as the same frames: an echo server sends
// each message back to where it came from. Envelopes made from the input
// decode from their frames as they were, within envelope.go's rule (a body
// with an empty frame needs a delimited route).
//
//	go test -run '^$' -fuzz FuzzEnvelope -fuzztime 60s ./patterns
//
// The seed corpus is in testdata/fuzz/FuzzEnvelope; a message is written as
// in fuzzMsg, "|a||b" being the frames a, "" and b.

import (
	"errors"
	"reflect"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

func FuzzEnvelope(f *testing.F) {
	f.Add([]byte("|id||hello"))      // from a REQ peer
	f.Add([]byte("|id|hello|world")) // from a DEALER peer
	f.Fuzz(func(t *testing.T, data []byte) {
		m := fuzzcheck.Frames(data)
		for _, minRoute := range []int{0, 1} { // DEALER, ROUTER
			checkEnvelope(t, envelopeCodec[[][]byte]{body: Frames{}, minRoute: minRoute}, m, fuzzcheck.FramesEqual)
			checkEnvelope(t, envelopeCodec[string]{body: String{}, minRoute: minRoute}, m, nil)
			checkEnvelopeEncode(t, m, minRoute)
		}
	})
}

// checkEnvelope decodes m with c and checks the envelope against the rule.
func checkEnvelope[T any](t *testing.T, c envelopeCodec[T], m [][]byte, eq func(a, b T) bool) {
	t.Helper()
	if eq == nil {
		eq = func(a, b T) bool { return reflect.DeepEqual(a, b) }
	}
	e, err := decode(Codec[Envelope[T]](c), m)
	n := c.minRoute // the route's length, by the rule
	for i := c.minRoute; i < len(m); i++ {
		if len(m[i]) == 0 {
			n = i + 1
			break
		}
	}
	var body T
	bodyErr := errors.New("no routing identity")
	if n <= len(m) {
		body, bodyErr = c.body.Decode(m[n:])
	}
	if (err == nil) != (bodyErr == nil) {
		t.Fatalf("minRoute %d: decoding %q: %+v, %v; the body alone: %v", c.minRoute, m, e, err, bodyErr)
	}
	if err != nil {
		if !errors.Is(err, ErrDecode) || errors.Is(err, ErrPanic) {
			t.Fatalf("minRoute %d: decoding %q: error %v", c.minRoute, m, err)
		}
		return
	}
	if !fuzzcheck.FramesEqual(e.Route, m[:n]) || n == 0 && e.Route != nil || !eq(e.Body, body) {
		t.Fatalf("minRoute %d: %q decodes as %+v, want route %q", c.minRoute, m, e, m[:n])
	}
	if cap(e.Route) != len(e.Route) {
		t.Fatalf("minRoute %d: route %q of %q has room to grow into the body", c.minRoute, e.Route, m)
	}
	// Echoed, it is the message received.
	frames, err := encode(Codec[Envelope[T]](c), e)
	if err != nil || !fuzzcheck.FramesEqual(frames, m) {
		t.Fatalf("minRoute %d: %+v decoded from %q encodes as %q, %v", c.minRoute, e, m, frames, err)
	}
	checkAlloc(t, "envelope", fuzzcheck.WireSize(m), codecPerByte, codecFixed, func() { decode(Codec[Envelope[T]](c), m) })
}

// checkEnvelopeEncode makes envelopes from m's frames, as a stage's user
// would, and checks that they decode from their frames as they were.
func checkEnvelopeEncode(t *testing.T, m [][]byte, minRoute int) {
	c := envelopeCodec[[][]byte]{body: Frames{}, minRoute: minRoute}
	var stack, body [][]byte // non-empty frames, of m or made up
	for _, f := range m {
		if len(f) > 0 {
			stack = append(stack, f)
		}
	}
	if len(stack) == 0 {
		stack = [][]byte{[]byte("peer")}
	}
	body = stack
	if len(m) > 0 {
		body = m
	}
	envelopes := []Envelope[[][]byte]{
		// A delimited route (REQ, or any delimited envelope): any body.
		{Route: append(append([][]byte{}, stack...), []byte{}), Body: body},
		// The identity alone (a DEALER peer), or nothing (DEALER to
		// DEALER): a body without empty frames.
		{Route: stack[:minRoute:minRoute], Body: stack},
	}
	if minRoute == 0 {
		envelopes[1].Route = nil
	}
	for _, e := range envelopes {
		frames, err := encode(Codec[Envelope[[][]byte]](c), e)
		if err != nil {
			t.Fatalf("minRoute %d: %+v does not encode: %v", minRoute, e, err)
		}
		got, err := decode(Codec[Envelope[[][]byte]](c), frames)
		if err != nil || !fuzzcheck.FramesEqual(got.Route, e.Route) || !fuzzcheck.FramesEqual(got.Body, e.Body) {
			t.Fatalf("minRoute %d: %+v encoded as %q decodes as %+v, %v", minRoute, e, frames, got, err)
		}
	}
	if minRoute == 1 {
		if _, err := encode(Codec[Envelope[[][]byte]](c), Envelope[[][]byte]{Body: body}); !errors.Is(err, ErrEncode) {
			t.Fatalf("an envelope without a routing identity encodes for a ROUTER: %v", err)
		}
	}
}
