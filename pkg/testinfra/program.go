package testinfra

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	builtDir string
	built    = map[string]string{}
)

// Build compiles the Go program in dir (a path relative to the test's
// package directory, e.g. "../../gateway") once per test binary and returns
// the executable's path. It builds in the program's own module, so it also
// builds with GOWORK=off.
func Build(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[abs]; ok {
		return bin
	}
	if builtDir == "" {
		if builtDir, err = os.MkdirTemp("", "isthmus-programs-"); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(builtDir, fmt.Sprintf("%s-%d", filepath.Base(abs), len(built)))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = abs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	built[abs] = bin
	return bin
}

// Program is a program run by a test as a child process (killed with the
// test binary), its output in a log file shown when the test fails.
type Program struct {
	t      testing.TB
	name   string
	bin    string
	env    []string
	Log    string
	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{}
}

// NewProgram prepares bin to run with env added to this process's
// environment; Start runs it.
func NewProgram(t testing.TB, name, bin string, env map[string]string) *Program {
	t.Helper()
	p := &Program{t: t, name: name, bin: bin, Log: filepath.Join(t.TempDir(), name+".log"), env: os.Environ()}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.env = append(p.env, k+"="+env[k])
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tail(p.Log, 60))
		}
	})
	return p
}

// Start runs the program (again, after Kill or Stop); its output is
// appended to Log.
func (p *Program) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		select {
		case <-p.exited:
		default:
			p.t.Fatalf("%s is already running", p.name)
		}
	}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	proc, exited, err := startProcess([]string{p.bin}, "", p.env, f)
	if err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.proc, p.exited = proc, exited
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Program) Kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM and waits up to 30 s for a clean exit, then kills.
func (p *Program) Stop() {
	if !p.signal(syscall.SIGTERM, 30*time.Second) {
		p.Kill()
	}
}

func (p *Program) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	proc, exited := p.proc, p.exited
	p.mu.Unlock()
	if proc == nil {
		return true
	}
	_ = proc.Signal(sig)
	select {
	case <-exited:
		return true
	case <-time.After(wait):
		return false
	}
}
