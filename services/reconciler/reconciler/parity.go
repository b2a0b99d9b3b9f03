package reconciler

import (
	"context"
	"log/slog"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/services/reconciler/internal/parity"
)

// ParityName is the parity processor's group and changelog prefix.
const ParityName = "reconciler-parity"

// ParityConfig is the parity processor (group "reconciler-parity"):
// erp.path-results.v1 in (keyed flow|entity id, so both paths' answers
// for an entity meet on one partition without re-keying), recon.parity.v1
// out, the entities and their waiting windows in state, and a tick every
// cfg.Tick closing the windows. It reads cfg's parity window, retention,
// tick and instance.
func ParityConfig(cfg *Config, log *slog.Logger) processor.Config {
	p := &parityProc{engine: &parity.Engine{Window: cfg.ParityWindow, Retention: cfg.Retention}, log: log, activity: newActivity(cfg.Tick)}
	return processor.Config{
		Service: ParityName, Instance: cfg.Instance,
		Topics:  []string{contracts.TopicERPPathResultsV1},
		Stores:  []string{parity.StoreEntities, parity.StoreTimers},
		Handler: p.handle,
		Tick:    cfg.Tick, OnTick: p.tick,
	}
}

type parityProc struct {
	engine *parity.Engine
	log    *slog.Logger
	*activity
}

// handle takes one path result. A record that is not a PathResult, names
// an unknown flow or path, has no entity id or is not keyed by
// flow|entity id is poison: dead-lettered to dlq.reconciler-parity.v1
// with its reason while the partition flows on. Results under LEGACY or
// NEW are not compared (only one path answers then).
func (p *parityProc) handle(_ context.Context, m *processor.Message) error {
	if m.Value() == nil {
		return nil
	}
	var r contracts.PathResult
	if err := m.Decode(&r); err != nil {
		return err
	}
	switch {
	case flowmode.ValidFlow(r.Flow) != nil:
		return errs.Poison(errs.ReasonValidation, flowmode.ValidFlow(r.Flow))
	case r.EntityID == "":
		return errs.Poisonf(errs.ReasonMissingID, "%s path result without entity_id", r.Flow)
	case m.Key() != flowmode.ResultKey(r.Flow, r.EntityID):
		return errs.Poisonf(errs.ReasonKeyMismatch, "%s result for %q arrived with key %q: %s must be keyed by %q",
			r.Flow, r.EntityID, m.Key(), contracts.TopicERPPathResultsV1, flowmode.ResultKey(r.Flow, r.EntityID))
	case r.Path != contracts.ErpPathLegacy && r.Path != contracts.ErpPathNew:
		return errs.Poisonf(errs.ReasonValidation, "%s result for %q names path %q (want LEGACY or NEW)", r.Flow, r.EntityID, r.Path)
	case r.Mode != contracts.RoutingModeShadow:
		return nil
	}
	p.applied(m.Partition())
	out, err := p.engine.Apply(m, m.Key(), &r)
	if err != nil {
		return err
	}
	return emitParity(m, out)
}

func emitParity(m *processor.Message, out []*contracts.ParityResult) error {
	for _, pr := range out {
		if err := m.EmitValue(contracts.TopicReconParityV1, flowmode.ResultKey(pr.Flow, pr.EntityID), pr); err != nil {
			return err
		}
	}
	return nil
}

func (p *parityProc) tick(_ context.Context, m *processor.Message, now time.Time) error {
	out, st, err := p.engine.Tick(m, now, p.busy(m.Partition()))
	if err != nil {
		return err
	}
	if err := emitParity(m, out); err != nil {
		return err
	}
	theParityGauges.set(m.Partition(), st, time.Now())
	return nil
}
