//go:build !amd64 || purego

package salsa20

// useVector is false: there is no vector code for this build.
const useVector = false

// xorGroups is never called without vector code.
func xorGroups(out, in *byte, n uint64, counter *[16]byte, key *[32]byte) {
	panic("salsa20: no vector code in this build")
}
