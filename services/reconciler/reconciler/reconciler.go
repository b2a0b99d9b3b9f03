// Package reconciler is the entry of the reconciler service: configuration in, Run out.
// Its main.go only parses configuration and calls Run; `isthmus dev`
// composes the same entry with the other services in one process.
//
// The service runs three processors and a dashboard:
//
//   - the router (group "reconciler") consumes the source topics, whose keys
//     differ, and re-keys every relevant event by its business match key
//     onto the internal topic reconciler.observations.v1 (transactionally,
//     stateless);
//   - the matcher (group "reconciler-matcher") consumes that one topic with
//     changelog-backed state (entities and the timer index), so an
//     expectation and everything that can meet it live in the same
//     partition; its tick fires due SLA timers. Two processors rather than
//     one with an internal topic: the matcher's throughput (and so its
//     timers' accuracy under a burst) does not share a loop with routing;
//   - the parity check (group "reconciler-parity") consumes
//     erp.path-results.v1 (keyed flow|entity id) with changelog-backed
//     state and compares the legacy and the new ERP path's answers of the
//     flows in SHADOW, publishing recon.parity.v1 (see internal/parity);
//   - a flowmode.Watcher follows ops.flow-mode.v1 for the dashboard's
//     parity panel and the operations API's mode changes;
//   - the dashboard serves a projection of the topics fed by a plain
//     read_committed consumer (see internal/readmodel).
package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/isthmus/isthmus/pkg/bearer"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/reconciler/internal/dashboard"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
	"github.com/isthmus/isthmus/services/reconciler/internal/opsapi"
	"github.com/isthmus/isthmus/services/reconciler/internal/readmodel"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = "reconciler"

// MatcherName is the matcher processor's group and changelog prefix.
const MatcherName = "reconciler-matcher"

// ObservationsTopic is the internal re-key topic (logical name).
const ObservationsTopic = "reconciler.observations.v1"

// Config is the service's configuration.
type Config struct {
	config.Common
	SLA                match.SLA
	ParityWindow       time.Duration
	Tick               time.Duration
	ReportEvery        time.Duration
	Retention          time.Duration
	Partitions         int
	DashboardAddr      string
	DashboardLookback  time.Duration
	DashboardMaxEvents int
	DashboardMaxPerKey int
	DashboardMaxItems  int
	Ops                OpsConfig
}

// OpsConfig configures the operations API served with the dashboard. With
// no verification keys the API is off (its routes answer 503) and the
// dashboard is read-only and unauthenticated; with keys every /api route
// needs a bearer token.
type OpsConfig struct {
	JWKSURL        string
	JWKSFile       string
	PublicKeysFile string
	JWKSRefresh    time.Duration
	Issuer         string
	Audience       string
	RolesClaim     string
	FourEyesMinor  int64
}

