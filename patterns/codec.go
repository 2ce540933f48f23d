package patterns

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"unsafe"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/oneframe"
	"github.com/zmqflow/zmqflow/socket"
)

// Codec turns values of type T into the frames of one ZeroMQ message and
// back. Frames are the unit ZeroMQ delivers whole (guide ch. 2, "Multipart
// Messages"), so a codec may use several: a header frame and a body frame,
// for instance.
//
// A stage calls its codec from its own goroutine only, but one codec value
// may serve several stages at once, so a codec must be safe for concurrent
// use (a stateless codec is). Encode's frames belong to the socket once
// sent: Encode must not return frames it will modify later. Decode's frames
// belong to the codec: it may keep them (Bytes does, without copying).
//
// A Decode that fails (or panics) is reported by the stage as an error
// wrapping ErrDecode, never as a panic; an Encode that fails (or panics),
// as an error wrapping ErrEncode. This package's codecs return errors that
// wrap them already, so that errors.Is matches when a codec is called
// directly too; the stage does not wrap those a second time.
type Codec[T any] interface {
	Encode(v T) ([][]byte, error)
	Decode(frames [][]byte) (T, error)
}

// CodecFuncs is an adapter to allow the use of two ordinary functions as a
// Codec: the way to plug in protobuf, msgpack or anything else without this
// package importing it. Both must be set.
type CodecFuncs[T any] struct {
	EncodeFunc func(T) ([][]byte, error)
	DecodeFunc func([][]byte) (T, error)
}

// Encode calls c.EncodeFunc(v).
func (c CodecFuncs[T]) Encode(v T) ([][]byte, error) { return c.EncodeFunc(v) }

// Decode calls c.DecodeFunc(frames).
func (c CodecFuncs[T]) Decode(frames [][]byte) (T, error) { return c.DecodeFunc(frames) }

// FrameCodec is a Codec of one frame from a marshal and an unmarshal function,
// such as proto.Marshal and a closure over proto.Unmarshal. A message of
// other than one frame does not decode. The functions' errors come back
// wrapped in ErrEncode and ErrDecode.
func FrameCodec[T any](marshal func(T) ([]byte, error), unmarshal func([]byte) (T, error)) Codec[T] {
	return CodecFuncs[T]{
		EncodeFunc: func(v T) ([][]byte, error) {
			b, err := marshal(v)
			if err != nil {
				return nil, encodeErr(err)
			}
			return [][]byte{b}, nil
		},
		DecodeFunc: func(frames [][]byte) (T, error) {
			if len(frames) != 1 {
				var zero T
				return zero, frameCountError(len(frames))
			}
			v, err := unmarshal(frames[0])
			if err != nil {
				return v, decodeErr(err)
			}
			return v, nil
		},
	}
}

// Bytes is the Codec of one raw frame, without copying: the slice sent must
// not be modified after the stage took it, and the slice received is the
// frame itself.
type Bytes struct{}

// Encode returns b as the only frame.
func (Bytes) Encode(b []byte) ([][]byte, error) { return [][]byte{b}, nil }

// Decode returns the only frame.
func (Bytes) Decode(frames [][]byte) ([]byte, error) {
	if len(frames) != 1 {
		return nil, frameCountError(len(frames))
	}
	return frames[0], nil
}

// Frames is the Codec of a whole message as it is: the value is the frames.
type Frames struct{}

// Encode returns the frames; a message needs at least one.
func (Frames) Encode(f [][]byte) ([][]byte, error) {
	if len(f) == 0 {
		return nil, fmt.Errorf("%w: no frames", ErrEncode)
	}
	return f, nil
}

// Decode returns the frames; as for Encode, there must be one at least (an
// envelope's body may have none: an echo of it would not encode).
func (Frames) Decode(f [][]byte) ([][]byte, error) {
	if len(f) == 0 {
		return nil, fmt.Errorf("%w: no frames", ErrDecode)
	}
	return f, nil
}

// String is the Codec of one frame holding a string.
type String struct{}

// Encode returns s as the only frame.
func (String) Encode(s string) ([][]byte, error) { return [][]byte{[]byte(s)}, nil }

// Decode returns the only frame as a string.
func (String) Decode(frames [][]byte) (string, error) {
	if len(frames) != 1 {
		return "", frameCountError(len(frames))
	}
	return string(frames[0]), nil
}

// JSON is the Codec of one frame holding T in JSON (encoding/json). It
// takes any type and any peer can read it, at a price: encoding/json
// reflects over the value and allocates, so a reference that sends small
// structs as JSON does about a quarter of the messages a second that it does
// with Binary. Prefer Binary for fixed-size values between zmqflow
// processes, JSON for values of any shape or peers in other languages.
type JSON[T any] struct{}

