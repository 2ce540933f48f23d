package patterns

import (
	"fmt"
)

// Envelope is a message with its routing envelope in plain view (guide ch. 3,
// "The Request-Reply Mechanisms"): Route is the frames in front of the body,
// Body the value the body frames decode to.
//
// What a ROUTER stage receives has Route = [identity] from a DEALER peer, and
// [identity, empty delimiter] from a REQ peer (or any peer that sends
// delimiter-separated envelopes); sending the same Route back reaches the same
// peer the same way. More generally, Route is every frame up to and including
// the first empty frame, or just the identity if there is no empty frame:
// so a body whose first frames may be empty must not travel without a
// delimiter.
//
// What a DEALER stage receives has Route = the frames up to and including the
// first empty frame, or nil if there is none. A DEALER talking to a REP peer
// must send Route = [][]byte{{}} (the delimiter REQ would add).
type Envelope[T any] struct {
	Route [][]byte
	Body  T
}

// envelopeCodec encodes Route then Body, and decodes by the rule above.
// minRoute is 1 for ROUTER (the identity is always there) and 0 for DEALER.
type envelopeCodec[T any] struct {
	body     Codec[T]
	minRoute int
}

func (c envelopeCodec[T]) Encode(e Envelope[T]) ([][]byte, error) {
	if len(e.Route) < c.minRoute {
		return nil, fmt.Errorf("envelope has no routing identity")
	}
	body, err := c.body.Encode(e.Body)
	if err != nil {
		return nil, err
	}
	m := make([][]byte, 0, len(e.Route)+len(body))
	return append(append(m, e.Route...), body...), nil
}

func (c envelopeCodec[T]) Decode(frames [][]byte) (Envelope[T], error) {
	n := c.minRoute // the route's length
	for i := c.minRoute; i < len(frames); i++ {
		if len(frames[i]) == 0 {
			n = i + 1
			break
		}
	}
	if n > len(frames) {
		return Envelope[T]{}, fmt.Errorf("message of %d frames has no routing identity", len(frames))
	}
	body, err := c.body.Decode(frames[n:])
	if err != nil {
		return Envelope[T]{}, err
	}
	var route [][]byte
	if n > 0 {
		route = frames[:n:n]
	}
	return Envelope[T]{Route: route, Body: body}, nil
}
