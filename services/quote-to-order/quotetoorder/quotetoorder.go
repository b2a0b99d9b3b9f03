// Package quotetoorder is the entry of the quote-to-order service: configuration in, Run out.
// Its main.go only parses configuration and calls Run; `isthmus dev`
// composes the same entry with the other services in one process.
//
// One processor (see docs/quote-to-order.md) consumes crm.quote.v1,
// erp.order-status.v1, mdm.xref.v1, ops.decisions.v1, crm.case-updates.v1
// and its own internal topic quote-to-order.internal.v1 (all with the same
// partition count) and keeps the order sagas, the known sold-to accounts and
// the quotes awaiting a customer in changelog-backed stores. Decisions, keyed
// by exception id, and the return steps of orders' goods (case updates keyed
// by case id) are forwarded to the internal topic keyed by quote id.
package quotetoorder

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/gatewayclient"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/gateway"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = "quote-to-order"

// InternalTopic is the service's private routing topic (logical name).
const InternalTopic = "quote-to-order.internal.v1"

// Config is the service's configuration.
type Config struct {
	config.Common
	// Gateway is how the gateway is reached: OAuth2 client credentials
	// (ISTHMUS_OAUTH_*) or the static development token, TLS.
	Gateway        gatewayclient.Config
	GatewayTimeout time.Duration
	// GatewayPrefetch bounds the validations started ahead of their
	// internal message (0: call the gateway only when it is handled);
	// GatewayConcurrency bounds those calling the gateway at once.
	GatewayPrefetch    int
	GatewayConcurrency int
	// CommitInterval is the processor's commit interval: a quote crosses
	// four transactions (quote, account lookup, customer answer,
	// validation) before its ERP command is visible.
	CommitInterval    time.Duration
	PriceTolerance    int64
	Sites             string
	DefaultSite       string
	ERPAckSLA         time.Duration
	MaxSubmitAttempts int
	CreditRecheck     time.Duration
	// ReleaseApprovalAbove: a RELEASE_HOLD of an order above this total
	// (minor units) needs approved_by (four eyes); 0: every release.
	ReleaseApprovalAbove int64
	Tick                 time.Duration
	// UnknownStatusGrace is how long an ERP status for an order unknown on
	// its partition is parked before it is raised as an exception.
	UnknownStatusGrace time.Duration
	// RetryMaxElapsed bounds in-place retries of one record before the
	// batch is aborted and fetched again.
	RetryMaxElapsed time.Duration
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	c.Gateway.Register(s, GatewayScopes)
	s.Duration(&c.GatewayTimeout, "ISTHMUS_QUOTE_TO_ORDER_GATEWAY_TIMEOUT", 2*time.Second, "deadline of one order's gateway calls; slower is retried", config.Positive)
	s.Int(&c.GatewayPrefetch, "ISTHMUS_QUOTE_TO_ORDER_GATEWAY_PREFETCH", 4096, "validations whose gateway calls start as soon as the order asks for them, ahead of their turn on the partition (results held at most this many, for a minute); 0 calls the gateway only in turn", config.AtLeast(0))
	s.Int(&c.GatewayConcurrency, "ISTHMUS_QUOTE_TO_ORDER_GATEWAY_CONCURRENCY", 8, "validations started ahead that call the gateway at once (the others wait for a slot)", config.AtLeast(1))
	s.Duration(&c.CommitInterval, "ISTHMUS_QUOTE_TO_ORDER_COMMIT_INTERVAL", 5*time.Millisecond, "how long a transaction collects records while they keep coming; a quote crosses four transactions before its ERP command is visible", config.Positive)
	s.Func("ISTHMUS_QUOTE_TO_ORDER_PRICE_TOLERANCE_MINOR", "0", "allowed difference per unit between quoted and price-book price, in minor units", func(v string) error {
		var n int64
		if _, err := fmt.Sscan(strings.TrimSpace(v), &n); err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
		c.PriceTolerance = n
		return nil
	})
	s.String(&c.Sites, "ISTHMUS_QUOTE_TO_ORDER_SITES", "", "availability site per pricing region, e.g. NA=US01,EMEA=DE01")
	s.String(&c.DefaultSite, "ISTHMUS_QUOTE_TO_ORDER_DEFAULT_SITE", "MAIN", "availability site for regions not in ISTHMUS_QUOTE_TO_ORDER_SITES")
	s.Duration(&c.ERPAckSLA, "ISTHMUS_QUOTE_TO_ORDER_ERP_ACK_SLA", 2*time.Minute, "time ERP has to acknowledge an order command before it is resubmitted", config.Positive)
	s.Int(&c.MaxSubmitAttempts, "ISTHMUS_QUOTE_TO_ORDER_MAX_SUBMIT_ATTEMPTS", 3, "submissions without acknowledgment before an ERP_TIMEOUT exception", config.AtLeast(1))
	s.Duration(&c.CreditRecheck, "ISTHMUS_QUOTE_TO_ORDER_CREDIT_RECHECK", 5*time.Minute, "how often an order on credit hold asks the gateway again (0 disables)", config.AtLeast(0))
	s.Func("ISTHMUS_QUOTE_TO_ORDER_RELEASE_APPROVAL_ABOVE_MINOR", "0", "order total (minor units) above which a RELEASE_HOLD decision must carry approved_by, a second person (0: every release)", func(v string) error {
		var n int64
		if _, err := fmt.Sscan(strings.TrimSpace(v), &n); err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
		c.ReleaseApprovalAbove = n
		return nil
	})
	s.Duration(&c.Tick, "ISTHMUS_QUOTE_TO_ORDER_TICK", time.Second, "timer resolution (ERP acknowledgment, credit recheck)", config.Positive)
	s.Duration(&c.UnknownStatusGrace, "ISTHMUS_QUOTE_TO_ORDER_UNKNOWN_STATUS_GRACE", 5*time.Minute, "how long (stream time) an ERP status for an order without state is parked, waiting for the order, before it is raised as an exception", config.Positive)
	s.Duration(&c.RetryMaxElapsed, "ISTHMUS_QUOTE_TO_ORDER_RETRY_MAX_ELAPSED", 15*time.Second, "in-place retry budget of one record before its batch is aborted and fetched again", config.Positive)
	s.Check(func() error {
		if _, err := parseSites(c.Sites); err != nil {
			return fmt.Errorf("invalid ISTHMUS_QUOTE_TO_ORDER_SITES: %v", err)
		}
		return nil
	})
}

