// Package fuzzcheck holds what the fuzz targets of several packages share:
// turning fuzz bytes into ZeroMQ messages, and bounding the memory a decoder
// allocates. It is imported by tests only.
package fuzzcheck

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Frames turns fuzz bytes into a message: the first byte separates the
// frames in the rest ("|a||b" is a, an empty frame, b), so that a seed
// reads as what it is; no bytes is no frames. Each frame's capacity ends
// at its length, as if it had been received alone: a decoder that appends
// to a frame must not write over the next one.
func Frames(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	m := bytes.Split(data[1:], data[:1])
	for i, f := range m {
		m[i] = f[:len(f):len(f)]
	}
	return m
}

// Messages turns fuzz bytes into messages: the first byte separates frames
// and the second messages, in the rest.
func Messages(data []byte) [][][]byte {
	if len(data) < 2 {
		return nil
	}
	var ms [][][]byte
	for _, part := range bytes.Split(data[2:], data[1:2]) {
		ms = append(ms, Frames(append([]byte{data[0]}, part...)))
	}
	return ms
}

// WireSize is what a message costs its sender on the wire, at least: its
// frames' bytes and a two-byte ZMTP header a frame. Allocation bounds are
// put in terms of it.
func WireSize(m [][]byte) uint64 {
	n := uint64(2 * len(m))
	for _, f := range m {
		n += uint64(len(f))
	}
	return n
}

// FramesEqual is slices.EqualFunc with bytes.Equal: nil and empty frames
// are alike.
func FramesEqual(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// Allocated returns the bytes f allocates on the heap (by any goroutine,
// exactly: runtime.ReadMemStats).
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// CheckAlloc fails t when f allocates more than max bytes. Over the bound,
// f runs twice more and the least counts, so that what other goroutines
// (the fuzzing engine's) allocated meanwhile does not; f must do the same
// each time.
func CheckAlloc(t testing.TB, what string, max uint64, f func()) {
	t.Helper()
	if n := Allocated(f); n > max {
		if n = min(n, Allocated(f), Allocated(f)); n > max {
			t.Fatalf("%s allocated %d bytes, bound %d", what, n, max)
		}
	}
}

// Allocation bounds of a parser that slices the frames it is given and
// allocates only for its answer: strings of frames it returns (1x the
// frames), an envelope key (the frames and a varint each, in a builder that
// grows by doubling: 2x the wire size at most), an error whose text quotes a
// bounded part of a frame. 8x the wire size covers them with room; the
// constant is the error values and, under the race detector, the fmt state
// that sync.Pool drops on purpose.
const (
	ParserAllocPerByte = 8
	ParserAllocFixed   = 2048
)

// CheckParserAlloc is CheckAlloc with a parser's bound for a message of
// wire bytes (ParserAllocPerByte, ParserAllocFixed).
func CheckParserAlloc(t testing.TB, what string, wire uint64, f func()) {
	t.Helper()
	CheckAlloc(t, fmt.Sprintf("%s, for a message of %d bytes,", what, wire), ParserAllocPerByte*wire+ParserAllocFixed, f)
}

// NonEmpty returns the non-empty frames of m, or the one frame def if there
// are none: frames a fuzz target can use where the protocol wants them
// non-empty.
func NonEmpty(m [][]byte, def string) [][]byte {
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

// JSONText is s as encoding/json keeps it: each byte that is not part of
// valid UTF-8 replaced by U+FFFD.
func JSONText(s string) string {
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
