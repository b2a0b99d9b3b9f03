package fieldservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/tracing"
	"github.com/isthmus/isthmus/services/field-service/fieldservice"
	"github.com/isthmus/isthmus/services/field-service/internal/casework"
	"github.com/isthmus/isthmus/services/field-service/internal/returns"
)

// The handler's unit tests: the service's processor run without a broker
// (pkg/processor/processortest), the gateway replaced by an in-memory
// installed base behind the service's own Entitlement interface.

// base is an in-memory Entitlement: verdicts by serial (a serial it does
// not hold is unknown to the gateway), assets by serial, and an error to
// fail with (the gateway down). Safe for the partitions of a processor
// checking at once.
type base struct {
	verdicts map[string]casework.Verdict
	assets   map[string]returns.Asset
	down     error

	mu     sync.Mutex
	checks int
}

func (b *base) Check(_ context.Context, c *casework.Case, _ time.Time) (casework.Verdict, error) {
	b.mu.Lock()
	b.checks++
	b.mu.Unlock()
	if b.down != nil {
		return casework.Verdict{}, b.down
	}
	v, ok := b.verdicts[c.Serial]
	if !ok {
		return casework.Verdict{Unknown: true, Reason: "NOT_FOUND", Message: "asset " + c.Serial + " not found"}, nil
	}
	return v, nil
}

func (b *base) Assets(_ context.Context, serials []string) (map[string]returns.Asset, error) {
	if b.down != nil {
		return nil, b.down
	}
	out := map[string]returns.Asset{}
	for _, s := range serials {
		if a, ok := b.assets[s]; ok {
			out[s] = a
		}
	}
	return out, nil
}

var t0 = time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)

