//go:build !linux

package testinfra

import (
	"os"
	"os/exec"
)

// startProcess starts argv (environment env; nil: this process's) with its output to logFile and returns the process and a
// channel closed when it has exited.
func startProcess(argv []string, dir string, env []string, logFile *os.File) (*os.Process, chan struct{}, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status of a stopped or killed broker is expected
		close(exited)
	}()
	return cmd.Process, exited, nil
}