// Enabled reports whether keys are configured.
func (o *OpsConfig) Enabled() bool {
	return o.JWKSURL != "" || o.JWKSFile != "" || o.PublicKeysFile != ""
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	d := match.DefaultSLA
	s.Duration(&c.SLA.OrderSubmit, "ISTHMUS_RECON_SLA_ORDER_SUBMIT", d.OrderSubmit, "SLA: quote accepted → order submitted to ERP (else ORDER_NOT_SUBMITTED)", config.Positive)
	s.Duration(&c.SLA.ERPAck, "ISTHMUS_RECON_SLA_ERP_ACK", d.ERPAck, "SLA: order command → ERP order status (else ERP_ACK_MISSING)", config.Positive)
	s.Duration(&c.SLA.Invoice, "ISTHMUS_RECON_SLA_INVOICE", d.Invoice, "SLA: order shipped → invoice posted (else INVOICE_NOT_POSTED)", config.Positive)
	s.Duration(&c.SLA.Provision, "ISTHMUS_RECON_SLA_PROVISION", d.Provision, "SLA: deal closed → subscription provisioned (else SUBSCRIPTION_NOT_PROVISIONED)", config.Positive)
	s.Duration(&c.SLA.InvoiceSchedule, "ISTHMUS_RECON_SLA_INVOICE_SCHEDULE", d.InvoiceSchedule, "SLA: deal closed → invoice schedule (else INVOICE_SCHEDULE_MISSING)", config.Positive)
	s.Duration(&c.SLA.Journal, "ISTHMUS_RECON_SLA_JOURNAL", d.Journal, "SLA: journal command → journal posted (else JOURNAL_NOT_POSTED)", config.Positive)
	s.Duration(&c.SLA.CustomerXref, "ISTHMUS_RECON_SLA_CUSTOMER_XREF", d.CustomerXref, "SLA: CRM account → ERP customer id (else CUSTOMER_NOT_IN_ERP)", config.Positive)
	s.Duration(&c.SLA.LedgerSettle, "ISTHMUS_RECON_SLA_LEDGER_SETTLE", d.LedgerSettle, "how long a contract period's journals may disagree with its schedule while a correction is in flight (else BILLING_JOURNAL_MISMATCH)", config.Positive)
	s.Duration(&c.SLA.ServiceOrder, "ISTHMUS_RECON_SLA_SERVICE_ORDER", d.ServiceOrder, "SLA: service case opened (or its work order after an operator's decision) → ERP service order status (else CASE_WITHOUT_SERVICE_ORDER)", config.Positive)
	s.Duration(&c.SLA.ServiceCost, "ISTHMUS_RECON_SLA_SERVICE_COST", d.ServiceCost, "SLA: service order completed with a cost → its SERVICE_COST journal posted (else SERVICE_COST_NOT_SETTLED)", config.Positive)
	s.Duration(&c.SLA.ReturnCredit, "ISTHMUS_RECON_SLA_RETURN_CREDIT", d.ReturnCredit, "SLA: return inspected with accepted units → ERP return CREDITED (else RETURN_NOT_CREDITED)", config.Positive)
	s.Duration(&c.ParityWindow, "ISTHMUS_RECON_PARITY_WINDOW", 10*time.Minute, "parity: how long one ERP path's answer (flow in SHADOW) waits for the other path's before recon.parity.v1 reports it MISSING_NEW or MISSING_LEGACY", config.Positive)
	s.Duration(&c.Tick, "ISTHMUS_RECON_TICK", time.Second, "how often due SLA timers are checked", config.Positive)
	s.Duration(&c.ReportEvery, "ISTHMUS_RECON_REPORT_INTERVAL", 5*time.Minute, "window of the recon.reports.v1 summaries", config.Positive)
	s.Duration(&c.Retention, "ISTHMUS_RECON_RETENTION", 7*24*time.Hour, "how long a settled entity is kept after its last event", config.Positive)
	s.Int(&c.Partitions, "ISTHMUS_RECON_PARTITIONS", 6, "partitions of the internal topic reconciler.observations.v1 when it is created", config.Between(1, 10_000))
	s.String(&c.DashboardAddr, "ISTHMUS_RECON_DASHBOARD_ADDR", ":8088", "listen address of the operations dashboard")
	s.Duration(&c.DashboardLookback, "ISTHMUS_RECON_DASHBOARD_LOOKBACK", 24*time.Hour, "how far back the dashboard indexes the timeline at start", config.AtLeast(0))
	s.Int(&c.DashboardMaxEvents, "ISTHMUS_RECON_DASHBOARD_MAX_EVENTS", 100_000, "timeline events kept in memory", config.Positive)
	s.Int(&c.DashboardMaxPerKey, "ISTHMUS_RECON_DASHBOARD_MAX_PER_ID", 200, "timeline events kept per searchable id", config.Positive)
	s.Int(&c.DashboardMaxItems, "ISTHMUS_RECON_DASHBOARD_MAX_ITEMS", 50_000, "breaks and exceptions kept in memory, each", config.Positive)
	s.String(&c.Ops.JWKSURL, "ISTHMUS_OPS_JWKS_URL", "", "JWKS URL of the operators' token issuer (enables the operations API)")
	s.String(&c.Ops.JWKSFile, "ISTHMUS_OPS_JWKS_FILE", "", "JWKS file of the operators' token issuer (enables the operations API)")
	s.String(&c.Ops.PublicKeysFile, "ISTHMUS_OPS_JWT_PUBLIC_KEYS", "", "PEM public keys of the operators' token issuer (enables the operations API)")
	s.Duration(&c.Ops.JWKSRefresh, "ISTHMUS_OPS_JWKS_REFRESH", 5*time.Minute, "how often the JWKS URL is read again (key rotation)", config.Positive)
	s.String(&c.Ops.Issuer, "ISTHMUS_OPS_ISSUER", "", "required iss of operator tokens (empty: any)")
	s.String(&c.Ops.Audience, "ISTHMUS_OPS_AUDIENCE", "", "required aud of operator tokens (empty: any)")
	s.String(&c.Ops.RolesClaim, "ISTHMUS_OPS_ROLES_CLAIM", "", "claim holding the operator's roles, e.g. roles or groups (empty: the scope/scp claims)")
	var fourEyes int
	s.Int(&fourEyes, "ISTHMUS_OPS_FOUR_EYES_MINOR", 1_000_000, "decisions on exceptions above this amount (minor units) need a second approver; 0: only OVERRIDE and RELEASE_HOLD", config.AtLeast(0))
	s.Check(func() error {
		c.Ops.FourEyesMinor = int64(fourEyes)
		return nil
	})
	s.Check(func() error {
		if _, _, err := net.SplitHostPort(c.DashboardAddr); err != nil {
			return fmt.Errorf("invalid ISTHMUS_RECON_DASHBOARD_ADDR (--%s): %v", config.FlagName("ISTHMUS_RECON_DASHBOARD_ADDR"), err)
		}
		return nil
	})
}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	svc := service.New(&cfg.Common, log)
	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	model := readmodel.New(readmodel.Limits{MaxEvents: cfg.DashboardMaxEvents, MaxPerKey: cfg.DashboardMaxPerKey, MaxItems: cfg.DashboardMaxItems})
	theGauges.setModel(model, cfg.Tick)
	registerGauges()

	if err := ensureTopic(ctx, cfg.Kafka, ObservationsTopic, int32(cfg.Partitions), nil, log); err != nil {
		return err
	}
	router, err := processor.New(RouterConfig(cfg.Instance), cfg.Kafka, svc.ProcessorOptions(sd)...)
	if err != nil {
		return err
	}
	matcherProc, err := processor.New(MatcherConfig(cfg, log), cfg.Kafka, svc.ProcessorOptions(sd)...)
	if err != nil {
		return err
	}
	parityProc, err := processor.New(ParityConfig(cfg, log), cfg.Kafka, svc.ProcessorOptions(sd)...)
	if err != nil {
		return err
	}
	svc.AddProcessor("router", router)
	svc.AddProcessor("matcher", matcherProc)
	svc.AddProcessor("parity", parityProc)
	modes := flowmode.NewWatcher(cfg.Kafka, sd, log.With("component", "flow-modes"))
	svc.Add("flow-modes", modes.Run, nil)

	// Each topic is read once: breaks and exceptions from their start (the
	// dashboard lists every open one), the rest from the lookback.
	states := []string{contracts.TopicReconBreaksV1, contracts.TopicOpsExceptionsV1}
	// Decisions are on the timeline (keyed by exception id) beside the
	// exception updates that answer them.
	// Parity verdicts feed the parity panel (and the timeline by entity).
	timeline := []string{contracts.TopicOpsDecisionsV1, contracts.TopicReconParityV1}
	for _, t := range match.InputTopics {
		if !slices.Contains(states, t) {
			timeline = append(timeline, t)
		}
	}
	feed := &readmodel.Feed{Kafka: cfg.Kafka, Serde: sd, Model: model, Log: log, Lookback: cfg.DashboardLookback,
		Timeline: timeline, States: states}
	svc.Add("dashboard-feed", feed.Run, nil)
	dash := &dashboard.Server{Addr: cfg.DashboardAddr, Model: model, Log: log, Health: healthOf(cfg, model), Modes: modes.Current}
	if cfg.Ops.Enabled() {
		api, err := opsAPI(ctx, svc, cfg, sd, model, modes, log)
		if err != nil {
			return err
		}
		dash.Ops = api
	} else {
		log.Warn("operations API off and dashboard unauthenticated: set ISTHMUS_OPS_JWKS_URL, ISTHMUS_OPS_JWKS_FILE or ISTHMUS_OPS_JWT_PUBLIC_KEYS")
	}
	if err := dash.Listen(); err != nil {
		return err
	}
	log.Info("dashboard listening", "url", dash.URL())
	svc.Add("dashboard", dash.Run, nil)
	return svc.Run(ctx)
}

