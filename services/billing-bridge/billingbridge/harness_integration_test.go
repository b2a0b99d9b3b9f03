//go:build integration

package billingbridge_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/billing-bridge/billingbridge"
)

// outputs billing-bridge writes, collected by the harness.
var outputTopics = []string{
	contracts.TopicBillingCommandsV1, contracts.TopicBillingRevenueScheduleV1,
	contracts.TopicERPJournalCommandsV1, contracts.TopicOpsExceptionsV1,
	catalog.DLQTopic(billingbridge.Name),
}

type harness struct {
	t        testing.TB
	brokers  []string
	registry string
	prefix   string
	sd       *serde.Serde
	cl       *kgo.Client

	col *testinfra.Collector
	// decoded are the collected outputs decoded so far, per logical topic.
	mu      sync.Mutex
	decoded map[string][]got
}

// got is one output record as a read_committed consumer sees it.
type got struct {
	Topic   string // logical
	Key     string
	Value   any // decoded contracts value; raw bytes for the DLQ
	Headers map[string]string
	// ProducerID is the writer's producer id: one per instance of the
	// service (its transactional id).
	ProducerID int64
}

func uniquePrefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "bbit-" + hex.EncodeToString(b[:]) + "."
}

// newHarness provisions the catalog under a fresh prefix and starts a
// read_committed collector of every output topic.
func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, brokers: testinfra.Brokers(t), registry: testinfra.RegistryURL(t), prefix: uniquePrefix(t)}
	testinfra.Provision(t, h.brokers, h.registry, h.prefix)
	h.sd = serde.New(testinfra.RegistryClient(t))
	h.cl = testinfra.NewClient(t, h.brokers, kgo.ProducerLinger(0))
	h.collect()
	return h
}

func (h *harness) env() map[string]string {
	return map[string]string{
		"ISTHMUS_KAFKA_BROKERS":       strings.Join(h.brokers, ","),
		"ISTHMUS_SCHEMA_REGISTRY_URL": h.registry,
		"ISTHMUS_TOPIC_PREFIX":        h.prefix,
		"ISTHMUS_ADMIN_ADDR":          "127.0.0.1:0",
		"ISTHMUS_INSTANCE_ID":         "it-0",
		"ISTHMUS_LOG_LEVEL":           "info",
	}
}

// startService runs billing-bridge in this process until the test ends.
func (h *harness) startService(extra map[string]string) {
	h.t.Cleanup(h.startInstance(extra))
}

// startInstance runs billing-bridge in this process and returns the
// function that stops it (cancels its context: the member leaves the
// group) and waits for it to end.
func (h *harness) startInstance(extra map[string]string) (stop func()) {
	t := h.t
	vars := h.env()
	for k, v := range extra {
		vars[k] = v
	}
	var cfg billingbridge.Config
	if err := config.ParseMaps(billingbridge.Name, &cfg, vars); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "service.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logf, nil))
	id := vars["ISTHMUS_INSTANCE_ID"]
	stopRun := testinfra.Go(t, "billing-bridge "+id, func(ctx context.Context) error { return billingbridge.Run(ctx, &cfg, log) })
	// A failure found after the instance stopped (the replica test compares
	// whole runs at the end) still shows its log: its warnings and errors,
	// then its last lines.
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			var warned []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					warned = append(warned, l)
				}
			}
			t.Logf("service log of %s: %d warnings and errors:\n%s\nlast lines:\n%s", id, len(warned), strings.Join(warned[:min(len(warned), 60)], "\n"), tail(string(b), 4000))
		}
	})
	var once sync.Once
	return func() { once.Do(stopRun) }
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// in writes the test's input under the prefix, failing the (sub)test
// running now. Producers of the inputs are other systems; they register
// nothing, the schemas are provisioned: encoding looks the schema up.
func (h *harness) in() *testinfra.Producer { return testinfra.NewProducer(h.t, h.cl, h.sd, h.prefix) }

// collect consumes every output topic (read_committed) in the background.
func (h *harness) collect() {
	topics := make([]string, len(outputTopics))
	for i, tp := range outputTopics {
		topics[i] = h.prefix + tp
	}
	h.col = testinfra.Collect(h.t, h.brokers, topics...)
	h.decoded = map[string][]got{}
}

// snapshot returns the outputs collected so far, decoded, topic by topic
// (in outputTopics order), each topic in the order read.
func (h *harness) snapshot() []got {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []got
	for _, tp := range outputTopics {
		done := h.decoded[tp]
		for _, r := range h.col.Records(h.prefix + tp)[len(done):] {
			done = append(done, h.decode(tp, r))
		}
		h.decoded[tp] = done
		all = append(all, done...)
	}
	return all
}

// decode is one output record as the tests read it.
func (h *harness) decode(topic string, r *kgo.Record) got {
	g := got{Topic: topic, Key: string(r.Key), Headers: map[string]string{}, ProducerID: r.ProducerID}
	for _, hd := range r.Headers {
		g.Headers[hd.Key] = string(hd.Value)
	}
	if topic == catalog.DLQTopic(billingbridge.Name) {
		g.Value = r.Value
		return g
	}
	v, err := contracts.NewValue(topic)
	if err == nil {
		err = h.sd.Decode(context.Background(), r.Value, v.(serde.Record))
	}
	if err != nil {
		g.Value = err
	} else {
		g.Value = v
	}
	return g
}

// waitFor polls cond over the collected outputs until it holds.
func (h *harness) waitFor(what string, timeout time.Duration, cond func([]got) bool) []got {
	h.t.Helper()
	var recs []got
	testinfra.Eventually(h.t, timeout, what, func() bool {
		recs = h.snapshot()
		return cond(recs)
	})
	return recs
}

// forContract filters outputs of one contract.
func forContract(recs []got, id string) (cmds []*contracts.BillingCommand, rev []*contracts.RevenueSchedule, js []*contracts.JournalCommand, xs []*contracts.OperationalException) {
	for _, r := range recs {
		switch v := r.Value.(type) {
		case *contracts.BillingCommand:
			if v.ContractID == id {
				cmds = append(cmds, v)
			}
		case *contracts.RevenueSchedule:
			if v.ContractID == id {
				rev = append(rev, v)
			}
		case *contracts.JournalCommand:
			if v.ContractID == id {
				js = append(js, v)
			}
		case *contracts.OperationalException:
			if v.EntityIds["contract_id"] == id {
				xs = append(xs, v)
			}
		}
	}
	return
}

func dlqFor(recs []got, key string) []got {
	var out []got
	for _, r := range recs {
		if r.Topic == catalog.DLQTopic(billingbridge.Name) && r.Key == key {
			out = append(out, r)
		}
	}
	return out
}
