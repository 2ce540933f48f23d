package patterns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
)

type inner struct {
	X uint16
	Y [2]int8
}

type wide struct {
	A int32
	B float64
	C [3]uint16
	D bool
	_ int16
	E inner
	F float32
	G uint64
}

// Binary lays values out as encoding/binary does, byte for byte, without
// reflecting over each one.
func TestBinaryMatchesEncodingBinary(t *testing.T) {
	check := func(name string, v any, enc func() ([][]byte, error), dec func([]byte) (any, error)) {
		t.Helper()
		want, err := binary.Append(nil, binary.LittleEndian, v)
		if err != nil {
			t.Fatalf("%s: encoding/binary: %v", name, err)
		}
		got, err := enc()
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], want) {
			t.Fatalf("%s: Binary gave %x, %v; encoding/binary %x", name, got, err, want)
		}
		back, err := dec(want)
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("%s: decoded %+v, %v; want %+v", name, back, err, v)
		}
	}
	w := wide{A: -7, B: math.Pi, C: [3]uint16{1, 2, 65535}, D: true, E: inner{9, [2]int8{-1, 127}}, F: -0.5, G: 1 << 63}
	check("struct", w, func() ([][]byte, error) { return Binary[wide]{}.Encode(w) },
		func(b []byte) (any, error) { return Binary[wide]{}.Decode([][]byte{b}) })
	arr := [4]float32{1, -2, 3.5, float32(math.Inf(1))}
	check("array", arr, func() ([][]byte, error) { return Binary[[4]float32]{}.Encode(arr) },
		func(b []byte) (any, error) { return Binary[[4]float32]{}.Decode([][]byte{b}) })
	check("uint64", uint64(42), func() ([][]byte, error) { return Binary[uint64]{}.Encode(42) },
		func(b []byte) (any, error) { return Binary[uint64]{}.Decode([][]byte{b}) })

	// int, which encoding/binary refuses, is 8 bytes at the top.
	f, err := Binary[int]{}.Encode(-3)
	if err != nil || len(f[0]) != 8 {
		t.Fatalf("int: %x, %v", f, err)
	}
	if v, err := (Binary[int]{}).Decode(f); err != nil || v != -3 {
		t.Fatalf("int back: %d, %v", v, err)
	}
	// A struct with an int field has no fixed size, as in encoding/binary.
	type withInt struct{ N int }
	if _, err := (Binary[withInt]{}).Encode(withInt{1}); err == nil {
		t.Fatal("a struct with an int field encoded")
	}
	// A frame of the wrong length does not decode.
	if _, err := (Binary[wide]{}).Decode([][]byte{make([]byte, 3)}); err == nil {
		t.Fatal("3 bytes decoded as a wide")
	}
	// A bool byte other than 0 or 1 reads as true, as encoding/binary has it.
	if v, err := (Binary[bool]{}).Decode([][]byte{{7}}); err != nil || !v {
		t.Fatalf("bool from 7: %v, %v", v, err)
	}
}

func BenchmarkBinaryStruct(b *testing.B) {
	w := wide{A: 1, B: 2}
	b.Run("Binary", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			f, _ := Binary[wide]{}.Encode(w)
			Binary[wide]{}.Decode(f)
		}
	})
	b.Run("encoding-binary", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf, _ := binary.Append(nil, binary.LittleEndian, w)
			var v wide
			binary.Decode(buf, binary.LittleEndian, &v)
		}
	})
}

// An inbox or outbox keeps Binary bound to its type's layout (bindCodec),
// and the bound codec encodes and decodes exactly as Binary does, refusals
// included.
func TestBoundBinaryIsBinary(t *testing.T) {
	w := wide{A: -7, B: math.Pi, C: [3]uint16{1, 2, 65535}, D: true, E: inner{9, [2]int8{-1, 127}}, F: -0.5, G: 1 << 63}
	bound := bindCodec[wide](Binary[wide]{})
	if _, ok := bound.(boundBinary[wide]); !ok {
		t.Fatalf("bindCodec(Binary) is a %T", bound)
	}
	want, err1 := Binary[wide]{}.Encode(w)
	got, err2 := bound.Encode(w)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("bound %x, %v; Binary %x, %v", got, err2, want, err1)
	}
	if back, err := bound.Decode(got); err != nil || back != w {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	if _, err := bound.Decode([][]byte{make([]byte, 3)}); err == nil {
		t.Fatal("3 bytes decoded as a wide")
	}
	type withInt struct{ N int }
	if _, err := bindCodec[withInt](Binary[withInt]{}).Encode(withInt{1}); err == nil {
		t.Fatal("a struct with an int field encoded")
	}
	if c := bindCodec[string](JSON[string]{}); !reflect.DeepEqual(c, Codec[string](JSON[string]{})) {
		t.Fatalf("bindCodec changed a codec with no per-type work: %T", c)
	}
}

// Binary refuses to encode what it cannot decode: encoding/binary writes
// out a slice's or a pointer's elements, but reads nothing back into a zero
// slice or nil pointer, so every message sent would be a dead letter at the
// receiver.
func TestBinaryRefusesWhatItCannotDecode(t *testing.T) {
	refuses := func(name string, encode func() ([][]byte, error)) {
		t.Helper()
		if f, err := encode(); !errors.Is(err, ErrEncode) {
			t.Errorf("Binary[%s] encoded %x, %v; want ErrEncode", name, f, err)
		}
	}
	refuses("[]int32", func() ([][]byte, error) { return Binary[[]int32]{}.Encode([]int32{1, 2}) })
	refuses("[]byte", func() ([][]byte, error) { return bindCodec[[]byte](Binary[[]byte]{}).Encode([]byte("hi")) })
	refuses("*int32", func() ([][]byte, error) { return Binary[*int32]{}.Encode(new(int32)) })
	refuses("any", func() ([][]byte, error) { return Binary[any]{}.Encode(int32(1)) })
}
