package socket

import (
	"encoding/binary"
	"fmt"
)

// Z85 (RFC 32) is the text form of CURVE keys: every 4 bytes become 5
// printable characters, a base-85 number with its most significant digit
// first. libzmq, CZMQ and pyzmq write keys this way.

const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// z85Value maps a character to its digit plus one; 0 marks a character
// outside the alphabet.
var z85Value = func() (v [256]byte) {
	for i := range len(z85Alphabet) {
		v[z85Alphabet[i]] = byte(i + 1)
	}
	return v
}()

// Z85Encode returns the Z85 text of b, whose length must be a multiple of 4
// (a CURVE key, 32 bytes, becomes 40 characters).
func Z85Encode(b []byte) (string, error) {
	if len(b)%4 != 0 {
		return "", fmt.Errorf("%w: Z85 encodes 4 bytes at a time, got %d", ErrBadKey, len(b))
	}
	out := make([]byte, len(b)/4*5)
	for i, o := 0, 0; i < len(b); i, o = i+4, o+5 {
		v := binary.BigEndian.Uint32(b[i:])
		for k := 4; k >= 0; k-- {
			out[o+k] = z85Alphabet[v%85]
			v /= 85
		}
	}
	return string(out), nil
}

// Z85Decode returns the bytes of Z85 text s, whose length must be a
// multiple of 5. A character outside the alphabet, or a group of five whose
// value does not fit in 4 bytes, is an error.
func Z85Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("%w: Z85 text comes 5 characters at a time, got %d", ErrBadKey, len(s))
	}
	out := make([]byte, len(s)/5*4)
	for i, o := 0, 0; i < len(s); i, o = i+5, o+4 {
		var v uint64
		for k := range 5 {
			d := z85Value[s[i+k]]
			if d == 0 {
				return nil, fmt.Errorf("%w: %q at %d is not a Z85 character", ErrBadKey, s[i+k], i+k)
			}
			v = v*85 + uint64(d-1)
		}
		if v > 0xFFFFFFFF {
			return nil, fmt.Errorf("%w: Z85 group %q at %d is over 32 bits", ErrBadKey, s[i:i+5], i)
		}
		binary.BigEndian.PutUint32(out[o:], uint32(v))
	}
	return out, nil
}
