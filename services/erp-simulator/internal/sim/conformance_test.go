package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// conformanceTarget is the simulator's processor (Sim.Processor) under the
// processor conformance suite: journal commands in, each answered at once
// (no latency, no maintenance window) on erp.journal.v1 by its tick, the
// answer naming its command.
func conformanceTarget() processortest.Target {
	return processortest.Target{
		Service: "erp-simulator",
		Config: func() processor.Config {
			return New(Settings{Rules: erp.Rules{Seed: 7, GLAccounts: erp.ParseSet("1200,2400,4000")}}).Processor("conformance")
		},
		Input: func(i int) (string, string, serde.Record) {
			id := fmt.Sprintf("J-%d", i)
			return contracts.TopicERPJournalCommandsV1, id, &contracts.JournalCommand{Metadata: meta("conf-" + id), Kind: contracts.JournalKindInvoice, JournalCommandID: id,
				ContractID: "C-1", PostingDate: t0.Truncate(24 * time.Hour), Currency: "USD",
				Lines: []contracts.JournalLine{{LineNumber: 1, Account: "1200-ar", Debit: usd(int64(100 + i)), Credit: usd(0)}, {LineNumber: 2, Account: "4000-revenue", Debit: usd(0), Credit: usd(int64(100 + i))}}}
		},
		Output: contracts.TopicERPJournalV1,
		Identify: processortest.Answer(func(r *kgo.Record, j *contracts.Journal) (string, error) {
			return j.JournalCommandID, nil
		}),
		Expect: func(i int) string { return fmt.Sprintf("J-%d", i) },
	}
}

func TestConformanceOnKfake(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), conformanceTarget())
}