// Encode marshals v into the only frame.
func (JSON[T]) Encode(v T) ([][]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, encodeErr(err)
	}
	return [][]byte{b}, nil
}

// Decode unmarshals the only frame.
func (JSON[T]) Decode(frames [][]byte) (T, error) {
	var v T
	if len(frames) != 1 {
		return v, frameCountError(len(frames))
	}
	if err := json.Unmarshal(frames[0], &v); err != nil {
		return v, decodeErr(err)
	}
	return v, nil
}

// Binary is the Codec of one frame holding a fixed-size value in
// little-endian binary: a number, a bool, or an array or struct of them, laid
// out as encoding/binary does (int and uint as 8 bytes). The layout of a type
// is worked out once, so a struct costs no reflection per message. A T that
// implements encoding.BinaryMarshaler and encoding.BinaryUnmarshaler (on its
// pointer) is encoded by those methods instead. Encode fails for
// types of no fixed size (strings, slices, maps, pointers, interfaces, int
// fields in structs), which it could not decode; Decode fails unless the
// frame is exactly one value.
type Binary[T any] struct{}

// Encode writes v into the only frame.
func (Binary[T]) Encode(v T) ([][]byte, error) {
	return encodeBinary(binaryInfoFor(reflect.TypeFor[T]()), v)
}

// Decode reads the only frame.
func (Binary[T]) Decode(frames [][]byte) (T, error) {
	return decodeBinary[T](binaryInfoFor(reflect.TypeFor[T]()), frames)
}

// bind returns Binary with T's layout looked up once, for the inboxes and
// outboxes that use it for every message (see bindCodec).
func (Binary[T]) bind() Codec[T] { return boundBinary[T]{binaryInfoFor(reflect.TypeFor[T]())} }

// boundBinary is Binary[T] holding T's layout, so that a message costs no
// lookup of it.
type boundBinary[T any] struct{ info *binaryInfo }

func (b boundBinary[T]) Encode(v T) ([][]byte, error)      { return encodeBinary(b.info, v) }
func (b boundBinary[T]) Decode(frames [][]byte) (T, error) { return decodeBinary[T](b.info, frames) }

// copiesOut reports whether c, a bound codec (bindCodec), keeps nothing of
// the frames it decodes, whatever M's own methods do: String, Binary of a
// type it lays out itself, and JSON of a type with no UnmarshalJSON or
// UnmarshalText of its own anywhere in it (those must copy what they keep,
// by their contracts, but this does not count on it). An inbox gives the
// messages it decoded with such a codec back to the socket's readers to
// reuse (oneframe.Recycle). The types are matched exactly: a codec that
// embeds one of these has a Decode of its own.
func copiesOut[M any](c Codec[M]) bool {
	switch c := any(c).(type) {
	case String:
		return true
	case boundBinary[M]:
		return !c.info.unmarshal
	case JSON[M]:
		return !unmarshals(reflect.TypeFor[M](), map[reflect.Type]bool{})
	}
	return false
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// unmarshals reports whether encoding/json would hand a frame's bytes to
// a method of t or of a type within it.
func unmarshals(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	pt := reflect.PointerTo(t)
	if t.Implements(jsonUnmarshaler) || pt.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return unmarshals(t.Elem(), seen)
	case reflect.Map:
		return unmarshals(t.Key(), seen) || unmarshals(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if unmarshals(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// bindCodec returns c, or c with its per-type work done once when it can
// (Binary): what an inbox or outbox keeps to use for every message. The
// type is matched exactly: a codec that embeds Binary has a Decode of its
// own.
func bindCodec[M any](c Codec[M]) Codec[M] {
	if b, ok := any(c).(Binary[M]); ok {
		return b.bind()
	}
	return c
}

func encodeBinary[T any](info *binaryInfo, v T) ([][]byte, error) {
	switch {
	case info.marshal:
		return marshalBinary(v)
	case info.plan != nil:
		m := oneframe.Make(info.plan.size)
		m[0] = info.plan.encode(m[0][:0], unsafe.Pointer(&v))
		return m, nil
	case info.unsized:
		return nil, fmt.Errorf("%w: %T has no fixed size: Binary could not decode it", ErrEncode, v)
	}
	b, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		return nil, encodeErr(err)
	}
	return [][]byte{b}, nil
}

func decodeBinary[T any](info *binaryInfo, frames [][]byte) (T, error) {
	var v T
	if len(frames) != 1 {
		return v, frameCountError(len(frames))
	}
	f := frames[0]
	switch {
	case info.unmarshal:
		return unmarshalBinary[T](f)
	case info.plan != nil:
		if err := info.plan.decode(f, unsafe.Pointer(&v)); err != nil {
			return v, decodeErr(err)
		}
		return v, nil
	}
	n, err := binary.Decode(f, binary.LittleEndian, &v)
	switch {
	case err != nil:
		return v, decodeErr(err)
	case n != len(f):
		return v, fmt.Errorf("%w: %d trailing bytes after the value", ErrDecode, len(f)-n)
	}
	return v, nil
}

// marshalBinary and unmarshalBinary are apart so that the interface
// conversions they need cost the other paths nothing.
func marshalBinary[T any](v T) ([][]byte, error) {
	b, err := any(v).(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, encodeErr(err)
	}
	return [][]byte{b}, nil
}

func unmarshalBinary[T any](f []byte) (T, error) {
	var v T
	if err := any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(f); err != nil {
		return v, decodeErr(err)
	}
	return v, nil
}

func frameCountError(n int) error { return fmt.Errorf("%w: want 1 frame, got %d", ErrDecode, n) }

// decodeErr and encodeErr wrap a codec's failure in ErrDecode or ErrEncode,
// once: an error that wraps it already (from a codec of this package, or
// one that follows its lead) keeps its message.
func decodeErr(err error) error {
	if errors.Is(err, ErrDecode) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDecode, err)
}

func encodeErr(err error) error {
	if errors.Is(err, ErrEncode) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrEncode, err)
}

// decode runs c.Decode, turning a failure or a panic into an error wrapping
// ErrDecode.
func decode[T any](c Codec[T], frames [][]byte) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %w", ErrDecode, &actor.PanicError{Value: r, Stack: debug.Stack()})
		}
	}()
	v, err = c.Decode(frames)
	if err != nil {
		err = decodeErr(err)
	}
	return v, err
}

