//go:build amd64 && !purego

package salsa20

import "golang.org/x/sys/cpu"

// useVector holds where the eight-block AVX2 code can run.
var useVector = cpu.X86.HasAVX2

// xorGroups XORs n*512 bytes of in with keystream into out, eight blocks
// per pass, starting at the block counter in counter[8:].
//
//go:noescape
func xorGroups(out, in *byte, n uint64, counter *[16]byte, key *[32]byte)
