// Package erpsimulator is the entry of the erp-simulator service: configuration in, Run out.
// Its main.go only parses configuration and calls Run; `isthmus dev`
// composes the same entry with the other services in one process.
//
// The simulator plays the ERP, the billing system and the CRM at their
// topic boundary (docs/erp-simulator.md): it answers ERP and billing
// commands with realistic latency and rules (as the new ERP path of the
// customers and orders flows, by their mode on ops.flow-mode.v1), publishes the ERP's price
// book, inventory and credit positions, and generates CRM traffic from a
// scenario.
package erpsimulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/gatewayclient"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/sim"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = "erp-simulator"

// Config is the service's configuration.
type Config struct {
	config.Common
	Seed             uint64
	Scenario         traffic.Scenario
	Traffic          bool
	Rate             float64
	Duration         time.Duration
	MinAccountAge    time.Duration
	Latency          erp.Latency
	ShipDelay        erp.Latency
	InvoiceDelay     erp.Latency
	Downtime         erp.Downtime
	ExportRestricted map[string]bool
	TaxMissing       map[string]bool
	GLAccounts       map[string]bool
	JournalRejectBps int
	CreditHoldBps    int
	PartShortageBps  int
	ClaimRejectBps   int
	InspectRefuseBps int
	PriceBookEvery   time.Duration
	InventoryEvery   time.Duration
	CreditEvery      time.Duration
	// DuplicateCheckBps is the share of new CRM accounts the simulated CRM
	// checks with the gateway's CheckDuplicate before saving (basis points;
	// 0: none), reaching it at ISTHMUS_GATEWAY_ADDR with Gateway's
	// credentials.
	DuplicateCheckBps int
	Gateway           gatewayclient.Config
	// Legacy is the legacy ERP mode (legacy.go).
	Legacy LegacyConfig
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	s.Func("ISTHMUS_SIM_SEED", "0", "seed of every random choice (0: a new seed from the clock, logged at start)", func(v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
		c.Seed = n
		return nil
	})
	s.Func("ISTHMUS_SIM_SCENARIO", "mixed", "CRM traffic scenario: manufacturer, saas or mixed", func(v string) error {
		sc, err := traffic.ParseScenario(v)
		c.Scenario = sc
		return err
	})
	s.Bool(&c.Traffic, "ISTHMUS_SIM_TRAFFIC", true, "generate CRM traffic (false: only answer commands and publish ERP master data)")
	s.Func("ISTHMUS_SIM_RATE", "5", "CRM records per second", func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("%q is not a positive number", v)
		}
		c.Rate = f
		return nil
	})
	s.Duration(&c.Duration, "ISTHMUS_SIM_DURATION", 0, "stop generating traffic after this long (0: never); the ERP keeps answering", config.AtLeast(0))
	s.Duration(&c.MinAccountAge, "ISTHMUS_SIM_MIN_ACCOUNT_AGE", 3*time.Second, "how old a CRM account must be before quotes and deals name it", config.AtLeast(0))
	latency := func(p *erp.Latency, env, def, usage string) {
		s.Func(env, def, usage, func(v string) error {
			l, err := erp.ParseLatency(v)
			*p = l
			return err
		})
	}
	latency(&c.Latency, "ISTHMUS_SIM_LATENCY", "200ms-2s", "ERP/billing answer latency MIN-MAX (order acknowledgement, customers, journals)")
	latency(&c.ShipDelay, "ISTHMUS_SIM_SHIP_DELAY", "2s-8s", "from order acknowledgement to SHIPPED, MIN-MAX")
	latency(&c.InvoiceDelay, "ISTHMUS_SIM_INVOICE_DELAY", "1s-5s", "from SHIPPED to INVOICED and the ERP invoice, MIN-MAX")
	s.Func("ISTHMUS_SIM_DOWNTIME", "none", "ERP maintenance windows, e.g. \"every 5m for 30s\": no answers during the window (they follow after)", func(v string) error {
		d, err := erp.ParseDowntime(v)
		c.Downtime = d
		return err
	})
	set := func(p *map[string]bool, env, def, usage string) {
		s.Func(env, def, usage, func(v string) error { *p = erp.ParseSet(v); return nil })
	}
	set(&c.ExportRestricted, "ISTHMUS_SIM_EXPORT_RESTRICTED", "CU,IR,KP,SY,RU,BY", "ship-to countries (ISO 3166-1) whose lines ERP rejects for EXPORT_CONTROL")
	set(&c.TaxMissing, "ISTHMUS_SIM_TAX_MISSING", "AR", "pricing regions or ship-to countries without tax configuration (lines rejected for TAX_CONFIGURATION)")
	set(&c.GLAccounts, "ISTHMUS_SIM_GL_ACCOUNTS", "1100,1200,1300,1400,2100,2400,4000,4100,4200,5000", "ledger account numbers journals may post to")
	bps := func(p *int, env string, def int, usage string) { s.Int(p, env, def, usage, config.BasisPoints) }
	bps(&c.JournalRejectBps, "ISTHMUS_SIM_JOURNAL_REJECT_BPS", 100, "share of valid journals rejected as PERIOD_CLOSED, basis points")
	bps(&c.CreditHoldBps, "ISTHMUS_SIM_CREDIT_HOLD_BPS", 300, "share of new ERP customers created on credit hold, basis points")
	bps(&c.PartShortageBps, "ISTHMUS_SIM_PART_SHORTAGE_BPS", 1000, "share of service orders that wait for a part on back order (PART_UNAVAILABLE before PARTS_ISSUED), basis points")
	bps(&c.ClaimRejectBps, "ISTHMUS_SIM_CLAIM_REJECT_BPS", 1000, "share of valid warranty claims the manufacturer rejects (misuse found), basis points")
	bps(&c.InspectRefuseBps, "ISTHMUS_SIM_INSPECTION_REFUSE_BPS", 1000, "share of returned units inspection refuses (no credit), basis points")
	bps(&c.DuplicateCheckBps, "ISTHMUS_SIM_DUPLICATE_CHECK_BPS", 0, "share of new CRM accounts checked with the gateway's CheckDuplicate before they are saved, basis points (a duplicate found is not created: the rep uses the existing account); needs the gateway at ISTHMUS_GATEWAY_ADDR and a token with customer:read")
	c.Gateway.Register(s, DuplicateCheckScopes)
	c.Legacy.register(s, latency, bps)
	s.Duration(&c.PriceBookEvery, "ISTHMUS_SIM_PRICE_BOOK_EVERY", 10*time.Minute, "republish the price book this often", config.Positive)
	s.Duration(&c.InventoryEvery, "ISTHMUS_SIM_INVENTORY_EVERY", 5*time.Second, "move stock levels this often", config.Positive)
	s.Duration(&c.CreditEvery, "ISTHMUS_SIM_CREDIT_EVERY", 15*time.Second, "collect receivables and re-evaluate holds this often", config.Positive)
}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

