package quotetoorder

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
)

// conformanceTarget is the service's processor under processortest's
// conformance suite, with the in-memory gateway of the handler tests. Its
// valid input is an ERP status for an order the service never created:
// parked in the `unknown` store, then raised by a tick once the grace (here
// 1 ms) is over as one exception naming the order. That is one answer per
// input, and it crosses the state store, its changelog across the restart
// and the ticks. (A quote is answered by several lifecycle events, which the
// suite would count as answering it more than once.) The processor commits
// every 5 ms, the service's default, as Run configures it.
func conformanceTarget() processortest.Target {
	cfg := testConfig()
	cfg.UnknownStatusGrace, cfg.Tick, cfg.CommitInterval = time.Millisecond, 50*time.Millisecond, 5*time.Millisecond
	gw := newMemGateway()
	order := func(i int) string { return fmt.Sprintf("Q-CONF-%03d", i) }
	return processortest.Target{
		Service: Name,
		Config:  func() processor.Config { return ProcessorConfig(cfg, gw) },
		Input: func(i int) (string, string, serde.Record) {
			return contracts.TopicERPOrderStatusV1, order(i), testStatus(order(i), contracts.ErpOrderStateAccepted)
		},
		Options: []processor.Option{processor.WithCommitInterval(cfg.CommitInterval)},
		Output:  contracts.TopicOpsExceptionsV1,
		Topics:  []string{contracts.TopicOrdersLifecycleV1, contracts.TopicERPOrderCommandsV1},
		Identify: processortest.Answer(func(r *kgo.Record, x *contracts.OperationalException) (string, error) {
			if x.Status != contracts.ExceptionStatusOpen || x.Category != contracts.ExceptionCategoryOther {
				return "", fmt.Errorf("exception %s is %s %s, want an OPEN unknown-order exception", x.ExceptionID, x.Status, x.Category)
			}
			return x.EntityIds["order_id"], nil
		}),
		Expect: order,
	}
}

// TestConformance runs the conformance suite on kfake.
func TestConformance(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), conformanceTarget())
}
