package testinfra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Timeouts of a private broker's life cycle.
const (
	brokerReadyTimeout = 3 * time.Minute // JVM start on a busy 2-core machine
	brokerStopTimeout  = 90 * time.Second
)

// Broker is a private Apache Kafka broker (KRaft, broker+controller in one JVM) on
// free loopback ports, owned by one test. Its data dir survives Stop, Kill and Start;
// it is removed with the test's temporary directory.
type Broker struct {
	t      testing.TB
	addr   string
	dir    string
	argv   []string
	logf   string
	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed when the running process has exited
}

// StartKafka starts a private broker and waits until it serves clients. It uses the
// jars in ISTHMUS_KAFKA_LIB and the configuration written by scripts/infra/kafka.sh
// (`prepare`, `argv`); java comes from PATH. The broker is stopped when the test ends.
func StartKafka(t testing.TB) *Broker {
	t.Helper()
	lib := KafkaLib(t)
	script, err := kafkaScript()
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	port := FreePorts(t, 2)
	ports := []int{port, port + 1}
	b := &Broker{
		t:    t,
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		dir:  t.TempDir(),
	}
	b.logf = filepath.Join(b.dir, "broker.log")
	env := append(os.Environ(),
		"KAFKA_PORT="+strconv.Itoa(ports[0]),
		"CONTROLLER_PORT="+strconv.Itoa(ports[1]),
		"KAFKA_DATA="+b.dir,
		"KAFKA_LIB="+lib,
	)
	if out, err := runScript(script, env, "prepare"); err != nil {
		t.Fatalf("testinfra: %s prepare: %v\n%s", script, err, out)
	}
	out, err := runScript(script, env, "argv")
	if err != nil {
		t.Fatalf("testinfra: %s argv: %v\n%s", script, err, out)
	}
	for _, a := range bytes.Split(bytes.TrimSuffix(out, []byte{0}), []byte{0}) {
		b.argv = append(b.argv, string(a))
	}
	if len(b.argv) < 2 || b.argv[len(b.argv)-2] != "kafka.Kafka" {
		t.Fatalf("testinfra: %s argv printed an unexpected command line %q", script, b.argv)
	}
	t.Cleanup(b.teardown)
	b.Start()
	return b
}

// Addr returns the broker's client address, host:port.
func (b *Broker) Addr() string { return b.addr }

// Brokers returns the broker's address as a seed list.
func (b *Broker) Brokers() []string { return []string{b.addr} }

// Start (re)starts the broker on the same ports and data dir and waits until it
// serves clients; it fails the test when the broker is already running or does not
// come up.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc != nil {
		b.t.Fatalf("testinfra: broker %s is already running", b.addr)
	}
	logFile, err := os.OpenFile(b.logf, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.t.Fatalf("testinfra: open broker log: %v", err)
	}
	fmt.Fprintf(logFile, "--- start %s\n", time.Now().Format(time.RFC3339))
	proc, exited, err := startProcess(b.argv, b.dir, nil, logFile)
	logFile.Close() // the child holds its own descriptor
	if err != nil {
		b.t.Fatalf("testinfra: start broker: %v", err)
	}
	b.proc, b.exited = proc, exited
	began := time.Now()
	if err := b.waitReady(); err != nil {
		_ = proc.Signal(syscall.SIGKILL)
		<-exited
		b.proc = nil
		b.t.Fatalf("testinfra: broker %s: %v\nlast lines of %s:\n%s", b.addr, err, b.logf, tail(b.logf, 40))
	}
	b.t.Logf("testinfra: broker %s ready in %s (pid %d, log %s)", b.addr, time.Since(began).Round(time.Millisecond), proc.Pid, b.logf)
}

// Stop shuts the broker down gracefully (SIGTERM) and waits for it to exit. It is a
// no-op when the broker is not running.
func (b *Broker) Stop() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return
	}
	_ = b.proc.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(brokerStopTimeout):
		_ = b.proc.Signal(syscall.SIGKILL)
		<-b.exited
		b.t.Errorf("testinfra: broker %s ignored SIGTERM for %s and was killed", b.addr, brokerStopTimeout)
	}
	b.proc = nil
}

// Kill ends the broker with SIGKILL, as a crash would, and waits for it to exit. It
// is a no-op when the broker is not running.
func (b *Broker) Kill() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return
	}
	_ = b.proc.Signal(syscall.SIGKILL)
	<-b.exited
	b.proc = nil
}

func (b *Broker) teardown() {
	b.mu.Lock()
	running := b.proc != nil
	b.mu.Unlock()
	if running {
		b.Stop()
	}
}

// waitReady polls the broker with a metadata request until it lists itself.
func (b *Broker) waitReady() error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(brokerReadyTimeout)
	var last error
	for {
		select {
		case <-b.exited:
			return errors.New("exited during start-up")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		md, err := adm.BrokerMetadata(ctx)
		cancel()
		if err == nil && len(md.Brokers) > 0 {
			return nil
		}
		if err == nil {
			err = errors.New("metadata lists no broker yet")
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", brokerReadyTimeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kafkaScript finds scripts/infra/kafka.sh in the repository that holds the working
// directory (go test runs in the package's folder).
func kafkaScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "infra", "kafka.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/infra/kafka.sh not found in any parent of the working directory")
		}
		dir = parent
	}
}

func runScript(script string, env []string, verb string) ([]byte, error) {
	cmd := exec.Command("bash", script, verb)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