// defaults is the service's configuration with its default settings.
func defaults(t *testing.T) *fieldservice.Config {
	t.Helper()
	var cfg fieldservice.Config
	if err := config.ParseMaps(fieldservice.Name, &cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// kit is the service's processor with its default settings (two asset
// checks) over the installed base b.
func kit(t *testing.T, b *base) *processortest.Kit {
	t.Helper()
	cfg := defaults(t)
	cfg.AssetChecks = 2
	return processortest.New(t, fieldservice.ProcessorConfig(cfg, b), processortest.Now(t0))
}

func ref[T any](v T) *T { return &v }

func md(corr string) contracts.EventMetadata {
	return event.Metadata(event.ID("test", corr), corr, "", contracts.SourceSystemCRM, t0)
}

func crmCase(id, serial, status string) *contracts.Case {
	return &contracts.Case{Metadata: md("corr-" + id), CaseID: id, AccountID: "ACC-1", ERPCustomerID: ref("E-1"), Serial: serial,
		ServiceType: contracts.ServiceTypeRepair, Symptom: ref("leaks"), Priority: contracts.SeverityMedium, SLATier: "STANDARD", Status: status, OpenedAt: t0}
}

func soStatus(id, status string) *contracts.ServiceOrderStatus {
	v := &contracts.ServiceOrderStatus{Metadata: md("erp-" + id), ServiceOrderID: id, CaseID: id, Status: status, ERPServiceOrderID: ref("SO1"), Parts: []contracts.PartUsed{}}
	if status == contracts.ServiceOrderStateCompleted {
		v.Parts = []contracts.PartUsed{{SKU: "KIT", Quantity: 1, UnitCost: contracts.Money{AmountMinor: 10000, Currency: "USD"}}}
		v.LabourMinutes, v.LabourCost, v.Resolution = 60, &contracts.Money{AmountMinor: 5000, Currency: "USD"}, ref("fixed")
	}
	return v
}

func decision(exc, action string) *contracts.Decision {
	return &contracts.Decision{Metadata: event.Metadata(event.ID("d", exc, action), "ops-1", "", contracts.SourceSystemOperator, t0),
		DecisionID: "D-" + action, ExceptionID: exc, OwnerService: fieldservice.Name, Action: action, Actor: "ops@example.com",
		Parameters: map[string]string{}, ApprovedBy: []string{}}
}

func decode[T any, P interface {
	*T
	contracts.Value
}](t *testing.T, k *processortest.Kit, outs []processortest.Output) []T {
	t.Helper()
	var vs []T
	for _, o := range outs {
		v := P(new(T))
		k.Decode(o, v)
		vs = append(vs, *v)
	}
	return vs
}

func events(us []contracts.CaseUpdate) []string {
	var s []string
	for _, u := range us {
		s = append(s, u.Event)
	}
	return s
}

func state(t *testing.T, k *processortest.Kit, id string) casework.Case {
	t.Helper()
	b, ok := k.State("cases", id)
	if !ok {
		t.Fatalf("no state for case %s", id)
	}
	var c casework.Case
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func dlqReason(t *testing.T, res processortest.Result) string {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("aborted: %v", res.Err)
	}
	dl := res.DeadLetters(fieldservice.Name)
	if len(dl) != 1 || len(res.Outputs) != 1 || len(res.Writes) != 0 {
		t.Fatalf("want one dead letter and nothing else, got %d outputs (%d dead letters), %d writes", len(res.Outputs), len(dl), len(res.Writes))
	}
	return dl[0].Header(catalog.DLQHeaderErrorReason)
}

// A billable case: the service order, CRM's updates, the settlement's
// journals; ERP rejecting one journal raises JOURNAL_REJECTED, and the
// decision to repost sends it again and resolves the exception.
func TestCaseToSettlementWithoutBroker(t *testing.T) {
	b := &base{verdicts: map[string]casework.Verdict{"SN-1": {Coverage: contracts.CoverageBillable, Reason: "NO_COVERAGE", Message: "billable"}}}
	k := kit(t, b)

	res := k.SendValue(contracts.TopicCRMCaseV1, "CASE-1", crmCase("CASE-1", "SN-1", "OPEN"), processortest.Correlation("corr-CASE-1"))
	orders := decode[contracts.ServiceOrderCommand](t, k, res.On(contracts.TopicERPServiceOrderCommandsV1))
	ups := decode[contracts.CaseUpdate](t, k, res.On(contracts.TopicCRMCaseUpdatesV1))
	if len(orders) != 1 || orders[0].Action != contracts.ServiceOrderActionCreate || orders[0].ServiceOrderID != "CASE-1" || orders[0].Coverage != contracts.CoverageBillable {
		t.Fatalf("orders = %+v", orders)
	}
	if got := events(ups); len(got) != 2 || got[0] != contracts.CaseEventEntitlement || got[1] != contracts.CaseEventWorkOrder {
		t.Fatalf("updates = %v", got)
	}
	// Metadata: the input's n-th output, in the case's correlation, at the
	// input's time; the correlation header repeats it.
	cause := event.PositionID(contracts.TopicCRMCaseV1, 0, 0)
	if m := orders[0].Metadata; m.EventID != event.ID(cause, "out", "1") || m.CorrelationID != "corr-CASE-1" || m.CausationID == nil || *m.CausationID != cause ||
		m.SourceSystem != contracts.SourceSystemFieldService || !m.OccurredAt.Equal(t0) {
		t.Errorf("order metadata = %+v", m)
	}
	if ups[1].Metadata.EventID != event.ID(cause, "out", "3") {
		t.Errorf("update metadata = %+v", ups[1].Metadata)
	}
	if h := res.On(contracts.TopicCRMCaseUpdatesV1)[0].Header(tracing.HeaderCorrelationID); h != "corr-CASE-1" {
		t.Errorf("correlation header = %q", h)
	}
	if c := state(t, k, "CASE-1"); c.Stage != casework.Ordered || c.Coverage() != contracts.CoverageBillable {
		t.Fatalf("state = %+v", c)
	}

	res = k.SendValue(contracts.TopicERPServiceOrderStatusV1, "CASE-1", soStatus("CASE-1", contracts.ServiceOrderStateCreated))
	if got := events(decode[contracts.CaseUpdate](t, k, res.On(contracts.TopicCRMCaseUpdatesV1))); len(got) != 1 || got[0] != contracts.CaseEventWorkOrder {
		t.Fatalf("CREATED: updates %v", got)
	}
	res = k.SendValue(contracts.TopicERPServiceOrderStatusV1, "CASE-1", soStatus("CASE-1", contracts.ServiceOrderStateCompleted))
	journals := decode[contracts.JournalCommand](t, k, res.On(contracts.TopicERPJournalCommandsV1))
	if len(journals) != 2 || journals[0].Kind != "SERVICE_COST" || journals[1].Kind != "SERVICE_CHARGE" {
		t.Fatalf("journals = %+v", journals)
	}
	if got := events(decode[contracts.CaseUpdate](t, k, res.On(contracts.TopicCRMCaseUpdatesV1))); len(got) != 2 || got[1] != contracts.CaseEventSettled {
		t.Fatalf("COMPLETED: updates %v", got)
	}

	// ERP's answers come keyed by journal command id; the service's own
	// are forwarded to its case, billing-bridge's left alone.
	if res := k.SendValue(contracts.TopicERPJournalV1, "JE/C-9/1", &contracts.Journal{Metadata: md("je"), JournalCommandID: "JE/C-9/1",
		Status: contracts.JournalStatusPosted, Lines: []contracts.JournalLine{}}); len(res.Outputs) != 0 || res.Err != nil {
		t.Fatalf("billing-bridge's journal: %+v %v", res.Outputs, res.Err)
	}
	charge := journals[1].JournalCommandID
	res = k.SendValue(contracts.TopicERPJournalV1, charge, &contracts.Journal{Metadata: md("je"), JournalCommandID: charge, Status: contracts.JournalStatusRejected,
		RejectionCode: ref("ACCOUNT_BLOCKED"), ERPMessage: ref("receivables blocked"), Lines: []contracts.JournalLine{}})
	if fw := res.On(fieldservice.InternalTopic); len(fw) != 1 || fw[0].Key != "CASE-1" {
		t.Fatalf("forwarded = %+v", res.Outputs)
	}
	xs := decode[contracts.OperationalException](t, k, res.On(contracts.TopicOpsExceptionsV1))
	if len(xs) != 1 {
		t.Fatalf("exceptions = %+v", res.Outputs)
	}
	x := xs[0]
	if x.ExceptionID != "fsv:1:JOURNAL_REJECTED:CASE-1" || x.Category != contracts.ExceptionCategoryJournalRejected || x.Queue != contracts.ExceptionQueueFinanceOps ||
		x.Severity != contracts.SeverityHigh || x.Status != contracts.ExceptionStatusOpen || x.OwnerService != fieldservice.Name || x.EntityIds["case_id"] != "CASE-1" ||
		x.Context["rejection_code"] != "ACCOUNT_BLOCKED" || x.SuggestedAction == nil || len(x.AllowedActions) != 2 || x.Metadata.CorrelationID != "corr-CASE-1" {
		t.Fatalf("exception = %+v", x)
	}

	// Another service's decision is not ours; ours is forwarded and
	// applied once.
	other := decision("csx:1:X:Y", contracts.DecisionActionResolve)
	other.OwnerService = "customer-sync"
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, other.ExceptionID, other); len(res.Outputs) != 0 {
		t.Fatalf("another owner's decision: %+v", res.Outputs)
	}
	res = k.SendValue(contracts.TopicOpsDecisionsV1, x.ExceptionID, decision(x.ExceptionID, contracts.DecisionActionRepost))
	again := decode[contracts.JournalCommand](t, k, res.On(contracts.TopicERPJournalCommandsV1))
	upd := decode[contracts.OperationalException](t, k, res.On(contracts.TopicOpsExceptionsV1))
	if len(again) != 1 || again[0].JournalCommandID != charge+"/r1" {
		t.Fatalf("reposted = %+v", again)
	}
	if len(upd) != 1 || upd[0].ExceptionID != x.ExceptionID || upd[0].Status != contracts.ExceptionStatusResolved || upd[0].DecisionID == nil ||
		*upd[0].DecisionID != "D-REPOST" || len(upd[0].AllowedActions) != 0 || upd[0].Queue != contracts.ExceptionQueueFinanceOps {
		t.Fatalf("exception update = %+v", upd)
	}
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, x.ExceptionID, decision(x.ExceptionID, contracts.DecisionActionRepost)); len(res.On(contracts.TopicERPJournalCommandsV1)) != 0 {
		t.Fatalf("a decision applied twice: %+v", res.Outputs)
	}
}

