package patterns

// Helpers of the fuzz targets (codec_fuzz_test.go, envelope_fuzz_test.go).

import (
	"bytes"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
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

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkAlloc fails t when f allocates more than perByte bytes a byte of a
// message of wire bytes, plus fixed. Over the bound, f runs twice more and
// the least counts, so that what other goroutines allocated meanwhile does
// not; f must do the same each time.
func checkAlloc(t *testing.T, what string, wire, perByte, fixed uint64, f func()) {
	t.Helper()
	max := perByte*wire + fixed
	if n := allocated(f); n > max {
		if n = min(n, allocated(f), allocated(f)); n > max {
			t.Fatalf("%s allocated %d bytes for a message of %d, bound %d", what, n, wire, max)
		}
	}
}

// framesEqual is slices.EqualFunc with bytes.Equal: nil and empty frames
// are alike.
func framesEqual(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// jsonText is s as encoding/json keeps it: each byte that is not part of
// valid UTF-8 replaced by U+FFFD.
func jsonText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