// opsAPI builds the operations API: the operators' verifier, the pending
// approvals (their compacted topic, created when missing) and a producer.
func opsAPI(ctx context.Context, svc *service.Service, cfg *Config, sd *serde.Serde, model *readmodel.Model, modes *flowmode.Watcher, log *slog.Logger) (*opsapi.API, error) {
	keys, static, err := bearer.Load(ctx, http.DefaultClient, cfg.Ops.JWKSURL, "ISTHMUS_OPS_JWKS_URL",
		map[string]string{"ISTHMUS_OPS_JWKS_FILE": cfg.Ops.JWKSFile, "ISTHMUS_OPS_JWT_PUBLIC_KEYS": cfg.Ops.PublicKeysFile})
	if err != nil {
		return nil, err
	}
	if cfg.Ops.JWKSURL != "" {
		svc.Add("ops-jwks", func(ctx context.Context) error {
			return keys.Refresh(ctx, http.DefaultClient, cfg.Ops.JWKSURL, cfg.Ops.JWKSRefresh, static, log)
		}, nil)
	}
	compact := "compact"
	if err := ensureTopic(ctx, cfg.Kafka, opsapi.ApprovalsTopic, 1, map[string]*string{"cleanup.policy": &compact}, log); err != nil {
		return nil, err
	}
	approvals, err := opsapi.NewApprovals(cfg.Kafka, log)
	if err != nil {
		return nil, err
	}
	svc.Add("ops-approvals", approvals.Run, nil)
	cl, err := cfg.Kafka.NewClient()
	if err != nil {
		return nil, err
	}
	svc.Add("ops-producer", func(ctx context.Context) error { <-ctx.Done(); cl.Close(); return nil }, nil)
	return &opsapi.API{
		Verifier: &bearer.Verifier{Keys: keys, Issuer: cfg.Ops.Issuer, Audience: cfg.Ops.Audience, Leeway: 30 * time.Second, RolesClaim: cfg.Ops.RolesClaim},
		Kafka:    cfg.Kafka, Serde: sd, Model: model, Approvals: approvals, Client: cl, Log: log.With("component", "ops-api"),
		Threshold: cfg.Ops.FourEyesMinor, Modes: modes,
	}, nil
}

