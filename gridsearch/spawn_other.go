//go:build !linux

package gridsearch

import (
	"context"
	"errors"
	"os"
	"os/exec"
)

// spawn runs argv by os/exec and returns once it has exited and its output
// is read, or waitDelay after it exited with a child still holding its
// output open (held: the child is left running here; on Linux its group
// is killed). ctx's end kills the process (its children are left to
// themselves here; on Linux they are killed too).
func spawn(ctx context.Context, argv []string, stdout, stderr *capped) (*os.ProcessState, bool, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited as its state says; only the reading of its
		// output was cut short.
		return cmd.ProcessState, true, nil
	}
	return cmd.ProcessState, false, err
}
