//go:build integration && linux

package quotetoorder_test

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills the child when the test process dies (a test
// timeout panics without running cleanups).
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
