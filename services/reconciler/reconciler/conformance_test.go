package reconciler

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
)

// routerTarget is the router under the processor conformance suite: the
// i-th input is a CRM account, answered by its observation on
// ObservationsTopic keyed A:<account id>.
func routerTarget() processortest.Target {
	id := func(i int) string { return fmt.Sprintf("conf-acct-%d", i) }
	return processortest.Target{
		Service: Name,
		Config:  func() processor.Config { return RouterConfig("conformance") },
		Input: func(i int) (string, string, serde.Record) {
			return contracts.TopicCRMAccountV1, id(i), account(id(i), unitT0).(serde.Record)
		},
		Output: ObservationsTopic,
		Identify: func(_ *serde.Serde, r *kgo.Record) (string, error) {
			o, err := match.UnmarshalObservation(r.Value)
			if err != nil {
				return "", err
			}
			return o.Key, nil
		},
		Expect: func(i int) string { return match.AccountKey(id(i)) },
	}
}

func TestConformanceRouter(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), routerTarget())
}
