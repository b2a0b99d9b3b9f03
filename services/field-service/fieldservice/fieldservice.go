// Package fieldservice is the entry of the field-service service:
// configuration in, Run out. Its main.go only parses configuration and calls
// Run; `isthmus dev` composes the same entry with the other services in one
// process.
//
// One processor (see docs/field-service.md) consumes crm.case.v1,
// erp.service-order-status.v1, erp.return-status.v1, erp.journal.v1,
// ops.decisions.v1 and its own internal topic field-service.internal.v1, and
// keeps one state per service case (the service order id and the return id
// are the case id). ERP's journal answers (keyed
// by journal command id) and decisions (keyed by exception id) are
// forwarded to the internal topic keyed by case id.
package fieldservice

import (
	"context"
	"log/slog"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/gatewayclient"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/field-service/internal/casework"
	"github.com/isthmus/isthmus/services/field-service/internal/returns"
	"github.com/isthmus/isthmus/services/field-service/internal/settle"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = casework.Owner

// InternalTopic is the service's private routing topic (logical name).
const InternalTopic = "field-service.internal.v1"

// Inputs are the topics the service consumes (besides InternalTopic).
var Inputs = []string{contracts.TopicCRMCaseV1, contracts.TopicERPServiceOrderStatusV1, contracts.TopicERPReturnStatusV1, contracts.TopicERPJournalV1, contracts.TopicOpsDecisionsV1}

// GatewayScopes are the scopes asked for when ISTHMUS_OAUTH_SCOPE is unset.
var GatewayScopes = []string{"service:read"}

// Config is the service's configuration.
type Config struct {
	config.Common
	Gateway         gatewayclient.Config
	GatewayTimeout  time.Duration
	MarkupBps       int
	AssetChecks     int
	AssetRecheck    time.Duration
	MaxReposts      int
	ReturnWindow    int
	RestockingBps   int
	Tick            time.Duration
	CommitInterval  time.Duration
	RetryMaxElapsed time.Duration
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	c.Gateway.Register(s, GatewayScopes)
	s.Duration(&c.GatewayTimeout, "ISTHMUS_FIELD_SERVICE_GATEWAY_TIMEOUT", 2*time.Second, "deadline of one entitlement check; slower is retried", config.Positive)
	s.Int(&c.MarkupBps, "ISTHMUS_FIELD_SERVICE_MARKUP_BPS", 2500, "markup on the cost of billable work charged to the customer, in basis points", config.AtLeast(0))
	s.Int(&c.AssetChecks, "ISTHMUS_FIELD_SERVICE_ASSET_CHECKS", 5, "entitlement checks of an asset or customer the gateway does not know before the case is raised as not entitled", config.AtLeast(1))
	s.Duration(&c.AssetRecheck, "ISTHMUS_FIELD_SERVICE_ASSET_RECHECK", 30*time.Second, "time (stream time) between those checks", config.Positive)
	s.Int(&c.MaxReposts, "ISTHMUS_FIELD_SERVICE_MAX_REPOSTS", 3, "reposts of a settlement journal ERP rejected for a closed period before finance-ops is asked", config.AtLeast(0))
	s.Int(&c.ReturnWindow, "ISTHMUS_FIELD_SERVICE_RETURN_WINDOW_DAYS", 30, "days after purchase (or installation) within which goods may be returned for any reason; defective goods also while under warranty", config.AtLeast(0))
	s.Int(&c.RestockingBps, "ISTHMUS_FIELD_SERVICE_RESTOCKING_FEE_BPS", 1500, "restocking fee kept from the credit of goods returned by the customer's choice, in basis points", config.BasisPoints)
	s.Duration(&c.Tick, "ISTHMUS_FIELD_SERVICE_TICK", time.Second, "timer resolution (asset rechecks)", config.Positive)
	s.Duration(&c.CommitInterval, "ISTHMUS_FIELD_SERVICE_COMMIT_INTERVAL", 10*time.Millisecond, "how long a transaction collects records while they keep coming", config.Positive)
	s.Duration(&c.RetryMaxElapsed, "ISTHMUS_FIELD_SERVICE_RETRY_MAX_ELAPSED", 15*time.Second, "in-place retry budget of one record (a gateway down) before its batch is aborted and fetched again", config.Positive)
}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

// Policy is the domain policy the configuration gives.
func (c *Config) Policy() casework.Policy {
	return casework.Policy{MarkupBps: int64(c.MarkupBps), Accounts: settle.DefaultAccounts, AssetChecks: c.AssetChecks, AssetRecheck: c.AssetRecheck, MaxReposts: c.MaxReposts,
		Returns: returns.Policy{WindowDays: c.ReturnWindow, RestockingFeeBps: int64(c.RestockingBps)}}
}

// ProcessorConfig is the service's processor without Kafka: the handler
// around the casework with cfg's policy, asking e for entitlements, its
// input and internal topics, its stores and its tick. Run runs it on the
// brokers; the unit tests run it with pkg/processor/processortest.
func ProcessorConfig(cfg *Config, e Entitlement) processor.Config {
	h := &Handler{Entitlement: e, Policy: cfg.Policy(), metrics: newMetrics()}
	return processor.Config{
		Service: Name, Instance: cfg.Instance,
		Topics:         Inputs,
		InternalTopics: []string{InternalTopic},
		Stores:         Stores,
		Handler:        h.Handle,
		Tick:           cfg.Tick, OnTick: h.Tick,
	}
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	svc := service.New(&cfg.Common, log)
	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	conn, err := svc.DialGateway(cfg.Gateway, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	opts := append(svc.ProcessorOptions(sd), processor.WithRetryBudget(cfg.RetryMaxElapsed),
		processor.WithCommitInterval(cfg.CommitInterval))
	p, err := processor.New(ProcessorConfig(cfg, NewEntitlementClient(conn, cfg.GatewayTimeout)), cfg.Kafka, opts...)
	if err != nil {
		return err
	}
	svc.AddProcessor("cases", p)
	return svc.Run(ctx)
}