// Not entitled: NOT_ENTITLED in sales-ops (the service's own queue for it,
// not the shared table's), and OVERRIDE opens the order as billable.
func TestNotEntitledOverride(t *testing.T) {
	b := &base{verdicts: map[string]casework.Verdict{"SN-2": {Coverage: contracts.CoverageNotEntitled, Reason: "ASSET_NOT_OWNED", Message: "another customer's"}}}
	k := kit(t, b)
	res := k.SendValue(contracts.TopicCRMCaseV1, "CASE-2", crmCase("CASE-2", "SN-2", "OPEN"))
	xs := decode[contracts.OperationalException](t, k, res.On(contracts.TopicOpsExceptionsV1))
	if len(xs) != 1 || xs[0].Queue != contracts.ExceptionQueueSalesOps || xs[0].Category != contracts.ExceptionCategoryNotEntitled || xs[0].Severity != contracts.SeverityMedium ||
		len(res.On(contracts.TopicERPServiceOrderCommandsV1)) != 0 {
		t.Fatalf("exceptions %+v, outputs %+v", xs, res.Outputs)
	}
	res = k.SendValue(contracts.TopicOpsDecisionsV1, xs[0].ExceptionID, decision(xs[0].ExceptionID, contracts.DecisionActionOverride))
	orders := decode[contracts.ServiceOrderCommand](t, k, res.On(contracts.TopicERPServiceOrderCommandsV1))
	if len(orders) != 1 || orders[0].Coverage != contracts.CoverageBillable {
		t.Fatalf("orders = %+v", orders)
	}
}

