// Package billingbridge is the entry of the billing-bridge service: configuration in, Run out.
// Its main.go only parses configuration and calls Run; `isthmus dev`
// composes the same entry with the other services in one process.
package billingbridge

import (
	"context"
	"log/slog"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/adapter"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = "billing-bridge"

// TopicByContract is the internal topic erp.journal.v1 answers are re-keyed
// onto: erp.journal.v1 is keyed by journal command id, the state by
// contract id.
const TopicByContract = "billing-bridge.by-contract.v1"

// TopicDecisions is the internal topic operators' decisions
// (ops.decisions.v1, keyed by exception id) are re-keyed onto, by the
// contract their exception names.
const TopicDecisions = "billing-bridge.decisions.v1"

// Store is the contracts' state store: contract id → bridge.State
// (Marshal bytes). Stores lists the others.
const Store = "contracts"

// Inputs are the topics billing-bridge consumes.
var Inputs = []string{contracts.TopicCRMDealV1, contracts.TopicBillingEventsV1, contracts.TopicERPJournalV1, contracts.TopicOpsDecisionsV1}

// Config is the service's configuration.
type Config struct {
	config.Common
	// GapSLA is how long an out-of-order amendment may wait for its
	// predecessor before finance-ops gets an amendment_gap exception.
	GapSLA time.Duration
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	s.Duration(&c.GapSLA, "ISTHMUS_BILLING_GAP_SLA", 10*time.Minute, "how long an out-of-order amendment is held before an amendment_gap exception", config.Positive)
}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

// TickInterval is how often held amendments are checked against the SLA
// and scheduled journals against their posting period.
const TickInterval = time.Second

// ProcessorConfig is billing-bridge's processor around h: its topics,
// stores, handler, tick, and ops.Raise, which raises the exception of an
// input the domain refused (see refuse). Run runs it on Kafka; the
// handler's tests run it without a broker (pkg/processor/processortest).
func ProcessorConfig(instance string, h *Handler) processor.Config {
	return processor.Config{
		Service:        Name,
		Instance:       instance,
		Topics:         Inputs,
		InternalTopics: []string{TopicByContract, TopicDecisions},
		Stores:         Stores,
		Handler:        h.Handle,
		Middleware:     []processor.Middleware{ops.Raise(adapter.Owner)},
		Tick:           TickInterval,
		OnTick:         h.Tick,
	}
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	svc := service.New(&cfg.Common, log)
	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	h := &Handler{Bridge: bridge.New(), SLA: cfg.GapSLA, Metrics: NewMetrics()}
	p, err := processor.New(ProcessorConfig(cfg.Instance, h), cfg.Kafka, svc.ProcessorOptions(sd)...)
	if err != nil {
		return err
	}
	svc.AddProcessor("contracts", p)
	return svc.Run(ctx)
}
