//go:build integration

package testinfra_test

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// The shared infrastructure that `make infra-up` starts answers where the env says.

func TestSharedRedisAnswersPing(t *testing.T) {
	u, err := url.Parse(testinfra.RedisURL(t))
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial redis %s: %v", u.Host, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatalf("send PING: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING answered %q, %v; want +PONG", line, err)
	}
}

func TestSharedRegistryListsSubjects(t *testing.T) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(testinfra.RegistryURL(t) + "/subjects")
	if err != nil {
		t.Fatalf("GET /subjects: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /subjects: status %s, want 200", resp.Status)
	}
}

func TestPythonPeerImports(t *testing.T) {
	out, err := exec.Command(testinfra.Python(t), "-c",
		"import confluent_kafka, fastavro; "+
			"from confluent_kafka.schema_registry.avro import AvroSerializer; "+
			"print(confluent_kafka.__version__)").CombinedOutput()
	if err != nil {
		t.Fatalf("python peer: %v\n%s", err, out)
	}
	if v := strings.TrimSpace(string(out)); !strings.HasPrefix(v, "2.") {
		t.Fatalf("confluent-kafka version %q, want 2.x", v)
	}
}
