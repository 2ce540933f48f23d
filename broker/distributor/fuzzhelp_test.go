package distributor

// Helpers of the fuzz target (fuzz_test.go).

import (
	"fmt"
	"testing"

	"github.com/zmqflow/zmqflow/internal/fuzzcheck"
)

// Allocation bounds of the parsers, in bytes. A parser slices the frames it
// is given and allocates only for its answer; 8x the wire size covers it
// with room; the constant is the error values and, under the race
// detector, the fmt state that sync.Pool drops on purpose.
const (
	allocPerByte = 8
	allocFixed   = 2048
)

// checkAlloc fails t when f allocates more than the bound for a message of
// wire bytes. Over the bound, f runs twice more and the least counts, so
// that what other goroutines allocated meanwhile does not; f must do the
// same each time.
func checkAlloc(t *testing.T, what string, wire uint64, f func()) {
	t.Helper()
	fuzzcheck.CheckAlloc(t, fmt.Sprintf("%s, for a message of %d bytes,", what, wire), allocPerByte*wire+allocFixed, f)
}