// RouterConfig is the router processor (group "reconciler"): the source
// topics in, observations out on ObservationsTopic, no state.
func RouterConfig(instance string) processor.Config {
	return processor.Config{Service: Name, Instance: instance, Topics: match.InputTopics, Handler: route}
}

// MatcherConfig is the matcher processor (group "reconciler-matcher"):
// ObservationsTopic in, breaks and reports out, the engine's stores (with
// match.StoreDeadlines, where earlier releases kept their timers until the
// tick has moved them), and a tick every cfg.Tick firing due timers. It reads cfg's SLAs, report
// window, retention, tick and instance.
func MatcherConfig(cfg *Config, log *slog.Logger) processor.Config {
	m := &matcher{engine: &match.Engine{SLA: cfg.SLA, ReportEvery: cfg.ReportEvery, Retention: cfg.Retention}, log: log, activity: newActivity(cfg.Tick)}
	return processor.Config{
		Service: MatcherName, Instance: cfg.Instance,
		Topics:  []string{ObservationsTopic},
		Stores:  []string{match.StoreEntities, match.StoreTimers, match.StoreDeadlines},
		Handler: m.handle,
		Tick:    cfg.Tick, OnTick: m.tick,
	}
}

// route is the router's handler: decode, re-key, emit observations.
// Undecodable records and records of the field-service topics without
// their id or not keyed by it are poison: dead-lettered to
// dlq.reconciler.v1 with the reason, and the partition keeps flowing.
// field-service refuses the same records, so reconciling them would only
// raise breaks about cases it never saw (and a record under another key is
// not ordered with its entity's other records).
func route(_ context.Context, m *processor.Message) error {
	if m.Value() == nil {
		return nil // tombstone of a compacted topic
	}
	v, err := contracts.NewValue(m.Topic)
	if err != nil {
		return errs.Poison(errs.ReasonUnknownTopic, err)
	}
	if err := m.Decode(v); err != nil {
		return err
	}
	if err := checkKey(m.Topic, m.Key(), v); err != nil {
		return err
	}
	for _, o := range match.Route(m.Topic, v) {
		if o.EventID == "" {
			o.EventID = m.EventID()
		}
		b, err := o.Marshal()
		if err != nil {
			return errs.Poison(errs.ReasonObservation, err)
		}
		m.Emit(ObservationsTopic, o.Key, b)
	}
	return nil
}