// An asset the gateway does not know is checked again at its deadline (a
// timer); after the last check the case is raised as not entitled.
func TestUnknownAssetRecheckedOnTick(t *testing.T) {
	b := &base{}
	k := kit(t, b)
	res := k.SendValue(contracts.TopicCRMCaseV1, "CASE-3", crmCase("CASE-3", "SN-UNKNOWN", "OPEN"))
	if len(res.Outputs) != 0 || b.checks != 1 {
		t.Fatalf("first check: %d checks, outputs %+v", b.checks, res.Outputs)
	}
	c := state(t, k, "CASE-3")
	if c.Stage != casework.Checking || !c.Deadline.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("state = %+v", c)
	}
	if res := k.Tick(t0.Add(29 * time.Second)); len(res.Outputs) != 0 || b.checks != 1 {
		t.Fatalf("tick before the deadline: %d checks, %+v", b.checks, res.Outputs)
	}
	at := t0.Add(30 * time.Second)
	res = k.Tick(at)
	xs := decode[contracts.OperationalException](t, k, res.On(contracts.TopicOpsExceptionsV1))
	if b.checks != 2 || len(xs) != 1 || xs[0].Context["reason"] != "ASSET_UNKNOWN" || xs[0].Queue != contracts.ExceptionQueueSalesOps {
		t.Fatalf("tick at the deadline: %d checks, exceptions %+v", b.checks, xs)
	}
	if m := xs[0].Metadata; !m.OccurredAt.Equal(at) || m.CorrelationID != "corr-CASE-3" || m.CausationID == nil {
		t.Errorf("metadata of a tick's output = %+v", m)
	}
	if res := k.Tick(at.Add(time.Hour)); len(res.Outputs) != 0 || b.checks != 2 {
		t.Fatalf("the timer fired twice: %d checks", b.checks)
	}
}

// A gateway that is down: the record is retried (its transaction would be
// aborted), nothing is emitted, written or dead-lettered.
func TestGatewayDownIsRetried(t *testing.T) {
	b := &base{down: errs.Retriable("gateway_unavailable", errors.New("connection refused"))}
	k := kit(t, b)
	res := k.SendValue(contracts.TopicCRMCaseV1, "CASE-4", crmCase("CASE-4", "SN-1", "OPEN"))
	if res.Err == nil || errs.ClassOf(res.Err) != errs.ClassRetriable || len(res.Outputs) != 0 || len(res.Writes) != 0 {
		t.Fatalf("err %v, outputs %+v", res.Err, res.Outputs)
	}
	if _, ok := k.State("cases", "CASE-4"); ok {
		t.Fatal("state written")
	}
}

