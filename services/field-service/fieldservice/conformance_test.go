package fieldservice_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/field-service/fieldservice"
	"github.com/isthmus/isthmus/services/field-service/internal/casework"
)

// conformanceTarget is the service's processor (ProcessorConfig with its
// default settings, the gateway replaced by the handler tests' in-memory
// installed base) under the processor conformance suite: CRM cases of an
// asset the customer pays for, each answered by a service order for the
// case on erp.service-order-commands.v1.
func conformanceTarget(t *testing.T) processortest.Target {
	cfg := defaults(t)
	b := &base{verdicts: map[string]casework.Verdict{"SN-1": {Coverage: contracts.CoverageBillable, Reason: "NO_COVERAGE", Message: "billable"}}}
	return processortest.Target{
		Service: fieldservice.Name,
		Config:  func() processor.Config { return fieldservice.ProcessorConfig(cfg, b) },
		Input: func(i int) (string, string, serde.Record) {
			id := fmt.Sprintf("CASE-%d", i)
			return contracts.TopicCRMCaseV1, id, crmCase(id, "SN-1", "OPEN")
		},
		Output: contracts.TopicERPServiceOrderCommandsV1,
		Topics: []string{contracts.TopicCRMCaseUpdatesV1, contracts.TopicOpsExceptionsV1},
		Identify: processortest.Answer(func(r *kgo.Record, o *contracts.ServiceOrderCommand) (string, error) {
			return o.ServiceOrderID, nil
		}),
		Expect: func(i int) string { return fmt.Sprintf("CASE-%d", i) },
	}
}

func TestConformanceOnKfake(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), conformanceTarget(t))
}
