// Package oneframe makes one-frame messages ([][]byte of length 1) in one
// allocation when the frame is small: the slice that holds the frame and
// the frame's bytes side by side. A small message on a pipeline is made
// twice per hop (encoded, then read from the wire), and the allocator's
// cost per object, not per byte, is most of what it costs there. A
// socket's readers make theirs with a Cache, and reuse those that the
// consumer gives back to the socket's List (see recycle.go).
package oneframe

// The size classes: each struct is exactly one of the allocator's size
// classes (32, 48, 64, 80 and 96 bytes), so that nothing is wasted beside
// the 24-byte slice header a message needs anyway.
type (
	msg8 struct {
		m [1][]byte
		b [8]byte
	}
	msg24 struct {
		m [1][]byte
		b [24]byte
	}
	msg40 struct {
		m [1][]byte
		b [40]byte
	}
	msg56 struct {
		m [1][]byte
		b [56]byte
	}
	msg72 struct {
		m [1][]byte
		b [72]byte
	}
)

// Max is the largest frame made in one allocation with its message.
const Max = 72

// Make returns a one-frame message whose frame has length n and capacity
// n: appending to the frame copies it, as appending to a frame read from
// a socket does. The message and its frame may be kept and used as any
// other; keeping the frame alone keeps the message's 24 bytes with it.
func Make(n int) [][]byte {
	switch {
	case n <= 8:
		p := new(msg8)
		return frame(&p.m, p.b[:], n)
	case n <= 24:
		p := new(msg24)
		return frame(&p.m, p.b[:], n)
	case n <= 40:
		p := new(msg40)
		return frame(&p.m, p.b[:], n)
	case n <= 56:
		p := new(msg56)
		return frame(&p.m, p.b[:], n)
	case n <= Max:
		p := new(msg72)
		return frame(&p.m, p.b[:], n)
	}
	return [][]byte{make([]byte, n)}
}

// frame makes m a message of the first n bytes of b, its neighbour.
func frame(m *[1][]byte, b []byte, n int) [][]byte {
	m[0] = b[:n:n]
	return m[:]
}