// checkKey checks that a record of the field-service topics carries its id
// and is keyed by it (match.RecordID); other topics are not checked.
func checkKey(topic, key string, v contracts.Value) error {
	field, id, ok := match.RecordID(v)
	switch {
	case !ok:
		return nil
	case id == "":
		return errs.Poisonf(errs.ReasonMissingID, "%s record without %s", topic, field)
	case id != key:
		return errs.Poisonf(errs.ReasonKeyMismatch, "%s %q arrived with key %q: %s must be keyed by %s", field, id, key, topic, field)
	}
	return nil
}

type matcher struct {
	engine *match.Engine
	log    *slog.Logger
	*activity
}

// activity tells whether a partition is busy: it applied input in the
// last idle (twice the tick, at least a second), so a backlog may be
// waiting and its timers fire only once its event time passed them too
// (match.Engine.Tick, parity.Engine.Tick); an idle partition's fire by the
// clock. A partition not applied since the start counts from the start.
type activity struct {
	idle    time.Duration
	started time.Time
	// The processor may run the handlers of different partitions at the
	// same time; mu guards last.
	mu   sync.Mutex
	last map[int32]time.Time
}

func newActivity(tick time.Duration) *activity {
	return &activity{idle: max(2*tick, time.Second), started: time.Now(), last: map[int32]time.Time{}}
}

// applied notes that partition part applied input now.
func (a *activity) applied(part int32) {
	a.mu.Lock()
	a.last[part] = time.Now()
	a.mu.Unlock()
}

// busy reports whether part applied input in the last idle.
func (a *activity) busy(part int32) bool {
	a.mu.Lock()
	last, ok := a.last[part]
	a.mu.Unlock()
	if !ok {
		last = a.started
	}
	return time.Since(last) < a.idle
}

// handle applies one observation. Its input is our own internal topic and
// its state our own, so an observation or a state value it cannot read is
// our bug, not bad data, and follows the one policy of corrupt own state
// (processor.Store): a retriable error with reason corrupt_state, so the
// partition waits, loudly, for a release that can read it; nothing is
// skipped or dead-lettered.
func (mt *matcher) handle(_ context.Context, m *processor.Message) error {
	mt.applied(m.Partition())
	o, err := match.UnmarshalObservation(m.Value())
	if err != nil {
		return errs.Retriable(errs.ReasonCorruptState, fmt.Errorf("%s[%d]@%d: %w", m.Topic, m.Partition(), m.Record.Offset, err))
	}
	breaks, err := mt.engine.Apply(m, o)
	if err != nil {
		return err
	}
	return emitBreaks(m, breaks)
}

