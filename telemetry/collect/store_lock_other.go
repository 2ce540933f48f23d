//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package collect

import (
	"fmt"
	"os"
)

// lockFile opens path, creating it empty if missing. Without flock, a
// second Store on the database is not detected.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	return f, nil
}
