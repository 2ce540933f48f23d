package patterns

// Helpers of the fuzz targets (codec_fuzz_test.go, envelope_fuzz_test.go).

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// checkAlloc fails t when f allocates more than perByte bytes a byte of a
// message of wire bytes, plus fixed (see fuzzcheck.CheckAlloc).
func checkAlloc(t *testing.T, what string, wire, perByte, fixed uint64, f func()) {
	t.Helper()
	fuzzcheck.CheckAlloc(t, fmt.Sprintf("%s, for a message of %d bytes,", what, wire), perByte*wire+fixed, f)
}

// isPanic reports whether err carries a recovered panic.
func isPanic(err error) bool {
	var pe *actor.PanicError
	return errors.As(err, &pe)
}
