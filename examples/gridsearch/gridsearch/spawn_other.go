//go:build !linux

package gridsearch

import (
	"context"
	"os"
)

// spawn runs argv and returns once it has exited and its output is read,
// or waitDelay after it exited with a child still holding its output open.
// ctx's end kills the process (its children are left to themselves here;
// on Linux they are killed too).
func spawn(ctx context.Context, argv []string, stdout, stderr *capped) (*os.ProcessState, error) {
	return spawnExec(ctx, argv, stdout, stderr)
}
