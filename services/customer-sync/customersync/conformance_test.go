package customersync

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/customer-sync/internal/adapter"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
)

// conformanceTarget is customer-sync's processor (ProcessorConfig, a new
// handler per instance, as a restarted process would have) under
// processortest's conformance suite. Input i is a company of its own — a
// CRM account for even i, an ERP customer for odd i, in one of six
// countries, so the inputs spread over match blocks — that becomes a new
// golden record: answered on mdm.customer.v1, which names the input by its
// causation id (the input's event id), once per input.
func conformanceTarget(t *testing.T) processortest.Target {
	t.Helper()
	if _, err := NewHandler(golden.DefaultConfig(), prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	return processortest.Target{
		Service: Name,
		Config: func() processor.Config {
			h, err := NewHandler(golden.DefaultConfig(), prometheus.NewRegistry())
			if err != nil {
				panic(err) // validated above
			}
			return ProcessorConfig("conformance", h)
		},
		Input:  conformanceInput,
		Output: contracts.TopicMDMCustomerV1,
		Topics: slices.Concat(outputTopics, []string{contracts.TopicCRMLeadUpdatesV1}),
		Identify: processortest.Answer(func(r *kgo.Record, g *contracts.GoldenCustomer) (string, error) {
			if g.Metadata.CausationID == nil {
				return "", fmt.Errorf("golden record %s has no causation id", g.GoldenID)
			}
			return *g.Metadata.CausationID, nil
		}),
		Expect: func(i int) string {
			_, _, v := conformanceInput(i)
			return adapter.Metadata(v).EventID
		},
	}
}

// conformanceInput is the i-th input of the conformance suite: a company
// name of two made-up words (no two inputs resemble each other).
func conformanceInput(i int) (topic, key string, value serde.Record) {
	h := sha256.Sum256(fmt.Appendf(nil, "conformance company %d", i))
	word := func(b []byte) string {
		w := make([]byte, len(b))
		for j, c := range b {
			w[j] = 'a' + c%26
		}
		w[0] -= 'a' - 'A'
		return string(w)
	}
	name := word(h[:7]) + " " + word(h[7:13]) + " GmbH"
	country := []string{"DE", "FR", "NL", "AT", "IT", "ES"}[i%6]
	at := addr(fmt.Sprintf("Street %d", i+1), "City", "10115", country)
	if i%2 == 0 {
		id := fmt.Sprintf("CONF-A%d", i)
		return contracts.TopicCRMAccountV1, id, account(id, name, i, func(a *contracts.Account) { a.BillingAddress = at })
	}
	id := fmt.Sprintf("CONF-E%d", i)
	return contracts.TopicERPCustomerV1, id, customer(id, name, i, func(c *contracts.Customer) { c.BillingAddress = at })
}

// TestConformance runs processortest's conformance suite on kfake and the
// in-memory registry: every input answered exactly once across a restart;
// bad bytes and an unknown schema id dead-lettered with the original bytes
// while the partition flows on.
func TestConformance(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), conformanceTarget(t))
}
