package proctest

import (
	"os/exec"
	"syscall"
)

// DieWithTest makes cmd, not started yet, get SIGKILL when the test binary
// dies, however it dies: a test binary killed by a timeout or by hand then
// leaves no process of its tests behind to load the machine.
func DieWithTest(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
