//go:build integration

package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/logging"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
)

// itEnv is one isolated reconciler deployment on the real broker and
// registry: topics under a unique prefix with the catalog's partition
// counts, schemas registered under the prefixed subjects.
type itEnv struct {
	t        *testing.T
	env      map[string]string
	prefix   string
	sd       *serde.Serde
	producer *kgo.Client
	dashURL  string
	admin    string

	mu     sync.Mutex
	breaks []seenBreak
	// logs, when set, receives every instance's logs at info level (the
	// operations API's audit lines).
	logs io.Writer
}

type seenBreak struct {
	b        contracts.ReconBreak
	at       time.Time // when the test saw it
	producer int64     // the writer's producer id: one per instance
}

func newEnv(t *testing.T, sla map[string]string) *itEnv {
	brokers := testinfra.Brokers(t)
	regURL := testinfra.RegistryURL(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "it.recon." + hex.EncodeToString(rnd[:]) + "."
	cat := catalog.MustEmbedded()
	byParts := map[int32][]string{}
	topics := append(append([]string{}, match.InputTopics...), contracts.TopicReconBreaksV1, contracts.TopicReconReportsV1, contracts.TopicOpsDecisionsV1, "dlq.reconciler.v1",
		contracts.TopicERPPathResultsV1, contracts.TopicReconParityV1, contracts.TopicOpsFlowModeV1, contracts.TopicDlqReconcilerParityV1)
	for _, name := range topics {
		tp := cat.MustTopic(name)
		byParts[int32(tp.Partitions)] = append(byParts[int32(tp.Partitions)], prefix+name)
	}
	for n, ts := range byParts {
		testinfra.CreateTopics(t, brokers, n, ts...)
	}
	cl, err := sr.NewClient(sr.URLs(regURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range topics {
		v, err := contracts.NewValue(name)
		if err != nil {
			continue // raw DLQ bytes
		}
		text, err := serde.SchemaText(v.Schema())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.RegisterSchema(ctx, serde.Subject(prefix+name), sr.Schema{Schema: text}, -1, -1); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	e := &itEnv{t: t, prefix: prefix, sd: serde.New(cl), dashURL: "", admin: testinfra.FreeAddr(t)}
	dash := testinfra.FreeAddr(t)
	e.dashURL = "http://" + dash
	e.env = map[string]string{
		"ISTHMUS_KAFKA_BROKERS": brokers[0], "ISTHMUS_SCHEMA_REGISTRY_URL": regURL, "ISTHMUS_TOPIC_PREFIX": prefix,
		"ISTHMUS_ADMIN_ADDR": e.admin, "ISTHMUS_RECON_DASHBOARD_ADDR": dash, "ISTHMUS_INSTANCE_ID": "it",
		"ISTHMUS_RECON_TICK": "250ms", "ISTHMUS_RECON_REPORT_INTERVAL": "5s",
		"ISTHMUS_GATEWAY_ADDR": "127.0.0.1:1", "ISTHMUS_LOG_LEVEL": "warn",
	}
	for k, v := range sla {
		e.env[k] = v
	}
	e.producer = testinfra.NewClient(t, brokers, kgo.ProducerLinger(5*time.Millisecond))
	go e.collectBreaks(t, brokers)
	return e
}

// config parses the environment's settings, with over taking precedence.
func (e *itEnv) config(over map[string]string) *Config {
	var cfg Config
	if err := config.ParseMaps(Name, &cfg, e.env, over); err != nil {
		e.t.Fatal(err)
	}
	return &cfg
}

// start runs the service and waits until it is ready; stop cancels it and
// waits for Run to return.
func (e *itEnv) start() (stop func()) { return e.startWith(nil) }

// startWith is start with settings in over taking precedence (another
// instance: ISTHMUS_INSTANCE_ID, ISTHMUS_ADMIN_ADDR,
// ISTHMUS_RECON_DASHBOARD_ADDR).
func (e *itEnv) startWith(over map[string]string) (stop func()) {
	cfg := e.config(over)
	admin := e.admin
	if a, ok := over["ISTHMUS_ADMIN_ADDR"]; ok {
		admin = a
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := logging.New(os.Stderr, slog.LevelWarn).With("test", e.t.Name())
	if e.logs != nil {
		log = logging.New(e.logs, slog.LevelInfo).With("test", e.t.Name())
	}
	go func() { done <- Run(ctx, cfg, log) }()
	if !testinfra.Within(60*time.Second, func() bool {
		select {
		case err := <-done:
			cancel()
			e.t.Fatalf("reconciler stopped at start: %v", err)
		default:
		}
		r, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}) {
		cancel()
		if r, err := http.Get("http://" + admin + "/readyz"); err == nil {
			b, _ := io.ReadAll(r.Body)
			e.t.Logf("readyz: %s", b)
		}
		e.t.Fatalf("reconciler %s not ready within 60s", cfg.Instance)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("reconciler %s stopped with %v", cfg.Instance, err)
				}
			case <-time.After(30 * time.Second):
				e.t.Errorf("reconciler %s did not stop within 30s", cfg.Instance)
			}
		})
	}
}

func (e *itEnv) collectBreaks(t *testing.T, brokers []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(e.prefix+contracts.TopicReconBreaksV1),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Error(err)
		return
	}
	t.Cleanup(cl.Close)
	for {
		fs := cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachRecord(func(r *kgo.Record) {
			var b contracts.ReconBreak
			if err := e.sd.Decode(context.Background(), r.Value, &b); err != nil {
				t.Errorf("decode break: %v", err)
				return
			}
			e.mu.Lock()
			e.breaks = append(e.breaks, seenBreak{b: b, at: time.Now(), producer: r.ProducerID})
			e.mu.Unlock()
		})
	}
}

