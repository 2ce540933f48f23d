//go:build !linux

package proctest

import "os/exec"

// DieWithTest does nothing here: only Linux kills a child when its parent
// dies.
func DieWithTest(cmd *exec.Cmd) {}
