package attempt

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: the hooks and
// clocks' calls end at once.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
