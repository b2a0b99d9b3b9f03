package topics

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestApplyAgainstKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")
	t.Setenv("ISTHMUS_KAFKA_BROKERS", brokers)
	t.Setenv("ISTHMUS_TOPIC_PREFIX", "it.")
	ctx := context.Background()
	runApply := func(args ...string) string {
		t.Helper()
		var out, errw bytes.Buffer
		if err := Run(ctx, append([]string{"apply"}, args...), &out, &errw); err != nil {
			t.Fatalf("apply %v: %v\n%s%s", args, err, out.String(), errw.String())
		}
		return out.String()
	}
	out := runApply("--dry-run", "--topic", "crm.account.v1", "--topic", "erp.credit.v1")
	if !strings.Contains(out, "create    it.crm.account.v1") || !strings.Contains(out, "cleanup.policy=compact") {
		t.Fatalf("dry run plan:\n%s", out)
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if td, _ := adm.ListTopics(ctx, "it.crm.account.v1"); td.Has("it.crm.account.v1") {
		t.Fatal("dry run created a topic")
	}

	runApply("--topic", "crm.account.v1", "--topic", "erp.credit.v1")
	td, err := adm.ListTopics(ctx, "it.crm.account.v1", "it.erp.credit.v1")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["it.crm.account.v1"].Partitions); n != 6 {
		t.Fatalf("partitions %d", n)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "it.erp.credit.v1")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := rc.On("it.erp.credit.v1", nil)
	found := false
	for _, c := range cfg.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && *c.Value == "compact" {
			found = true
		}
	}
	if !found {
		t.Fatalf("cleanup.policy not compact: %+v", cfg.Configs)
	}

	out = runApply("--topic", "crm.account.v1", "--topic", "erp.credit.v1")
	if strings.Count(out, "unchanged") != 2 {
		t.Fatalf("second apply must be unchanged:\n%s", out)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"no sub-verb", "", nil, "missing sub-verb"},
		{"no brokers", "", []string{"apply"}, "no broker given"},
		{"bad brokers", "nohost", []string{"apply"}, "not host:port"},
		{"unknown topic", "127.0.0.1:1", []string{"apply", "--topic", "nope.v1"}, `unknown topic "nope.v1"`},
		{"missing catalog", "127.0.0.1:1", []string{"apply", "--catalog", "/nonexistent"}, "no topics.yaml"},
		{"unreachable", "127.0.0.1:1", []string{"apply", "--timeout", "1s"}, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ISTHMUS_KAFKA_BROKERS", tt.env)
			var out bytes.Buffer
			err := Run(context.Background(), tt.args, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("want one-line error with %q, got %v", tt.want, err)
			}
		})
	}
}