// GatewayScopes are the scopes asked for when ISTHMUS_OAUTH_SCOPE is unset:
// every gateway method quote-to-order calls.
var GatewayScopes = []string{"pricing:read", "credit:read", "credit:reserve", "inventory:read"}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

func parseSites(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		region, site, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(region) == "" || strings.TrimSpace(site) == "" {
			return nil, fmt.Errorf("%q is not REGION=SITE", kv)
		}
		out[strings.TrimSpace(region)] = strings.TrimSpace(site)
	}
	return out, nil
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	svc := service.New(&cfg.Common, log)
	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	sites, _ := parseSites(cfg.Sites)
	gatewaySeconds := newMetrics().gatewaySeconds
	conn, err := svc.DialGateway(cfg.Gateway, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	gw := gateway.New(conn, gateway.Options{
		Timeout: cfg.GatewayTimeout, ToleranceMinor: cfg.PriceTolerance, Sites: sites, DefaultSite: cfg.DefaultSite,
		Observe: func(d time.Duration) { gatewaySeconds.Observe(d.Seconds()) },
	})
	opts := append(svc.ProcessorOptions(sd), processor.WithRetryBudget(cfg.RetryMaxElapsed),
		processor.WithCommitInterval(cfg.CommitInterval))
	p, err := processor.New(ProcessorConfig(cfg, gw), cfg.Kafka, opts...)
	if err != nil {
		return err
	}
	svc.AddProcessor("orders", p)
	return svc.Run(ctx)
}

// ProcessorConfig is the service's processor without Kafka: its handler
// around gw (the gateway client in Run; the unit tests give an in-memory
// Validator), its input and internal topics, stores and timer tick. The
// settings it reads are the saga's policy, the unknown-status grace, the
// tick, the instance id and the gateway prefetch.
func ProcessorConfig(cfg *Config, gw Validator) processor.Config {
	h := &Handler{
		Gateway:            gw,
		Policy:             saga.Policy{ERPAckSLA: cfg.ERPAckSLA, MaxSubmitAttempts: cfg.MaxSubmitAttempts, CreditRecheck: cfg.CreditRecheck, ReleaseApprovalAbove: cfg.ReleaseApprovalAbove},
		UnknownStatusGrace: cfg.UnknownStatusGrace,
		metrics:            newMetrics(),
	}
	if cfg.GatewayPrefetch > 0 {
		h.prefetch = newPrefetcher(gw, cfg.GatewayPrefetch, cfg.GatewayConcurrency, time.Minute)
	}
	return processor.Config{
		Service: Name, Instance: cfg.Instance,
		Topics:         []string{contracts.TopicCRMQuoteV1, contracts.TopicERPOrderStatusV1, contracts.TopicMDMXrefV1, contracts.TopicOpsDecisionsV1, contracts.TopicCRMCaseUpdatesV1},
		InternalTopics: []string{InternalTopic}, // created by the runtime with the inputs' partition count
		Stores:         stores,
		Handler:        h.Handle,
		Tick:           cfg.Tick, OnTick: h.Tick,
	}
}
