package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestCreateTopic creates a topic with its configs; creating it again (as a
// second instance starting at the same time would) is not an error, and a
// refused creation is.
func TestCreateTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := Config{Brokers: c.ListenAddrs()}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	compact := "compact"
	for range 2 {
		if err := CreateTopic(ctx, adm, "internal.v1", 3, -1, map[string]*string{"cleanup.policy": &compact}); err != nil {
			t.Fatal(err)
		}
	}
	spans, err := Partitions(ctx, adm, "internal.v1")
	if err != nil || len(spans) != 3 {
		t.Fatalf("partitions = %v, %v; want 3", spans, err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "internal.v1")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("internal.v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, cfg := range rc.Configs {
		if cfg.Key == "cleanup.policy" && cfg.Value != nil {
			got = *cfg.Value
		}
	}
	if got != "compact" {
		t.Errorf("cleanup.policy = %q, want compact", got)
	}
	if err := CreateTopic(ctx, adm, "bad.v1", 0, -1, nil); err == nil {
		t.Error("a topic with 0 partitions was created without an error")
	}
}
