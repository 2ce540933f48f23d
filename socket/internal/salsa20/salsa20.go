// Package salsa20 is a faster drop-in for
// golang.org/x/crypto/salsa20/salsa.XORKeyStream, the keystream under every
// CURVE MESSAGE box. On amd64 with AVX2 it computes eight 64-byte Salsa20
// blocks at once (one state word per YMM register, one block per lane);
// elsewhere, on other CPUs and with the purego build tag it is x/crypto's.
//
// The functions are safe for concurrent use: they keep no state between
// calls.
package salsa20

import (
	"encoding/binary"

	"golang.org/x/crypto/salsa20/salsa"
)

// groupSize is the bytes of keystream one pass of the vector code yields:
// eight blocks.
const groupSize = 8 * 64

// tailMin is the shortest tail worth a whole eight-block pass into a
// scratch buffer rather than x/crypto's block-at-a-time code; below it the
// seven blocks computed for nothing cost more than they save.
const tailMin = 3 * 64

// XORKeyStream XORs in with the Salsa20/20 keystream for key and counter
// into out, exactly as x/crypto's salsa.XORKeyStream: counter is the 8-byte
// nonce then the little-endian 64-bit block counter of the first block, and
// is not modified. out must be at least as long as in; out and in may be
// the same slice but must not otherwise overlap.
func XORKeyStream(out, in []byte, counter *[16]byte, key *[32]byte) {
	if len(in) == 0 {
		return
	}
	_ = out[len(in)-1]
	if !useVector || len(in) < tailMin {
		salsa.XORKeyStream(out, in, counter, key)
		return
	}
	ctr := *counter
	if n := len(in) / groupSize; n > 0 {
		xorGroups(&out[0], &in[0], uint64(n), &ctr, key)
		done := n * groupSize
		out, in = out[done:], in[done:]
		advance(&ctr, uint64(n*8))
	}
	switch {
	case len(in) == 0:
	case len(in) < tailMin:
		salsa.XORKeyStream(out, in, &ctr, key)
	default:
		var buf [groupSize]byte
		copy(buf[:], in)
		xorGroups(&buf[0], &buf[0], 1, &ctr, key)
		copy(out, buf[:len(in)])
	}
}

// advance adds blocks to the 64-bit block counter in ctr[8:], wrapping as
// x/crypto's does.
func advance(ctr *[16]byte, blocks uint64) {
	binary.LittleEndian.PutUint64(ctr[8:], binary.LittleEndian.Uint64(ctr[8:])+blocks)
}
