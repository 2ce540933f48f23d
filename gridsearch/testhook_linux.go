//go:build gridsearchtest && linux

package gridsearch

import (
	"fmt"
	"os"
)

// A binary built with the gridsearchtest tag, as the example's tests build
// theirs, waits for its commands' exits as on a kernel without pidfds
// (exitPipe) when GRIDSEARCH_TEST_NO_PIDFD is set, and says so on stderr,
// so that those tests run both ways. Other builds never read it.
func init() {
	if os.Getenv("GRIDSEARCH_TEST_NO_PIDFD") != "" {
		pidfds.Store(-1)
		fmt.Fprintln(os.Stderr, "gridsearch: test: no pidfds, commands' exits seen by exitPipe")
	}
}