func (e *itEnv) seen() []seenBreak {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seenBreak(nil), e.breaks...)
}

// waitBreak waits for a break event of kind/status whose entity ids contain
// id=value.
func (e *itEnv) waitBreak(kind, status, idName, id string, within time.Duration) (seenBreak, bool) {
	var found seenBreak
	ok := testinfra.Within(within, func() bool {
		for _, s := range e.seen() {
			if s.b.Kind == kind && s.b.Status == status && s.b.EntityIds[idName] == id {
				found = s
				return true
			}
		}
		return false
	})
	return found, ok
}

// producer side ---------------------------------------------------------------

func (e *itEnv) rec(topic, key string, v contracts.Value) *kgo.Record {
	b, err := e.sd.Encode(context.Background(), e.prefix+topic, v.(serde.Record))
	if err != nil {
		e.t.Fatalf("encode %s: %v", topic, err)
	}
	r := &kgo.Record{Topic: e.prefix + topic, Key: []byte(key), Value: b}
	tracing.SetHeader(&r.Headers, tracing.HeaderCorrelationID, key)
	return r
}

func (e *itEnv) produce(recs ...*kgo.Record) {
	for i := 0; i < len(recs); i += 2000 {
		j := min(i+2000, len(recs))
		if err := e.producer.ProduceSync(context.Background(), recs[i:j]...).FirstErr(); err != nil {
			e.t.Fatalf("produce: %v", err)
		}
	}
}

var seq int64

