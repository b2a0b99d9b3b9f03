package testinfra

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// startProcess starts argv (environment env; nil: this process's) with its output to logFile and returns the process and a
// channel closed when it has exited. The child gets SIGKILL when the thread that
// started it dies (Pdeathsig), so a test binary that crashes or times out leaves no
// broker behind; the starting goroutine stays locked to that thread until the child
// exits, so the Go runtime cannot retire the thread early.
func startProcess(argv []string, dir string, env []string, logFile *os.File) (*os.Process, chan struct{}, error) {
	type started struct {
		proc *os.Process
		err  error
	}
	ch := make(chan started, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = env
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			ch <- started{err: err}
			return
		}
		ch <- started{proc: cmd.Process}
		_ = cmd.Wait() // the exit status of a stopped or killed broker is expected
		close(exited)
	}()
	s := <-ch
	return s.proc, exited, s.err
}
