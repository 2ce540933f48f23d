package oneframe

import (
	"bytes"
	"testing"
)

func TestMake(t *testing.T) {
	for n := 0; n <= Max+20; n++ {
		m := Make(n)
		if len(m) != 1 || len(m[0]) != n || cap(m[0]) != n {
			t.Fatalf("Make(%d): %d frames, frame len %d cap %d", n, len(m), len(m[0]), cap(m[0]))
		}
		for i := range m[0] {
			if m[0][i] != 0 {
				t.Fatalf("Make(%d): byte %d is %d, not zero", n, i, m[0][i])
			}
		}
		// Appending to the frame or to the message leaves the other whole.
		copy(m[0], bytes.Repeat([]byte{'a'}, n))
		f := append(m[0], 'b')
		m2 := append(m, []byte("next"))
		if !bytes.Equal(m[0], bytes.Repeat([]byte{'a'}, n)) || len(f) != n+1 || len(m2) != 2 || !bytes.Equal(m2[0], m[0]) {
			t.Fatalf("Make(%d): an append wrote over the message", n)
		}
	}
}

func TestMakeAllocatesOnce(t *testing.T) {
	for _, n := range []int{0, 1, 8, 9, 24, 40, 56, Max} {
		if a := testing.AllocsPerRun(100, func() { sink = Make(n) }); a != 1 {
			t.Errorf("Make(%d): %v allocations, want 1", n, a)
		}
	}
	if a := testing.AllocsPerRun(100, func() { sink = Make(Max + 1) }); a != 2 {
		t.Errorf("Make(%d): %v allocations, want 2", Max+1, a)
	}
}

var sink [][]byte

func BenchmarkMake(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = Make(8)
	}
}
