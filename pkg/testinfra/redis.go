package testinfra

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// StartRedis starts a private redis-server (from PATH) on a free port with
// persistence off, for benchmarks that load more data than a shared server
// should hold, and stops it when the test ends. It returns its URL. The test
// fails when redis-server is not installed.
func StartRedis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("a private redis-server is needed: %v", err)
	}
	addr := FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", host, "--port", port, "--save", "", "--appendonly", "no", "--protected-mode", "no")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		var last string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			last = sc.Text()
			if strings.Contains(last, "Ready to accept connections") {
				ready <- nil
				for sc.Scan() { // keep draining so the server never blocks on its log
				}
				return
			}
		}
		ready <- fmt.Errorf("redis-server exited: %s", last)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("redis-server not ready after 20s")
	}
	return "redis://" + addr + "/0"
}
