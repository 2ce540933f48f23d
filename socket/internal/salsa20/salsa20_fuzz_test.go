package salsa20

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/salsa20/salsa"
)

// FuzzXORKeyStream compares XORKeyStream with x/crypto's for any input,
// counter (nonce and block counter) and key, and in place.
func FuzzXORKeyStream(f *testing.F) {
	f.Add([]byte{}, make([]byte, 16), make([]byte, 32))
	f.Add(make([]byte, 1000), []byte("nonce___\xfa\xff\xff\xff\x00\x00\x00\x00"), []byte("0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, in, ctr, k []byte) {
		if len(in) > 1<<16 {
			in = in[:1<<16] // bound the work per input
		}
		var counter [16]byte
		var key [32]byte
		copy(counter[:], ctr)
		copy(key[:], k)
		want := make([]byte, len(in))
		salsa.XORKeyStream(want, in, &counter, &key)
		got := make([]byte, len(in))
		XORKeyStream(got, in, &counter, &key)
		if !bytes.Equal(got, want) {
			t.Fatalf("len %d counter %x: differs from x/crypto", len(in), counter)
		}
		XORKeyStream(in, in, &counter, &key)
		if !bytes.Equal(in, want) {
			t.Fatalf("len %d counter %x: in place differs from x/crypto", len(in), counter)
		}
	})
}
