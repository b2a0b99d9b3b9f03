package reconciler

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/retry"
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

// matcherSLA is the matcher's SLAs under the conformance suite: the
// account check answers a second after its observation, the others are
// not exercised.
var matcherSLA = func() match.SLA {
	s := unitSLA
	s.CustomerXref = time.Second
	return s
}()

// matcherTarget is the matcher under the processor conformance suite. Its
// input is its own internal topic (OwnInput: an observation it cannot read
// is corrupt_state, waited on and never dead-lettered), so the i-th input
// is raw bytes: the observation the router makes of a CRM account without
// an ERP customer id, occurring now. It is answered through state and a
// tick: CUSTOMER_NOT_IN_ERP opens on recon.breaks.v1 once the account's
// SLA passed, identified by its match key A:<account id>. A break of
// another kind or status, or under another key, fails the suite.
func matcherTarget() processortest.Target {
	id := func(i int) string { return fmt.Sprintf("conf-acct-%d", i) }
	return processortest.Target{
		Service: MatcherName,
		Config: func() processor.Config {
			cfg := &Config{SLA: matcherSLA, Tick: 100 * time.Millisecond, ReportEvery: time.Hour, Retention: 24 * time.Hour}
			cfg.Instance = "conformance"
			return MatcherConfig(cfg, slog.New(slog.DiscardHandler))
		},
		// A record the matcher cannot read is retried until a release can:
		// retry fast so the suite sees it wait without long backoffs.
		Options:  []processor.Option{processor.WithRetryPolicy(retry.Policy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 200 * time.Millisecond})},
		OwnInput: true,
		Raw: func(i int) (string, string, []byte) {
			obs := match.Route(contracts.TopicCRMAccountV1, account(id(i), time.Now().UTC()))
			if len(obs) != 1 {
				panic(fmt.Sprintf("account %s routed to %d observations, want 1", id(i), len(obs)))
			}
			b, err := obs[0].Marshal()
			if err != nil {
				panic(err)
			}
			return ObservationsTopic, obs[0].Key, b
		},
		Output: contracts.TopicReconBreaksV1,
		Topics: []string{contracts.TopicReconReportsV1},
		Identify: processortest.Answer(func(r *kgo.Record, b *contracts.ReconBreak) (string, error) {
			key := match.AccountKey(b.EntityIds["account_id"])
			if b.Kind != contracts.BreakKindCustomerNotInERP || b.Status != contracts.BreakStatusOpen || string(r.Key) != b.BreakID ||
				b.BreakID != match.BreakID(key, contracts.BreakKindCustomerNotInERP) {
				return "", fmt.Errorf("unexpected break %s %s %s keyed %q", b.BreakID, b.Kind, b.Status, r.Key)
			}
			return key, nil
		}),
		Expect: func(i int) string { return match.AccountKey(id(i)) },
	}
}

func TestConformanceMatcher(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), matcherTarget())
}

// parityTarget is the parity processor under the processor conformance
// suite: the i-th input is the legacy path's answer (SHADOW) for order
// conf-ord-i, which the new path never matches, so it is answered through
// state and a tick: MISSING_NEW on recon.parity.v1 once the window passed,
// keyed orders|conf-ord-i. Another verdict or key fails the suite.
func parityTarget() processortest.Target {
	id := func(i int) string { return fmt.Sprintf("conf-ord-%d", i) }
	return processortest.Target{
		Service: ParityName,
		Config: func() processor.Config {
			cfg := &Config{ParityWindow: 300 * time.Millisecond, Tick: 100 * time.Millisecond, Retention: 24 * time.Hour}
			cfg.Instance = "conformance"
			return ParityConfig(cfg, slog.New(slog.DiscardHandler))
		},
		Input: func(i int) (string, string, serde.Record) {
			r := orderResult(contracts.ErpPathLegacy, contracts.RoutingModeShadow, id(i), "cmd-"+id(i))
			return contracts.TopicERPPathResultsV1, flowmode.ResultKey(flowmode.Orders, id(i)), r
		},
		Output: contracts.TopicReconParityV1,
		Identify: processortest.Answer(func(r *kgo.Record, p *contracts.ParityResult) (string, error) {
			if p.Verdict != contracts.ParityVerdictMissingNew || string(r.Key) != flowmode.ResultKey(p.Flow, p.EntityID) || p.Flow != flowmode.Orders {
				return "", fmt.Errorf("unexpected verdict %s for %s/%s keyed %q", p.Verdict, p.Flow, p.EntityID, r.Key)
			}
			return p.EntityID, nil
		}),
		Expect: id,
	}
}

func TestConformanceParity(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), parityTarget())
}