// Rules returns the ERP decision rules of the configuration.
func (c *Config) Rules() erp.Rules {
	return erp.Rules{Seed: c.Seed, ExportRestricted: c.ExportRestricted, TaxMissing: c.TaxMissing, GLAccounts: c.GLAccounts,
		JournalRejectBps: c.JournalRejectBps, CreditHoldBps: c.CreditHoldBps, PartShortageBps: c.PartShortageBps, ClaimRejectBps: c.ClaimRejectBps,
		InspectionRefuseBps: c.InspectRefuseBps}
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	log.Info("erp-simulator", "seed", cfg.Seed, "scenario", cfg.Scenario, "traffic", cfg.Traffic, "rate", cfg.Rate,
		"downtime", cfg.Downtime.String(), "export_restricted", erp.SortedKeys(cfg.ExportRestricted), "tax_missing", erp.SortedKeys(cfg.TaxMissing))
	svc := service.New(&cfg.Common, log)
	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	live := erp.NewLive(cfg.Rules())
	for pattern, h := range configAPI(live, log.With("component", "erp-config")) {
		svc.Handle(pattern, h)
	}
	// The simulator is the new ERP path of the routed flows: it follows
	// their mode (ops.flow-mode.v1) to answer, shadow or leave each command.
	modes := flowmode.NewWatcher(cfg.Kafka, sd, log.With("component", "flow-modes"))
	svc.Add("flow-modes", modes.Run, func(context.Context) error {
		if !modes.Ready() {
			return errors.New("flow modes: " + contracts.TopicOpsFlowModeV1 + " not read to its end yet")
		}
		return nil
	})
	h := sim.New(sim.Settings{Service: Name, Rules: cfg.Rules(), Latency: cfg.Latency, Ship: cfg.ShipDelay, Invoice: cfg.InvoiceDelay, Downtime: cfg.Downtime, Live: live,
		Modes: modes})
	p, err := processor.New(h.Processor(cfg.Instance), cfg.Kafka, svc.ProcessorOptions(sd)...)
	if err != nil {
		return err
	}
	svc.AddProcessor("erp", p)
	if err := addLegacyERP(svc, cfg, live, log); err != nil {
		return err
	}

	cl, err := cfg.Kafka.NewClient()
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ref := &sim.Reference{Service: Name, Client: cl, Serde: sd, Kafka: cfg.Kafka, Log: log.With("component", "reference-data"), Seed: cfg.Seed,
		PriceBookEvery: cfg.PriceBookEvery, InventoryEvery: cfg.InventoryEvery, CreditEvery: cfg.CreditEvery}
	refReady := make(chan struct{})
	svc.Add("reference-data", func(ctx context.Context) error { return ref.Run(ctx, refReady) }, nil)
	if cfg.Traffic {
		tlog := log.With("component", "crm-traffic")
		opts := []traffic.Option{traffic.WithMinAccountAge(cfg.MinAccountAge)}
		if cfg.DuplicateCheckBps > 0 {
			conn, err := svc.DialGateway(cfg.Gateway, false)
			if err != nil {
				return err
			}
			defer conn.Close()
			opts = append(opts, traffic.WithDuplicateCheck(duplicateCheck(conn, 500*time.Millisecond, tlog), cfg.DuplicateCheckBps))
		}
		gen, err := traffic.New(cfg.Scenario, cfg.Seed, opts...)
		if err != nil {
			return err
		}
		prod := traffic.NewProducer(cl, sd, cfg.Kafka)
		svc.Add("crm-lead-updates", func(ctx context.Context) error { return leadAnswers(ctx, cfg.Kafka, sd, gen, tlog) }, nil)
		svc.Add("crm-installed-base", func(ctx context.Context) error { return installedBase(ctx, cfg.Kafka, sd, gen, tlog) }, nil)
		svc.Add("crm-traffic", func(ctx context.Context) error {
			// Price book and inventory first: quotes need them.
			select {
			case <-refReady:
			case <-ctx.Done():
				return nil
			}
			return runTraffic(ctx, gen, prod, traffic.Pace{Rate: cfg.Rate, Duration: cfg.Duration}, tlog)
		}, nil)
	}
	return svc.Run(ctx)
}

func runTraffic(ctx context.Context, gen *traffic.Generator, prod *traffic.Producer, pace traffic.Pace, log *slog.Logger) error {
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				st := prod.Stats()
				log.Info("crm traffic", "sent", st.Sent, "errors", st.Errors, "rate", fmt.Sprintf("%.1f/s", float64(st.Sent)/time.Since(start).Seconds()), "by_kind", st.ByKind, "last_error", st.LastError)
			}
		}
	}()
	n, err := traffic.Drive(ctx, gen, pace, func(ev traffic.Event) { prod.Produce(ctx, ev) })
	close(done)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = prod.Flush(fctx)
	st := prod.Stats()
	log.Info("crm traffic finished", "generated", n, "sent", st.Sent, "errors", st.Errors, "by_kind", st.ByKind)
	if ctx.Err() == nil {
		<-ctx.Done() // duration over: the ERP side keeps running
	}
	return nil
}
