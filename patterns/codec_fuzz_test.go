package patterns

// FuzzCodecs feeds arbitrary messages from a peer to every codec of
// codec.go, as a mailbox decodes them (decode, and decodeMsg with SUB's
// topic frame skipped): Bytes, String, Frames, JSON of a struct, of any, of
// []byte and of a map, FrameCodec, Binary of an int and of a struct, and a
// user codec that panics. A decode
// error wraps ErrDecode and is never a panic (a user codec's panic is
// an *actor.PanicError too); a value decoded encodes and decodes to the same value, and
// then to the same frames; a value made from the input decodes from its
// frames as it was; a codec of ours allocates no more than a bound in the
// message's size.
//
//	go test -run '^$' -fuzz FuzzCodecs -fuzztime 60s ./patterns
//
// The seed corpus is in testdata/fuzz/FuzzCodecs; a message is written as
// in fuzzMsg, "|a||b" being the frames a, "" and b.

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// fuzzItem is a struct as applications send them in JSON. (No omitempty:
// it would make an empty slice decoded come back nil, which is
// encoding/json's way and no fault of the codec.)
type fuzzItem struct {
	ID    int64             `json:"id"`
	Name  string            `json:"name"`
	Score float64           `json:"score"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	Next  *fuzzItem         `json:"next"`
	Raw   []byte            `json:"raw"`
}

// fixedItem is a fixed-size struct as Binary carries them (no floats: NaN
// is not equal to itself).
type fixedItem struct {
	A int32
	B uint16
	C [3]byte
	D bool
}

// intCodec is FrameCodec as its doc shows it, on decimal integers.
var intCodec = FrameCodec(
	func(n int64) ([]byte, error) { return strconv.AppendInt(nil, n, 10), nil },
	func(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) })

// panicCodec is a user codec with a bug: it reads its first frame as a
// decimal integer, panicking on anything else.
var panicCodec = CodecFuncs[int]{
	EncodeFunc: func(n int) ([][]byte, error) { return [][]byte{strconv.AppendInt(nil, int64(n), 10)}, nil },
	DecodeFunc: func(f [][]byte) (int, error) {
		n, err := strconv.Atoi(string(f[0]))
		if err != nil {
			panic(err)
		}
		return n, nil
	},
}

// Allocation bounds, in bytes a byte of the message's wire size and bytes
// in all. Bytes, Frames and String hand out the frames (String copies one:
// 1x). encoding/json builds Go values from the text, larger than the text
// they come from, in slices and maps that grow by doubling: into any, "[],"
// is a 16-byte interface and a slice header, "{}," an interface and a map,
// and objects nested in objects cost the most, 42x (measured: each level a
// map of one entry). 64x covers them with room. The constant is the
// decoder's state and the error values.
const (
	codecPerByte = 8
	jsonPerByte  = 64
	codecFixed   = 4096
)

func FuzzCodecs(f *testing.F) {
	f.Add([]byte(`|{"id":1,"name":"a","score":0.5,"tags":["x"]}`))
	f.Add([]byte(`|topic|{"id":2}`))
	f.Add([]byte("|a||b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := fuzzcheck.Frames(data)
		for skip := range 2 {
			checkCodec(t, "Bytes", Bytes{}, m, skip, codecPerByte, true)
			checkCodec(t, "String", String{}, m, skip, codecPerByte, true)
			checkCodec(t, "Frames", Frames{}, m, skip, codecPerByte, true)
			checkCodec(t, "JSON[fuzzItem]", JSON[fuzzItem]{}, m, skip, jsonPerByte, true)
			checkCodec(t, "JSON[any]", JSON[any]{}, m, skip, jsonPerByte, true)
			checkCodec(t, "JSON[[]byte]", JSON[[]byte]{}, m, skip, jsonPerByte, true)
			checkCodec(t, "JSON[map]", JSON[map[string]int]{}, m, skip, jsonPerByte, true)
			checkCodec(t, "FrameCodec", intCodec, m, skip, codecPerByte, true)
			checkCodec(t, "Binary[int]", Binary[int]{}, m, skip, codecPerByte, true)
			checkCodec(t, "Binary[fixedItem]", Binary[fixedItem]{}, m, skip, codecPerByte, true)
			checkCodec(t, "CodecFuncs", Codec[int](panicCodec), m, skip, 0, false)
		}
		checkEncodeDecode(t, m)
	})
}

// checkCodec decodes m as a stage does, skip frames dropped first, and
// checks the outcome. ours says the codec is this package's: it may not
// panic, and perByte bounds what it allocates (0: no bound).
func checkCodec[T any](t *testing.T, name string, c Codec[T], m [][]byte, skip int, perByte uint64, ours bool) {
	t.Helper()
	v, err := decodeMsg(c, m, skip)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("%s: decoding %q: error %v does not wrap ErrDecode", name, m, err)
		}
		if ours && isPanic(err) {
			t.Fatalf("%s: decoding %q panicked: %v", name, m, err)
		}
		if len(m) <= skip {
			return
		}
	}
	if err == nil && len(m) <= skip {
		t.Fatalf("%s: decoded %q with %d frames skipped", name, m, skip)
	}
	// What decodeMsg does is decode after the skipped frames.
	w, err2 := decode(c, m[skip:])
	if (err == nil) != (err2 == nil) || err == nil && !reflect.DeepEqual(v, w) {
		t.Fatalf("%s: decodeMsg(%q, %d) = %v, %v; decode after the skip = %v, %v", name, m, skip, v, err, w, err2)
	}
	if err != nil {
		return
	}
	// encode(decode(b)) decodes to the same value, and encodes to the same
	// frames again.
	frames, err := encode(c, v)
	if err != nil {
		t.Fatalf("%s: %v decoded from %q does not encode: %v", name, v, m, err)
	}
	again, err := decode(c, frames)
	if err != nil || !reflect.DeepEqual(again, v) {
		t.Fatalf("%s: %v decoded from %q, encoded as %q, decodes as %v, %v", name, v, m, frames, again, err)
	}
	if frames2, err := encode(c, again); err != nil || !fuzzcheck.FramesEqual(frames2, frames) {
		t.Fatalf("%s: %v encodes as %q, then as %q, %v", name, v, frames, frames2, err)
	}
	if perByte > 0 {
		checkAlloc(t, name, fuzzcheck.WireSize(m), perByte, codecFixed, func() { decodeMsg(c, m, skip) })
	}
}

// checkEncodeDecode makes values of each codec's type from m's frames and
// checks that they decode from their frames as they were.
func checkEncodeDecode(t *testing.T, m [][]byte) {
	joined := bytes.Join(m, nil)
	text := string(joined)
	roundTrip(t, "Bytes", Bytes{}, joined, nil)
	roundTrip(t, "String", String{}, text, nil)
	if len(m) > 0 {
		roundTrip(t, "Frames", Frames{}, m, fuzzcheck.FramesEqual)
	}
	item := fuzzItem{ID: int64(len(joined)) - 7, Name: text, Score: float64(len(m)) / 3, Raw: joined}
	for _, f := range m {
		item.Tags = append(item.Tags, string(f))
	}
	if len(m) > 1 {
		item.Attrs = map[string]string{string(m[0]): string(m[1])}
		item.Next = &fuzzItem{Name: string(m[1])}
	}
	// encoding/json keeps valid UTF-8 only: the value to expect back.
	want := item
	want.Name = fuzzcheck.JSONText(item.Name)
	want.Tags = nil
	for _, s := range item.Tags {
		want.Tags = append(want.Tags, fuzzcheck.JSONText(s))
	}
	if item.Attrs != nil {
		want.Attrs = map[string]string{fuzzcheck.JSONText(string(m[0])): fuzzcheck.JSONText(string(m[1]))}
		want.Next = &fuzzItem{Name: fuzzcheck.JSONText(string(m[1]))}
	}
	frames, err := encode(Codec[fuzzItem](JSON[fuzzItem]{}), item)
	if err != nil {
		t.Fatalf("JSON: %+v does not encode: %v", item, err)
	}
	if got, err := decode(Codec[fuzzItem](JSON[fuzzItem]{}), frames); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON: %+v encoded as %q decodes as %+v, %v", item, frames, got, err)
	}
	roundTrip(t, "JSON[[]byte]", JSON[[]byte]{}, joined, func(a, b []byte) bool { return bytes.Equal(a, b) })
	roundTrip(t, "FrameCodec", intCodec, int64(len(joined))-int64(len(m))*1e15, nil)
}

// roundTrip checks that v decodes from its frames as it was; eq compares
// (nil: reflect.DeepEqual).
func roundTrip[T any](t *testing.T, name string, c Codec[T], v T, eq func(a, b T) bool) {
	t.Helper()
	if eq == nil {
		eq = func(a, b T) bool { return reflect.DeepEqual(a, b) }
	}
	frames, err := encode(c, v)
	if err != nil {
		t.Fatalf("%s: %v does not encode: %v", name, v, err)
	}
	got, err := decode(c, frames)
	if err != nil || !eq(got, v) {
		t.Fatalf("%s: %v encoded as %q decodes as %v, %v", name, v, frames, got, err)
	}
}
