package patterns_test

import (
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/zmqflow/zmqflow/patterns"
)

type point struct{ X, Y int }

func TestCodecsRoundTrip(t *testing.T) {
	roundTrip(t, patterns.Codec[[]byte](patterns.Bytes{}), []byte("raw"))
	roundTrip(t, patterns.Codec[string](patterns.String{}), "text")
	roundTrip(t, patterns.Codec[point](patterns.JSON[point]{}), point{1, 2})
	roundTrip(t, patterns.Codec[[][]byte](patterns.Frames{}), [][]byte{[]byte("a"), {}, []byte("c")})
	roundTrip(t, patterns.FrameCodec(
		func(n int) ([]byte, error) { return []byte(strconv.Itoa(n)), nil },
		func(b []byte) (int, error) { return strconv.Atoi(string(b)) }), 42)
}

func roundTrip[T any](t *testing.T, c patterns.Codec[T], v T) {
	t.Helper()
	frames, err := c.Encode(v)
	if err != nil {
		t.Fatalf("encode %v: %v", v, err)
	}
	got, err := c.Decode(frames)
	if err != nil {
		t.Fatalf("decode %q: %v", frames, err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip of %v gave %v", v, got)
	}
}

func TestCodecsRejectWrongFrameCount(t *testing.T) {
	two := [][]byte{[]byte("a"), []byte("b")}
	if _, err := (patterns.Bytes{}).Decode(two); err == nil {
		t.Error("Bytes decoded 2 frames")
	}
	if _, err := (patterns.String{}).Decode(two); err == nil {
		t.Error("String decoded 2 frames")
	}
	if _, err := (patterns.JSON[point]{}).Decode([][]byte{[]byte("{")}); err == nil {
		t.Error("JSON decoded garbage")
	}
	if _, err := (patterns.Frames{}).Encode(nil); err == nil {
		t.Error("Frames encoded no frames")
	}
}

// panicky is a user codec with a bug: it panics on what it cannot read.
var panicky = patterns.CodecFuncs[int]{
	EncodeFunc: func(n int) ([][]byte, error) {
		if n < 0 {
			panic("negative")
		}
		return [][]byte{[]byte(strconv.Itoa(n))}, nil
	},
	DecodeFunc: func(f [][]byte) (int, error) {
		n, err := strconv.Atoi(string(f[0]))
		if err != nil {
			panic(err)
		}
		return n, nil
	},
}

var errBoom = errors.New("boom")
