package billingbridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/billing-bridge/billingbridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
)

// conformanceTarget is billing-bridge's processor under the processor's
// conformance suite: the i-th input is the NEW deal of its own contract,
// answered by that contract's PROVISION_SUBSCRIPTION command.
func conformanceTarget() processortest.Target {
	contractID := func(i int) string { return fmt.Sprintf("CONF-%d", i) }
	return processortest.Target{
		Service: billingbridge.Name,
		Config: func() processor.Config {
			return billingbridge.ProcessorConfig("conformance", &billingbridge.Handler{Bridge: bridge.New(), SLA: time.Hour})
		},
		Input: func(i int) (string, string, serde.Record) {
			id := contractID(i)
			return contracts.TopicCRMDealV1, id, newDeal(id, "2025-01-01", int64(1+i), 1000, jan5)
		},
		Output: contracts.TopicBillingCommandsV1,
		Topics: []string{contracts.TopicBillingRevenueScheduleV1, contracts.TopicERPJournalCommandsV1, contracts.TopicOpsExceptionsV1},
		Identify: processortest.Answer(func(r *kgo.Record, c *contracts.BillingCommand) (string, error) {
			if c.Action != contracts.BillingActionProvision || string(r.Key) != c.ContractID {
				return "", fmt.Errorf("command %s (%s) keyed %q", c.CommandID, c.Action, r.Key)
			}
			return c.ContractID, nil
		}),
		Expect: contractID,
	}
}

// TestConformance runs the suite on kfake (make test-unit);
// TestRealConformance runs it on the real broker (integration tag).
func TestConformance(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), conformanceTarget())
}