func emitBreaks(m *processor.Message, breaks []*contracts.ReconBreak) error {
	for _, b := range breaks {
		// EmitValue's errors are classified by serde (an unreachable
		// registry is retriable, a value its schema refuses is poison).
		if err := m.EmitValue(contracts.TopicReconBreaksV1, b.BreakID, b); err != nil {
			return err
		}
	}
	return nil
}

func (mt *matcher) tick(_ context.Context, m *processor.Message, now time.Time) error {
	res, err := mt.engine.Tick(m, m.Partition(), now, mt.busy(m.Partition()))
	if err != nil {
		return err
	}
	if err := emitBreaks(m, res.Breaks); err != nil {
		return err
	}
	for _, r := range res.Reports {
		if err := m.EmitValue(contracts.TopicReconReportsV1, r.ReportID, r); err != nil {
			return err
		}
	}
	theGauges.set(m.Partition(), res.Stats, time.Now())
	return nil
}

// healthOf reports ERP health from the event stream and gateway health from
// a TCP connect to its gRPC port.
func healthOf(cfg *Config, model *readmodel.Model) func(ctx context.Context) map[string]dashboard.Health {
	return func(ctx context.Context) map[string]dashboard.Health {
		out := map[string]dashboard.Health{}
		ov := model.Overview(time.Now())
		erp := dashboard.Health{Status: "unknown", Detail: "no ERP event seen yet"}
		if last := model.LastSeen("erp."); !last.IsZero() {
			late := ov.OpenBreaksByKind[contracts.BreakKindERPAckMissing] + ov.OpenBreaksByKind[contracts.BreakKindJournalNotPosted]
			erp = dashboard.Health{Status: "ok", Detail: fmt.Sprintf("last ERP event %s ago", time.Since(last).Round(time.Second))}
			if late > 0 {
				erp.Status = "degraded"
				erp.Detail += fmt.Sprintf("; %d ERP acknowledgements/journals overdue", late)
			}
		}
		out["erp"] = erp
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "tcp", cfg.GatewayAddr); err != nil {
			out["gateway"] = dashboard.Health{Status: "down", Detail: fmt.Sprintf("%s unreachable: %v", cfg.GatewayAddr, err)}
		} else {
			_ = c.Close()
			out["gateway"] = dashboard.Health{Status: "ok", Detail: cfg.GatewayAddr + " accepts connections"}
		}
		out["dashboard"] = dashboard.Health{Status: "ok", Detail: fmt.Sprintf("%d events, %d ids indexed", ov.Events, ov.Keys)}
		return out
	}
}

// ensureTopic creates an internal topic (the re-key topic, the pending
// approvals) when it is missing and waits
// until every partition has a leader, so the matcher's start-up check finds
// it. (The matcher consumes only this topic, so its partition count is free:
// ISTHMUS_RECON_PARTITIONS.)
func ensureTopic(ctx context.Context, kcfg kafka.Config, logical string, partitions int32, configs map[string]*string, log *slog.Logger) error {
	cl, err := kcfg.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	topic := kcfg.Topic(logical)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return fmt.Errorf("%s: cannot reach Kafka brokers %v: %w", Name, kcfg.Brokers, err)
	}
	if td, ok := md.Topics[topic]; ok && td.Err == nil {
		return nil
	}
	if err := kafka.CreateTopic(ctx, adm, topic, partitions, -1, configs); err != nil {
		return fmt.Errorf("%s: create internal topic %s: %w", Name, topic, err)
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && len(td.Partitions) > 0 {
				led := true
				for _, p := range td.Partitions {
					led = led && p.Err == nil && p.Leader >= 0
				}
				if led {
					log.Info("internal topic ready", "topic", topic, "partitions", len(td.Partitions))
					return nil
				}
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: internal topic %s not ready: %w", Name, topic, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