// decoder returns the function that decodes a message with c after its
// first skip frames. For Bytes, whose Decode cannot panic, it is a direct
// one, without decode's deferred recover and interface call: a PULL
// mailbox of raw frames pays for the frame and little else.
func decoder[T any](c Codec[T], skip int) func(socket.Msg) (T, error) {
	if _, ok := any(c).(Bytes); ok {
		return func(m socket.Msg) (T, error) {
			if len(m) != skip+1 {
				var zero T
				return zero, decodeCountError(len(m), skip)
			}
			// T is []byte: only Bytes is a Codec of it.
			return *(*T)(unsafe.Pointer(&m[skip])), nil
		}
	}
	return func(m socket.Msg) (T, error) { return decodeMsg(c, m, skip) }
}

// decodeCountError is a message of n frames that Bytes, after skip frames, does not
// decode: Bytes.Decode's error, as decodeMsg would return it.
func decodeCountError(n, skip int) error {
	if n <= skip {
		return fmt.Errorf("%w: %d frames, want more than %d", ErrDecode, n, skip)
	}
	return frameCountError(n - skip)
}

// decodeMsg decodes m after its first skip frames (a SUB's topic frame).
func decodeMsg[T any](c Codec[T], m [][]byte, skip int) (T, error) {
	if len(m) <= skip {
		var zero T
		return zero, fmt.Errorf("%w: %d frames, want more than %d", ErrDecode, len(m), skip)
	}
	return decode(c, m[skip:])
}

// encoder returns the function that encodes with c. For Bytes, whose
// Encode cannot fail, it is Encode itself, without encode's deferred
// recover and interface call: a PUSH reference of raw frames pays for the
// message and little else.
func encoder[T any](c Codec[T]) func(T) ([][]byte, error) {
	if _, ok := any(c).(Bytes); ok {
		// T is []byte: only Bytes is a Codec of it.
		return any(Bytes{}.Encode).(func(T) ([][]byte, error))
	}
	return func(v T) ([][]byte, error) { return encode(c, v) }
}

// encode runs c.Encode, turning a failure, a panic or an empty message into
// an error wrapping ErrEncode.
func encode[T any](c Codec[T], v T) (frames [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %w", ErrEncode, &actor.PanicError{Value: r, Stack: debug.Stack()})
		}
	}()
	frames, err = c.Encode(v)
	switch {
	case err != nil:
		err = encodeErr(err)
	case len(frames) == 0:
		err = fmt.Errorf("%w: codec returned no frames", ErrEncode)
	}
	return frames, err
}
