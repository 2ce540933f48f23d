//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package collect

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile opens path, creating it empty if missing (SQLite takes an empty
// file as a new database), and takes an exclusive flock on it, which
// SQLite's own POSIX locks do not see: readers such as zprof report are
// not kept out, another Store is.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		return nil, fmt.Errorf("%w: %s: lock: %v", ErrStore, path, err)
	}
	return f, nil
}
