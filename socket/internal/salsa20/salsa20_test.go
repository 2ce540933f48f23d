package salsa20

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/salsa20/salsa"
)

// check compares XORKeyStream with x/crypto's for one input, both into a
// fresh buffer and in place, and that the counter is left alone.
func check(t testing.TB, in []byte, counter [16]byte, key [32]byte) {
	t.Helper()
	want := make([]byte, len(in))
	c := counter
	salsa.XORKeyStream(want, in, &c, &key)

	got := make([]byte, len(in))
	XORKeyStream(got, in, &c, &key)
	if c != counter {
		t.Fatalf("len %d: counter changed to %x", len(in), c)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("len %d counter %x: first difference at %d", len(in), counter, firstDiff(got, want))
	}

	inPlace := bytes.Clone(in)
	XORKeyStream(inPlace, inPlace, &c, &key)
	if !bytes.Equal(inPlace, want) {
		t.Fatalf("len %d counter %x in place: first difference at %d", len(in), counter, firstDiff(inPlace, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func randCase(r *rand.Rand, n int) ([]byte, [16]byte, [32]byte) {
	in := make([]byte, n)
	var counter [16]byte
	var key [32]byte
	for i := range in {
		in[i] = byte(r.Uint32())
	}
	for i := range counter {
		counter[i] = byte(r.Uint32())
	}
	for i := range key {
		key[i] = byte(r.Uint32())
	}
	return in, counter, key
}

func TestXORKeyStreamMatchesXCrypto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 2000; n++ {
		in, counter, key := randCase(r, n)
		check(t, in, counter, key)
	}
}

// TestXORKeyStreamOffsets runs unaligned slices of a larger buffer, so
// neither input nor output starts on any boundary.
func TestXORKeyStreamOffsets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		buf, counter, key := randCase(r, 4200)
		off := r.IntN(64)
		n := r.IntN(len(buf) - off)
		check(t, buf[off:off+n], counter, key)
	}
}

// TestXORKeyStreamCounterWrap starts just below the point where the low
// 32-bit word of the block counter carries into the high one, and below the
// wrap of the whole 64-bit counter, so that the carry falls inside one
// eight-block pass, at each lane, and in the tail.
func TestXORKeyStreamCounterWrap(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	starts := []uint64{0xffffffff, 0x1ffffffff, 0xfffffffffffffff0, ^uint64(0)}
	for _, s := range starts {
		for back := uint64(0); back < 24; back++ {
			for _, n := range []int{64, 300, 512, 1000, 1024, 2000} {
				t.Run(fmt.Sprintf("%x-%d/%d", s, back, n), func(t *testing.T) {
					in, counter, key := randCase(r, n)
					binary.LittleEndian.PutUint64(counter[8:], s-back)
					check(t, in, counter, key)
				})
			}
		}
	}
}

// TestXORKeyStreamShortOut is x/crypto's contract: an output shorter than
// the input panics before anything is written.
func TestXORKeyStreamShortOut(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short output")
		}
	}()
	var counter [16]byte
	var key [32]byte
	XORKeyStream(make([]byte, 1023), make([]byte, 1024), &counter, &key)
}

func BenchmarkXORKeyStream(b *testing.B) {
	for _, n := range []int{64, 1024, 8192} {
		in, counter, key := randCase(rand.New(rand.NewPCG(7, 8)), n)
		out := make([]byte, n)
		b.Run(fmt.Sprintf("ours/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				XORKeyStream(out, in, &counter, &key)
			}
		})
		b.Run(fmt.Sprintf("xcrypto/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				salsa.XORKeyStream(out, in, &counter, &key)
			}
		})
	}
}