func md(corr, src string) contracts.EventMetadata {
	seq++
	return contracts.EventMetadata{EventID: fmt.Sprintf("ev-%s-%d", corr, seq), CorrelationID: corr, SourceSystem: src, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func eur(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "EUR"} }

func (e *itEnv) quote(id, corr string, total int64) *kgo.Record {
	return e.rec(contracts.TopicCRMQuoteV1, id, &contracts.Quote{Metadata: md(corr, contracts.SourceSystemCRM), QuoteID: id, Version: 1,
		Status: contracts.QuoteStatusAccepted, SoldToAccountID: "acct-" + id, Currency: "EUR", Region: "EU", Total: eur(total)})
}

func (e *itEnv) lifecycle(order, quote, corr, state string, total int64) *kgo.Record {
	return e.rec(contracts.TopicOrdersLifecycleV1, order, &contracts.OrderLifecycle{Metadata: md(corr, contracts.SourceSystemQuoteToOrder),
		OrderID: order, QuoteID: quote, QuoteVersion: 1, State: state, CRMAccountID: "acct-" + quote, Currency: "EUR", Total: eur(total)})
}

func (e *itEnv) orderCmd(order, quote, corr string, total int64) *kgo.Record {
	return e.rec(contracts.TopicERPOrderCommandsV1, order, &contracts.OrderCommand{Metadata: md(corr, contracts.SourceSystemQuoteToOrder),
		CommandID: "cmd-" + order, Action: contracts.OrderCommandActionCreate, OrderID: order, QuoteID: quote, QuoteVersion: 1, Attempt: 1,
		ERPCustomerID: "100042", Currency: "EUR", Region: "EU", Total: eur(total)})
}

func (e *itEnv) orderStatus(order, corr, status string, total int64) *kgo.Record {
	t := eur(total)
	return e.rec(contracts.TopicERPOrderStatusV1, order, &contracts.OrderStatus{Metadata: md(corr, contracts.SourceSystemERP),
		OrderID: order, Status: status, Total: &t})
}

func (e *itEnv) invoice(inv, order, corr string, net int64) *kgo.Record {
	return e.rec(contracts.TopicERPInvoiceV1, inv, &contracts.Invoice{Metadata: md(corr, contracts.SourceSystemERP), InvoiceID: inv,
		Status: contracts.InvoiceStatusPosted, ERPCustomerID: "100042", OrderID: &order, InvoiceDate: time.Now().UTC(), DueDate: time.Now().UTC(),
		NetTotal: eur(net), TaxTotal: eur(0), Total: eur(net), PostedAt: time.Now().UTC()})
}

var period = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func (e *itEnv) deal(contract, corr string) *kgo.Record {
	return e.rec(contracts.TopicCRMDealV1, contract, &contracts.Deal{Metadata: md(corr, contracts.SourceSystemCRM), DealID: "deal-" + contract,
		ContractID: contract, DealType: contracts.DealTypeNew, AccountID: "acct-" + contract, Currency: "EUR", StartDate: period,
		EndDate: period.AddDate(1, 0, 0), BillingFrequency: contracts.BillingFrequencyMonthly, ClosedAt: time.Now().UTC()})
}

func (e *itEnv) billingCmd(contract, corr string, amount int64) *kgo.Record {
	return e.rec(contracts.TopicBillingCommandsV1, contract, &contracts.BillingCommand{Metadata: md(corr, contracts.SourceSystemBillingBridge),
		CommandID: "bc-" + contract, Action: contracts.BillingActionProvision, ContractID: contract, AccountID: "acct-" + contract,
		Currency: "EUR", StartDate: period, EndDate: period.AddDate(1, 0, 0), EffectiveDate: period, BillingFrequency: contracts.BillingFrequencyMonthly,
		InvoiceSchedule: []contracts.ScheduledInvoice{{Sequence: 1, InvoiceDate: period, PeriodStart: period, PeriodEnd: period.AddDate(0, 1, 0), Amount: eur(amount)}}})
}

func (e *itEnv) billingEvt(contract, corr string) *kgo.Record {
	zero := 0
	return e.rec(contracts.TopicBillingEventsV1, contract, &contracts.BillingEvent{Metadata: md(corr, contracts.SourceSystemBilling),
		EventType: contracts.BillingEventTypeSubscriptionProvisioned, ContractID: contract, AmendmentSequence: &zero})
}

func lines(debit int64) []contracts.JournalLine {
	return []contracts.JournalLine{{LineNumber: 1, Account: "1200", Debit: eur(debit), Credit: eur(0)}, {LineNumber: 2, Account: "4000", Debit: eur(0), Credit: eur(debit)}}
}

func (e *itEnv) journalCmd(jc, contract, corr string, debit int64) *kgo.Record {
	p := period
	return e.rec(contracts.TopicERPJournalCommandsV1, contract, &contracts.JournalCommand{Metadata: md(corr, contracts.SourceSystemBillingBridge),
		JournalCommandID: jc, Kind: contracts.JournalKindInvoice, ContractID: contract, PostingDate: period, PeriodStart: &p,
		Currency: "EUR", Description: "invoice", Lines: lines(debit)})
}

func (e *itEnv) journal(jc, contract, corr string, debit int64) *kgo.Record {
	return e.rec(contracts.TopicERPJournalV1, jc, &contracts.Journal{Metadata: md(corr, contracts.SourceSystemERP),
		JournalCommandID: jc, Status: contracts.JournalStatusPosted, ContractID: &contract, Lines: lines(debit)})
}

func (e *itEnv) account(id, corr string, erp *string) *kgo.Record {
	return e.rec(contracts.TopicCRMAccountV1, id, &contracts.Account{Metadata: md(corr, contracts.SourceSystemCRM), Op: contracts.ChangeOperationUpsert,
		AccountID: id, Name: "Account " + id, ERPCustomerID: erp, Status: contracts.AccountStatusCustomer, SourceUpdatedAt: time.Now().UTC()})
}

func (e *itEnv) xref(crm, erp, corr string) *kgo.Record {
	return e.rec(contracts.TopicMDMXrefV1, "CRM:"+crm, &contracts.CrossReference{Metadata: md(corr, contracts.SourceSystemCustomerSync),
		System: contracts.SourceSystemCRM, SystemID: crm, GoldenID: "G-" + crm, Status: contracts.XrefStatusActive,
		OtherIds: []contracts.SystemRef{{System: contracts.SourceSystemERP, ID: erp}}})
}
