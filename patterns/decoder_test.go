package patterns

import (
	"bytes"
	"testing"

	"github.com/zmqflow/zmqflow/socket"
)

// The direct decoder of Bytes gives what decodeMsg with Bytes gives: the
// frame after skip, the same one (no copy), or the same error.
func TestBytesDecoderIsDecodeMsg(t *testing.T) {
	frames := [][]byte{[]byte("topic"), []byte("body"), {}, []byte("more")}
	for skip := range 2 {
		dec := decoder[[]byte](Bytes{}, skip)
		for n := range len(frames) + 1 {
			m := socket.Msg(frames[:n])
			got, err := dec(m)
			want, werr := decodeMsg[[]byte](Bytes{}, m, skip)
			if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
				t.Fatalf("skip %d, %d frames: error %v, want %v", skip, n, err, werr)
			}
			if !bytes.Equal(got, want) || err == nil && &got[:1][0] != &m[skip][:1][0] {
				t.Fatalf("skip %d, %d frames: %q, want %q, the frame itself", skip, n, got, want)
			}
		}
	}
}
