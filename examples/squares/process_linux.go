package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the worker if this process dies, so that
// a killed manager leaves no worker behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
