package broker

// Helpers of the fuzz targets (ppp_fuzz_test.go, mdp_fuzz_test.go,
// dist_fuzz_test.go, fed_fuzz_test.go).

import (
	"bytes"
	"runtime"
	"slices"
	"testing"
)

// fuzzMsg turns fuzz bytes into a message: the first byte separates the
// frames in the rest ("|a||b" is a, an empty frame, b), so that a seed
// reads as what it is; no bytes is no frames. Each frame's capacity ends
// at its length, as if it had been received alone: a decoder that appends
// to a frame must not write over the next one.
func fuzzMsg(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	m := bytes.Split(data[1:], data[:1])
	for i, f := range m {
		m[i] = f[:len(f):len(f)]
	}
	return m
}

// fuzzMsgs turns fuzz bytes into messages: the first byte separates
// frames and the second messages, in the rest.
func fuzzMsgs(data []byte) [][][]byte {
	if len(data) < 2 {
		return nil
	}
	var ms [][][]byte
	for _, part := range bytes.Split(data[2:], data[1:2]) {
		ms = append(ms, fuzzMsg(append([]byte{data[0]}, part...)))
	}
	return ms
}

// wireSize is what a message costs its sender on the wire, at least: its
// frames' bytes and a two-byte ZMTP header a frame. Allocation bounds are
// in terms of it.
func wireSize(m [][]byte) uint64 {
	n := uint64(2 * len(m))
	for _, f := range m {
		n += uint64(len(f))
	}
	return n
}

// Allocation bounds of the parsers, in bytes. A parser slices the frames it
// is given and allocates only for its answer: strings of frames it returns
// (1x the frames), an envelope key (the frames and a varint each, in a
// builder that grows by doubling: 2x the wire size at most), an error whose
// text quotes at most maxQuoted bytes of a frame. 8x the wire size covers
// them with room; the constant is the error values and, under the race
// detector, the fmt state that sync.Pool drops on purpose.
const (
	allocPerByte = 8
	allocFixed   = 2048
)

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkAlloc fails t when f allocates more than the bound for a message of
// wire bytes. Over the bound, f runs twice more and the least counts, so
// that what other goroutines allocated meanwhile does not; f must do the
// same each time.
func checkAlloc(t *testing.T, what string, wire uint64, f func()) {
	t.Helper()
	max := allocPerByte*wire + allocFixed
	if n := allocated(f); n > max {
		if n = min(n, allocated(f), allocated(f)); n > max {
			t.Fatalf("%s allocated %d bytes for a message of %d, bound %d", what, n, wire, max)
		}
	}
}

// framesEqual is slices.EqualFunc with bytes.Equal: nil and empty frames
// are alike.
func framesEqual(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// nonEmpty returns the non-empty frames of m, or def if there are none.
func nonEmpty(m [][]byte, def string) [][]byte {
	var out [][]byte
	for _, f := range m {
		if len(f) > 0 {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = [][]byte{[]byte(def)}
	}
	return out
}
