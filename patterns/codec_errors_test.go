package patterns

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

var errCodecTest = errors.New("codec test failure")

type xy struct{ X, Y int }

// badBinary is a Binary type whose own methods fail.
type badBinary struct{}

func (badBinary) MarshalBinary() ([]byte, error) { return nil, errCodecTest }
func (*badBinary) UnmarshalBinary([]byte) error  { return errCodecTest }

// codecFailure is one failing call of a codec, made directly (run) and as
// the package's helpers make it (helper).
type codecFailure struct {
	name   string
	want   error // ErrDecode or ErrEncode
	run    func() error
	helper func() error
}

func decodeFailure[T any](name string, c Codec[T], frames [][]byte) codecFailure {
	return codecFailure{name, ErrDecode,
		func() error { _, err := c.Decode(frames); return err },
		func() error { _, err := decode(bindCodec(c), frames); return err }}
}

func encodeFailure[T any](name string, c Codec[T], v T) codecFailure {
	return codecFailure{name, ErrEncode,
		func() error { _, err := c.Encode(v); return err },
		func() error { _, err := encode(bindCodec(c), v); return err }}
}

// This package's codecs, called directly, fail with errors that wrap
// ErrDecode or ErrEncode; the helpers that run them for a mailbox or a
// reference return those errors as they are, not wrapped a second time.
func TestCodecErrorsWrapSentinels(t *testing.T) {
	two := [][]byte{[]byte("a"), []byte("b")}
	frameCodec := FrameCodec(
		func(n int) ([]byte, error) {
			if n < 0 {
				return nil, errCodecTest
			}
			return []byte(strconv.Itoa(n)), nil
		},
		func(b []byte) (int, error) { return strconv.Atoi(string(b)) })
	cases := []codecFailure{
		decodeFailure[[][]byte]("Frames.Decode", Frames{}, nil),
		encodeFailure[[][]byte]("Frames.Encode", Frames{}, nil),
		decodeFailure[[]byte]("Bytes.Decode", Bytes{}, two),
		decodeFailure[string]("String.Decode", String{}, two),
		decodeFailure[xy]("JSON.Decode count", JSON[xy]{}, two),
		decodeFailure[xy]("JSON.Decode", JSON[xy]{}, [][]byte{[]byte("{")}),
		encodeFailure[chan int]("JSON.Encode", JSON[chan int]{}, nil),
		decodeFailure[int32]("Binary.Decode count", Binary[int32]{}, two),
		decodeFailure[int32]("Binary.Decode short", Binary[int32]{}, [][]byte{{1, 2, 3}}),
		decodeFailure[complex64]("Binary.Decode trailing", Binary[complex64]{}, [][]byte{make([]byte, 9)}),
		decodeFailure[complex64]("Binary.Decode encoding/binary", Binary[complex64]{}, [][]byte{make([]byte, 7)}),
		decodeFailure[string]("Binary.Decode no fixed size", Binary[string]{}, [][]byte{[]byte("x")}),
		encodeFailure[string]("Binary.Encode no fixed size", Binary[string]{}, "x"),
		decodeFailure[badBinary]("Binary.Decode UnmarshalBinary", Binary[badBinary]{}, [][]byte{{1}}),
		encodeFailure[badBinary]("Binary.Encode MarshalBinary", Binary[badBinary]{}, badBinary{}),
		decodeFailure[int]("FrameCodec.Decode count", frameCodec, two),
		decodeFailure[int]("FrameCodec.Decode", frameCodec, [][]byte{[]byte("x")}),
		encodeFailure[int]("FrameCodec.Encode", frameCodec, -1),
	}
	for _, c := range cases {
		err := c.run()
		t.Logf("%s: %v", c.name, err)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v does not wrap %v", c.name, err, c.want)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, c.want.Error()+": ") || strings.Count(msg, "patterns: ") != 1 {
			t.Errorf("%s: error %q: want %q once, then the cause", c.name, msg, c.want.Error()+": ")
		}
		if herr := c.helper(); herr == nil || herr.Error() != err.Error() {
			t.Errorf("%s: through the package's helper: %v, want %v", c.name, herr, err)
		}
	}
}

// A user's codec's bare errors are wrapped once by the helpers.
func TestUserCodecErrorsWrappedOnce(t *testing.T) {
	c := CodecFuncs[int]{
		EncodeFunc: func(int) ([][]byte, error) { return nil, errCodecTest },
		DecodeFunc: func([][]byte) (int, error) { return 0, errCodecTest },
	}
	if _, err := decode[int](c, nil); !errors.Is(err, ErrDecode) || !errors.Is(err, errCodecTest) ||
		err.Error() != ErrDecode.Error()+": "+errCodecTest.Error() {
		t.Errorf("decode: %v", err)
	}
	if _, err := encode[int](c, 0); !errors.Is(err, ErrEncode) || !errors.Is(err, errCodecTest) ||
		err.Error() != ErrEncode.Error()+": "+errCodecTest.Error() {
		t.Errorf("encode: %v", err)
	}
}
