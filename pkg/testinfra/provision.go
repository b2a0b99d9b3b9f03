package testinfra

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/provision"
)

// Provision applies the embedded catalog under prefix exactly as `isthmus
// topics apply` and `isthmus schemas apply` do for a deployment (package
// provision): every topic with its partitions and configs, every Avro value
// schema at its prefixed subject with its compatibility. It fails the test
// on any error. The prefix's topics are deleted when the test ends.
func Provision(t testing.TB, brokers []string, registryURL, prefix string) {
	t.Helper()
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatalf("testinfra: catalog: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("testinfra: kafka client: %v", err)
	}
	defer cl.Close()
	// Every topic of the prefix goes with the test (the services' own
	// internal topics too): a broker keeps open files per partition.
	t.Cleanup(func() { DeleteTopics(t, []kgo.Opt{kgo.SeedBrokers(brokers...)}, prefix) })
	// Topics returns once every topic is listed with a leader for each
	// partition, so a service started next sees its inputs.
	if _, err := provision.Topics(ctx, cl, prefix, cat.Topics(), -1, false); err != nil {
		t.Fatalf("testinfra: provision topics: %v", err)
	}
	rc, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		t.Fatalf("testinfra: schema registry client: %v", err)
	}
	if _, err := provision.Schemas(ctx, rc, prefix, cat.Topics(), false); err != nil {
		t.Fatalf("testinfra: provision schemas: %v", err)
	}
}
