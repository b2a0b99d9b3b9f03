package testinfra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/kafka"
)

// maxTopicLen is Kafka's limit on topic names.
const maxTopicLen = 249

// UniqueTopic returns a topic name that no other test or run uses:
// base + "." + the test's name + "." + 8 random hex digits, with characters Kafka
// does not allow in topic names replaced by '-'.
func UniqueTopic(t testing.TB, base string) string {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("testinfra: random topic suffix: %v", err)
	}
	suffix := "." + hex.EncodeToString(rnd[:])
	name := legalTopic(base + "." + t.Name())
	if len(name)+len(suffix) > maxTopicLen {
		name = name[:maxTopicLen-len(suffix)]
	}
	return name + suffix
}

func legalTopic(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, s)
}

// NewClient returns a franz-go client for brokers, closed when the test ends.
func NewClient(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("testinfra: kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Committed reads every committed record a physical topic holds now, in
// offset order per partition: to the end offsets listed first, so a broker
// slow to answer (a loaded CI machine) makes it slower, never shorter, as a
// read bounded by a quiet period alone would be.
func Committed(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spans, err := kafka.Partitions(ctx, kadm.NewClient(NewClient(t, brokers)), topic)
	if err != nil {
		t.Fatalf("testinfra: end offsets of %s: %v", topic, err)
	}
	var out []*kgo.Record
	if err := kafka.Scan(ctx, kafka.Config{Brokers: brokers}, 30*time.Second, topic, spans, func(r *kgo.Record) bool {
		out = append(out, r)
		return true
	}); err != nil {
		t.Fatalf("testinfra: read %s: %v", topic, err)
	}
	return out
}

// CreateTopics creates topics with the given partition count (replication factor 1)
// and waits until every partition has a leader. A topic that already exists with the
// same partition count is accepted; any other failure fails the test.
func CreateTopics(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	if len(topics) == 0 {
		return
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("testinfra: kafka client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	resp, err := adm.CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		t.Fatalf("testinfra: create topics %v: %v", topics, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			t.Fatalf("testinfra: create topic %s: %v %s", r.Topic, r.Err, r.ErrMessage)
		}
	}
	for {
		md, err := adm.ListTopics(ctx, topics...)
		if err == nil && topicsReady(t, md, partitions, topics) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("testinfra: topics %v have no leader for every partition after a minute (last error: %v)", topics, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// topicsReady reports whether every topic is listed with the wanted partitions, each
// led; it fails the test on a topic that exists with another partition count.
func topicsReady(t testing.TB, md kadm.TopicDetails, partitions int32, topics []string) bool {
	t.Helper()
	for _, name := range topics {
		d, ok := md[name]
		if !ok || d.Err != nil {
			return false
		}
		if got := int32(len(d.Partitions)); got != partitions && got != 0 {
			t.Fatalf("testinfra: topic %s exists with %d partitions, want %d", name, got, partitions)
		}
		if int32(len(d.Partitions)) != partitions {
			return false
		}
		for _, p := range d.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// DeleteTopics deletes every topic whose name starts with prefix (a test's
// own topics) from the cluster opts reach. A broker keeps open files per
// partition, so long suites clean up after each test; failures are only
// logged.
func DeleteTopics(t testing.TB, opts []kgo.Opt, prefix string) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Logf("delete topics of %s: %v", prefix, err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Logf("delete topics of %s: %v", prefix, err)
		return
	}
	var mine []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, prefix) {
			mine = append(mine, name)
		}
	}
	if len(mine) > 0 {
		if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
			t.Logf("delete %d topics of %s: %v", len(mine), prefix, err)
		}
	}
}