// A return: the installed base decides the units, ERP's CREATED authorises
// the return.
func TestReturnWithoutBroker(t *testing.T) {
	b := &base{assets: map[string]returns.Asset{"P-1": {Serial: "P-1", SKU: "PUMP", ERPCustomerID: "E-1", Status: "INSTALLED", Installed: t0.Add(-10 * 24 * time.Hour)}}}
	k := kit(t, b)
	rma := crmCase("RMA-1", "", "OPEN")
	rma.ServiceType = contracts.ServiceTypeInspection
	rma.ReturnRequest = &contracts.ReturnRequest{Currency: "EUR", Lines: []contracts.ReturnRequestLine{
		{SKU: "PUMP", Quantity: 1, Serials: []string{"P-1"}, UnitPrice: contracts.Money{AmountMinor: 10000, Currency: "EUR"}, Reason: contracts.ReturnReasonDefective}}}
	res := k.SendValue(contracts.TopicCRMCaseV1, "RMA-1", rma)
	cmds := decode[contracts.ReturnCommand](t, k, res.On(contracts.TopicERPReturnCommandsV1))
	if len(cmds) != 1 || cmds[0].Action != contracts.ReturnActionCreate || cmds[0].ReturnID != "RMA-1" {
		t.Fatalf("return commands = %+v (outputs %+v)", cmds, res.Outputs)
	}
	res = k.SendValue(contracts.TopicERPReturnStatusV1, "RMA-1", &contracts.ReturnStatus{Metadata: md("erp-rma"), ReturnID: "RMA-1", Status: contracts.ReturnStateCreated,
		RmaNumber: ref("RMA77"), Lines: []contracts.ReturnLineStatus{}})
	if got := events(decode[contracts.CaseUpdate](t, k, res.On(contracts.TopicCRMCaseUpdatesV1))); len(got) != 1 || got[0] != contracts.CaseEventReturnAuthorized {
		t.Fatalf("CREATED: updates %v", got)
	}
	if c := state(t, k, "RMA-1"); !c.IsReturn() || c.Return.RMA != "RMA77" {
		t.Fatalf("state = %+v", c.Return)
	}
}

// Bad input on every input topic goes to dlq.field-service.v1 with its
// reason, and nothing else happens.
func TestBadInputIsDeadLettered(t *testing.T) {
	k := kit(t, &base{verdicts: map[string]casework.Verdict{"SN-1": {Coverage: contracts.CoverageBillable}}})
	badBytes := []byte("not avro")
	unknownID := []byte{0, 0, 0, 0x30, 0x39, 2, 'a'}
	for _, topic := range fieldservice.Inputs {
		if got := dlqReason(t, k.Send(topic, "K", badBytes)); got != "bad-magic" {
			t.Errorf("%s, bad bytes: reason %q", topic, got)
		}
		if got := dlqReason(t, k.Send(topic, "K", unknownID)); got != "unknown-schema-id" {
			t.Errorf("%s, unknown schema id: reason %q", topic, got)
		}
	}
	noSerial := crmCase("CASE-5", "", "OPEN")
	wrongKey := crmCase("CASE-6", "SN-1", "OPEN")
	foreign := decision("bbx:1:X:Y", contracts.DecisionActionResolve)
	noActor := decision("fsv:1:NOT_ENTITLED:CASE-1", contracts.DecisionActionResolve)
	noActor.Actor = ""
	for _, c := range []struct {
		name, topic, key string
		v                contracts.Value
		reason           string
	}{
		{"case without serial", contracts.TopicCRMCaseV1, "CASE-5", noSerial, "invalid_case"},
		{"case under another key", contracts.TopicCRMCaseV1, "CASE-X", wrongKey, "key_mismatch"},
		{"status of an order never opened", contracts.TopicERPServiceOrderStatusV1, "CASE-7", soStatus("CASE-7", contracts.ServiceOrderStateCreated), "unknown_service_order"},
		{"status under another key", contracts.TopicERPServiceOrderStatusV1, "CASE-X", soStatus("CASE-7", contracts.ServiceOrderStateCreated), "key_mismatch"},
		{"return status of a return never opened", contracts.TopicERPReturnStatusV1, "RMA-9", &contracts.ReturnStatus{Metadata: md("r"), ReturnID: "RMA-9",
			Status: contracts.ReturnStateCreated, Lines: []contracts.ReturnLineStatus{}}, "unknown_return"},
		{"decision on another service's exception id", contracts.TopicOpsDecisionsV1, foreign.ExceptionID, foreign, "unknown_exception"},
		{"decision without actor", contracts.TopicOpsDecisionsV1, noActor.ExceptionID, noActor, "invalid_decision"},
	} {
		if got := dlqReason(t, k.SendValue(c.topic, c.key, c.v)); got != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got, c.reason)
		}
	}
	// The internal topic carries records the service forwarded, with
	// their kind; one without is refused before its bytes are read.
	for _, v := range [][]byte{badBytes, k.Encode(contracts.TopicOpsDecisionsV1, decision("fsv:1:X:CASE-1", "RESOLVE"))} {
		if got := dlqReason(t, k.Send(fieldservice.InternalTopic, "CASE-1", v)); got != "bad_internal_message" {
			t.Errorf("internal record without kind: reason %q", got)
		}
	}
}
