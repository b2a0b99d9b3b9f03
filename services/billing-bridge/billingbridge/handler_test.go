package billingbridge_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/billing-bridge/billingbridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/adapter"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// The handler's tests run billing-bridge's processor without a broker
// (pkg/processor/processortest): every input topic with good and bad
// records, and the ticks.

const sla = time.Minute

func newKit(t *testing.T) *processortest.Kit {
	t.Helper()
	return processortest.New(t, billingbridge.ProcessorConfig("unit", &billingbridge.Handler{Bridge: bridge.New(), SLA: sla}))
}

// badInputs are the records every input topic dead-letters before
// decoding anything: bytes that are no Avro wire format and a schema id
// nobody registered.
var badInputs = []struct {
	name, reason string
	value        []byte
}{
	{"bad bytes", "bad-magic", []byte("not avro at all")},
	{"unknown schema id", "unknown-schema-id", []byte{0, 0, 0, 0x30, 0x39, 2, 'a'}},
}

// wantDeadLetter checks that res is exactly one dead letter of topic with
// reason, and nothing else.
func wantDeadLetter(t *testing.T, res processortest.Result, topic, reason string) {
	t.Helper()
	dl := res.DeadLetters(billingbridge.Name)
	if res.Err != nil || len(dl) != 1 || len(res.Outputs) != 1 {
		t.Fatalf("want one dead letter, got %d outputs (%d dead letters), err %v", len(res.Outputs), len(dl), res.Err)
	}
	if got := dl[0].Header(catalog.DLQHeaderErrorReason); got != reason {
		t.Errorf("dead letter reason %q, want %q", got, reason)
	}
	if got := dl[0].Header(catalog.DLQHeaderErrorClass); got != string(errs.ClassPoison) {
		t.Errorf("dead letter class %q, want poison", got)
	}
	if got := dl[0].Header(catalog.DLQHeaderTopic); got != topic {
		t.Errorf("dead letter topic %q, want %q", got, topic)
	}
}

type outputs struct {
	cmds     []*contracts.BillingCommand
	revenue  []*contracts.RevenueSchedule
	journals []*contracts.JournalCommand
	xs       []*contracts.OperationalException
}

// decode decodes every output of res (keys checked against the values).
func decode(t *testing.T, k *processortest.Kit, res processortest.Result) outputs {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("handling failed: %v", res.Err)
	}
	return outputs{
		cmds:     on[contracts.BillingCommand](t, k, res, contracts.TopicBillingCommandsV1, func(v *contracts.BillingCommand) string { return v.ContractID }),
		revenue:  on[contracts.RevenueSchedule](t, k, res, contracts.TopicBillingRevenueScheduleV1, func(v *contracts.RevenueSchedule) string { return v.ContractID }),
		journals: on[contracts.JournalCommand](t, k, res, contracts.TopicERPJournalCommandsV1, func(v *contracts.JournalCommand) string { return v.ContractID }),
		xs:       on[contracts.OperationalException](t, k, res, contracts.TopicOpsExceptionsV1, func(v *contracts.OperationalException) string { return v.ExceptionID }),
	}
}

// on decodes the outputs to topic and checks each is keyed by key(value).
func on[T any, P interface {
	*T
	serde.Record
}](t *testing.T, k *processortest.Kit, res processortest.Result, topic string, key func(P) string) []P {
	t.Helper()
	var out []P
	for _, r := range res.On(topic) {
		v := P(new(T))
		k.Decode(r, v)
		if want := key(v); r.Key != want {
			t.Errorf("%s record keyed %q, want %q", topic, r.Key, want)
		}
		out = append(out, v)
	}
	return out
}

func state(t *testing.T, k *processortest.Kit, id string) *bridge.State {
	t.Helper()
	b, ok := k.State(billingbridge.Store, id)
	if !ok {
		t.Fatalf("no state for %s", id)
	}
	s, err := bridge.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func recognitions(js []*contracts.JournalCommand) []string {
	var out []string
	for _, j := range js {
		if j.Kind == contracts.JournalKindRecognition {
			out = append(out, j.JournalCommandID)
		}
	}
	return out
}

var jan5 = time.Date(2025, 1, 5, 9, 0, 0, 0, time.UTC)

func TestDeals(t *testing.T) {
	k := newKit(t)

	t.Run("a NEW provisions, schedules and sends the journals of open periods", func(t *testing.T) {
		d := newDeal("C-1", "2025-01-01", 10, 1000, jan5)
		res := k.SendValue(contracts.TopicCRMDealV1, "C-1", d)
		o := decode(t, k, res)
		if len(o.cmds) != 1 || len(o.revenue) != 12 || len(o.journals) != 13 || len(o.xs) != 0 || len(res.DeadLetters(billingbridge.Name)) != 0 {
			t.Fatalf("%d commands, %d revenue months, %d journals, %d exceptions", len(o.cmds), len(o.revenue), len(o.journals), len(o.xs))
		}
		c := o.cmds[0]
		if c.Action != contracts.BillingActionProvision || c.AmendmentSequence != 0 || scheduleTotal(c) != 120000 || len(c.InvoiceSchedule) != 12 {
			t.Errorf("command %+v", c)
		}
		// The first output's id derives from the input's position, index 0.
		md := c.Metadata
		wantID := event.ID(event.PositionID(contracts.TopicCRMDealV1, 0, 0), "0")
		if md.EventID != wantID || md.CorrelationID != d.Metadata.CorrelationID || md.CausationID == nil || *md.CausationID != d.Metadata.EventID ||
			!md.OccurredAt.Equal(jan5) || md.SourceSystem != contracts.SourceSystemBillingBridge {
			t.Errorf("metadata %+v, want id %s in the deal's flow %+v", md, wantID, d.Metadata)
		}
		if got := recognitions(o.journals); len(got) != 1 || got[0] != "JE/C-1/1/2025-01/RECOGNITION" {
			t.Errorf("recognitions sent at signing: %v", got)
		}
		for _, j := range o.journals {
			if dr, cr := journalAmount(j); dr != cr || dr <= 0 {
				t.Errorf("journal %s: %d/%d", j.JournalCommandID, dr, cr)
			}
		}
		if s := state(t, k, "C-1"); s.LastSeq() != 1 || len(s.Docs) != 12 {
			t.Errorf("state: last seq %d, %d documents", s.LastSeq(), len(s.Docs))
		}
	})

	t.Run("the same deal again is a duplicate", func(t *testing.T) {
		res := k.SendValue(contracts.TopicCRMDealV1, "C-1", newDeal("C-1", "2025-01-01", 10, 1000, jan5))
		if res.Err != nil || len(res.Outputs) != 0 {
			t.Errorf("duplicate: %d outputs, err %v", len(res.Outputs), res.Err)
		}
	})

	t.Run("an AMEND upsells mid-term", func(t *testing.T) {
		o := decode(t, k, k.SendValue(contracts.TopicCRMDealV1, "C-1", amendDeal("C-1", 1, contract.ChangeUpsell, "2025-03-16", 15, 1000, jan5.Add(time.Hour))))
		if len(o.cmds) != 1 || o.cmds[0].Action != contracts.BillingActionUpdate || o.cmds[0].InvoiceSchedule[0].Amount.AmountMinor != 2580 ||
			scheduleTotal(o.cmds[0]) != 2580+9*15000 {
			t.Errorf("update %+v", o.cmds)
		}
	})

	for _, b := range badInputs {
		t.Run(b.name, func(t *testing.T) {
			wantDeadLetter(t, k.Send(contracts.TopicCRMDealV1, "C-1", b.value), contracts.TopicCRMDealV1, b.reason)
		})
	}

	t.Run("invalid deals are dead-lettered with their reason", func(t *testing.T) {
		for _, c := range []struct {
			id, key, reason string
			mutate          func(*contracts.Deal)
		}{
			{"C-END", "C-END", "end_before_start", func(d *contracts.Deal) { d.EndDate = d.StartDate.AddDate(0, 0, -5) }},
			{"C-FREQ", "C-FREQ", "unknown_frequency", func(d *contracts.Deal) { d.BillingFrequency = contracts.BillingFrequencyUnknown }},
			{"C-PRICE", "C-PRICE", "negative_price", func(d *contracts.Deal) { d.Lines[0].UnitPrice.AmountMinor = -100 }},
			{"C-KEY", "C-OTHER", "key_mismatch", func(*contracts.Deal) {}},
			{"\x00C-NUL", "\x00C-NUL", "bad_contract_id", func(*contracts.Deal) {}},
		} {
			d := newDeal(c.id, "2025-01-01", 10, 1000, jan5)
			c.mutate(d)
			wantDeadLetter(t, k.SendValue(contracts.TopicCRMDealV1, c.key, d), contracts.TopicCRMDealV1, c.reason)
			if _, ok := k.State(billingbridge.Store, c.id); ok {
				t.Errorf("%s: state written for a dead-lettered deal", c.id)
			}
		}
	})

	t.Run("a refused amendment raises an INVALID_INPUT exception", func(t *testing.T) {
		chg := amendDeal("C-1", 2, contract.ChangeUpsell, "2025-06-01", 20, 1000, jan5.Add(2*time.Hour))
		chg.Currency, chg.Lines[0].UnitPrice.Currency = "USD", "USD"
		res := k.SendValue(contracts.TopicCRMDealV1, "C-1", chg)
		o := decode(t, k, res)
		if len(o.xs) != 1 || len(res.Outputs) != 1 {
			t.Fatalf("%d outputs, exceptions %+v", len(res.Outputs), o.xs)
		}
		x := o.xs[0]
		if x.ExceptionID != "bbx:C-1/deal/2/currency_changed" || x.Category != contracts.ExceptionCategoryInvalidInput ||
			x.Queue != contracts.ExceptionQueueFinanceOps || x.Severity != contracts.SeverityHigh || x.Status != contracts.ExceptionStatusOpen ||
			x.OwnerService != billingbridge.Name || x.Context["reason"] != "currency_changed" || x.Context["cause"] != "deal/2" ||
			x.EntityIds["contract_id"] != "C-1" || x.SuggestedAction == nil {
			t.Errorf("exception %+v", x)
		}
		if x.Metadata.CorrelationID != chg.Metadata.CorrelationID || *x.Metadata.CausationID != chg.Metadata.EventID {
			t.Errorf("exception metadata %+v", x.Metadata)
		}
		if s := state(t, k, "C-1"); s.LastSeq() != 2 {
			t.Errorf("the refused amendment changed the state: last seq %d", s.LastSeq())
		}
	})
}

func TestTicks(t *testing.T) {
	k := newKit(t)
	if o := decode(t, k, k.SendValue(contracts.TopicCRMDealV1, "C-T", newDeal("C-T", "2025-01-01", 10, 1000, jan5))); len(o.journals) != 13 {
		t.Fatalf("%d journals at signing", len(o.journals))
	}

	t.Run("scheduled journals go when their month opens", func(t *testing.T) {
		if res := k.Tick(time.Date(2025, 1, 31, 23, 59, 0, 0, time.UTC)); res.Err != nil || len(res.Outputs) != 0 {
			t.Fatalf("January tick: %d outputs, err %v", len(res.Outputs), res.Err)
		}
		feb := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
		o := decode(t, k, k.Tick(feb))
		if got := recognitions(o.journals); len(got) != 1 || got[0] != "JE/C-T/1/2025-02/RECOGNITION" {
			t.Fatalf("released %v", got)
		}
		j := o.journals[0]
		base := event.ID(billingbridge.Name, "release", "C-T", "2025-02-01")
		if j.Metadata.EventID != event.ID(base, "0") || j.Metadata.CorrelationID != event.ID(billingbridge.Name, "C-T") || !j.Metadata.OccurredAt.Equal(feb) {
			t.Errorf("release metadata %+v", j.Metadata)
		}
		if res := k.Tick(feb.Add(time.Hour)); len(res.Outputs) != 0 {
			t.Errorf("a second tick in February sent %d records", len(res.Outputs))
		}
		o = decode(t, k, k.Tick(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
		if got := recognitions(o.journals); len(got) != 10 {
			t.Errorf("the rest of the year: %v", got)
		}
	})

	t.Run("an amendment held past the SLA raises the gap exception once", func(t *testing.T) {
		at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
		late := amendDeal("C-T", 2, contract.ChangeUpsell, "2025-05-01", 20, 1000, at)
		if res := k.SendValue(contracts.TopicCRMDealV1, "C-T", late); res.Err != nil || len(res.Outputs) != 0 {
			t.Fatalf("held deal: %d outputs, err %v", len(res.Outputs), res.Err)
		}
		if res := k.Tick(at.Add(sla - time.Second)); len(res.Outputs) != 0 {
			t.Fatalf("raised before the SLA: %d outputs", len(res.Outputs))
		}
		now := at.Add(sla)
		o := decode(t, k, k.Tick(now))
		if len(o.xs) != 1 {
			t.Fatalf("%d exceptions", len(o.xs))
		}
		x := o.xs[0]
		if x.ExceptionID != "bbx:BC/C-T/3/amendment_gap" || x.Category != contracts.ExceptionCategoryAmendmentGap || x.Severity != contracts.SeverityMedium ||
			x.Context["amendment_sequence"] != "2" || x.Context["waiting_for_seq"] != "1" ||
			strings.Join(x.AllowedActions, ",") != "RESOLVE,DISMISS" {
			t.Errorf("gap exception %+v", x)
		}
		md := x.Metadata
		if md.EventID != event.ID(billingbridge.Name, "tick", x.ExceptionID) || md.CorrelationID != late.Metadata.CorrelationID ||
			md.CausationID == nil || *md.CausationID != late.Metadata.EventID || !md.OccurredAt.Equal(now) {
			t.Errorf("gap exception metadata %+v, held deal %+v", md, late.Metadata)
		}
		if res := k.Tick(now.Add(time.Hour)); len(res.Outputs) != 0 {
			t.Errorf("raised again: %d outputs", len(res.Outputs))
		}
		o = decode(t, k, k.SendValue(contracts.TopicCRMDealV1, "C-T", amendDeal("C-T", 1, contract.ChangeUpsell, "2025-04-01", 15, 1000, at.Add(time.Hour))))
		if len(o.cmds) != 2 || o.cmds[0].AmendmentSequence != 1 || o.cmds[1].AmendmentSequence != 2 {
			t.Errorf("released amendments %+v", o.cmds)
		}
		if _, ok := k.State(billingbridge.StoreHeld, "C-T"); ok {
			t.Error("held flows kept after the held deal applied")
		}
	})
}

// billingEvent is a billing.events.v1 record of type typ for C-B.
func billingEvent(name, typ string, at time.Time) *contracts.BillingEvent {
	return &contracts.BillingEvent{Metadata: meta(name, at), EventType: typ, ContractID: "C-B"}
}

func TestBillingEvents(t *testing.T) {
	k := newKit(t)
	decode(t, k, k.SendValue(contracts.TopicCRMDealV1, "C-B", newDeal("C-B", "2025-01-01", 10, 1000, jan5)))

	t.Run("PROVISIONED records the subscription", func(t *testing.T) {
		v := billingEvent("prov", contracts.BillingEventTypeSubscriptionProvisioned, jan5)
		sub := "SUB-1"
		v.SubscriptionID = &sub
		if res := k.SendValue(contracts.TopicBillingEventsV1, "C-B", v); res.Err != nil || len(res.Outputs) != 0 {
			t.Fatalf("%d outputs, err %v", len(res.Outputs), res.Err)
		}
		if s := state(t, k, "C-B"); s.Subscription.ID != "SUB-1" || !s.Subscription.Provisioned {
			t.Errorf("subscription %+v", s.Subscription)
		}
	})

	t.Run("an invoice issued with another amount raises invoice_mismatch", func(t *testing.T) {
		v := billingEvent("inv", contracts.BillingEventTypeInvoiceIssued, jan5)
		inv, from, to := "INV-1", day("2025-01-01").Time(), day("2025-01-31").Time()
		v.InvoiceID, v.PeriodStart, v.PeriodEnd, v.InvoiceAmount = &inv, &from, &to, &contracts.Money{AmountMinor: 9000, Currency: "EUR"}
		o := decode(t, k, k.SendValue(contracts.TopicBillingEventsV1, "C-B", v))
		if len(o.xs) != 1 || o.xs[0].Category != contracts.ExceptionCategoryOther || !strings.HasSuffix(o.xs[0].ExceptionID, "/invoice_mismatch") ||
			!strings.HasPrefix(o.xs[0].ExceptionID, "bbx:C-B/") || o.xs[0].Context["invoice_number"] != "INV-1" {
			t.Errorf("exceptions %+v", o.xs)
		}
	})

	t.Run("COMMAND_REJECTED raises BILLING_REJECTED", func(t *testing.T) {
		v := billingEvent("rej", contracts.BillingEventTypeCommandRejected, jan5)
		cmd, msg := "BC/C-B/1/PROVISION_SUBSCRIPTION", "plan retired"
		v.CommandID, v.Message = &cmd, &msg
		o := decode(t, k, k.SendValue(contracts.TopicBillingEventsV1, "C-B", v))
		if len(o.xs) != 1 {
			t.Fatalf("exceptions %+v", o.xs)
		}
		x := o.xs[0]
		if x.ExceptionID != "bbx:C-B/billing/"+v.Metadata.EventID+"/billing_rejected" || x.Category != contracts.ExceptionCategoryBillingRejected ||
			x.Context["command_id"] != cmd || x.Context["billing_message"] != msg || x.EntityIds["command_id"] != cmd {
			t.Errorf("exception %+v", x)
		}
	})

	for _, b := range badInputs {
		t.Run(b.name, func(t *testing.T) {
			wantDeadLetter(t, k.Send(contracts.TopicBillingEventsV1, "C-B", b.value), contracts.TopicBillingEventsV1, b.reason)
		})
	}

	t.Run("an UNKNOWN event is dead-lettered", func(t *testing.T) {
		v := billingEvent("unknown", contracts.BillingEventTypeUnknown, jan5)
		wantDeadLetter(t, k.SendValue(contracts.TopicBillingEventsV1, "C-B", v), contracts.TopicBillingEventsV1, "unknown_event")
	})

	t.Run("an acknowledgment keyed by another contract is dead-lettered", func(t *testing.T) {
		v := billingEvent("prov2", contracts.BillingEventTypeSubscriptionProvisioned, jan5)
		wantDeadLetter(t, k.SendValue(contracts.TopicBillingEventsV1, "C-OTHER", v), contracts.TopicBillingEventsV1, "key_mismatch")
	})
}

// answer is ERP's answer to journal id (a rejection: INVALID_ACCOUNT).
func answer(id, status string, at time.Time) *contracts.Journal {
	a := &contracts.Journal{Metadata: meta("erp/"+id+"/"+status, at), JournalCommandID: id, Status: status, Lines: []contracts.JournalLine{}}
	a.Metadata.SourceSystem = contracts.SourceSystemERP
	if status == contracts.JournalStatusRejected {
		code, msg := "INVALID_ACCOUNT", "GL account 2400 is blocked"
		a.RejectionCode, a.ERPMessage = &code, &msg
	}
	return a
}

// rejectedJournal signs C-J and has ERP reject its January invoice journal;
// it returns the kit and the exception raised.
func rejectedJournal(t *testing.T) (*processortest.Kit, *contracts.OperationalException) {
	t.Helper()
	k := newKit(t)
	decode(t, k, k.SendValue(contracts.TopicCRMDealV1, "C-J", newDeal("C-J", "2025-01-01", 10, 1000, jan5)))
	id := "JE/C-J/1/2025-01-01/INVOICE"
	a := answer(id, contracts.JournalStatusRejected, jan5.Add(time.Hour))
	res := k.SendValue(contracts.TopicERPJournalV1, id, a)
	if by := res.On(billingbridge.TopicByContract); len(by) != 1 || by[0].Key != "C-J" {
		t.Fatalf("re-keyed %+v", by)
	}
	o := decode(t, k, res)
	if len(o.xs) != 1 {
		t.Fatalf("exceptions %+v", o.xs)
	}
	x := o.xs[0]
	if x.ExceptionID != "bbx:"+id+"/journal_rejected" || x.Category != contracts.ExceptionCategoryJournalRejected ||
		x.Context["rejection_code"] != "INVALID_ACCOUNT" || x.Context["journal_id"] != id || x.Context["lines"] == "" ||
		strings.Join(x.AllowedActions, ",") != "REPOST,ROUTE_TO_FINANCE,RESOLVE,DISMISS" ||
		x.Metadata.CorrelationID != a.Metadata.CorrelationID || *x.Metadata.CausationID != a.Metadata.EventID {
		t.Fatalf("exception %+v", x)
	}
	return k, x
}

func TestJournalAnswers(t *testing.T) {
	k, _ := rejectedJournal(t)

	t.Run("POSTED is recorded on the contract", func(t *testing.T) {
		id := "JE/C-J/1/2025-02-01/INVOICE"
		res := k.SendValue(contracts.TopicERPJournalV1, id, answer(id, contracts.JournalStatusPosted, jan5))
		if res.Err != nil || len(res.On(billingbridge.TopicByContract)) != 1 || len(res.Outputs) != 1 {
			t.Fatalf("%d outputs, err %v", len(res.Outputs), res.Err)
		}
		if st := state(t, k, "C-J").Journals[id]; st.Status != bridge.JournalPosted {
			t.Errorf("journal %s is %s", id, st.Status)
		}
	})

	t.Run("another producer's journal is not ours", func(t *testing.T) {
		res := k.SendValue(contracts.TopicERPJournalV1, "FS-1", answer("FSJ/SO-1/1", contracts.JournalStatusPosted, jan5))
		if res.Err != nil || len(res.Outputs) != 0 {
			t.Errorf("%d outputs, err %v", len(res.Outputs), res.Err)
		}
	})

	t.Run("an answer that names no contract is dead-lettered", func(t *testing.T) {
		wantDeadLetter(t, k.SendValue(contracts.TopicERPJournalV1, "JE/", answer("JE/", contracts.JournalStatusPosted, jan5)),
			contracts.TopicERPJournalV1, "missing_contract_id")
	})

	for _, b := range badInputs {
		t.Run(b.name, func(t *testing.T) {
			wantDeadLetter(t, k.Send(contracts.TopicERPJournalV1, "JE/C-J/1/x", b.value), contracts.TopicERPJournalV1, b.reason)
		})
		t.Run(b.name+" on the internal topic", func(t *testing.T) {
			wantDeadLetter(t, k.Send(billingbridge.TopicByContract, "C-J", b.value), billingbridge.TopicByContract, b.reason)
		})
	}
}

func decision(exceptionID, id, action, actor string) *contracts.Decision {
	return &contracts.Decision{Metadata: meta("decision/"+id, jan5.Add(2*time.Hour)), DecisionID: id, ExceptionID: exceptionID,
		OwnerService: billingbridge.Name, Action: action, Actor: actor, Parameters: map[string]string{}, ApprovedBy: []string{}}
}

func TestDecisions(t *testing.T) {
	k, x := rejectedJournal(t)

	t.Run("REPOST reposts the journal and the exception is RETRYING", func(t *testing.T) {
		res := k.SendValue(contracts.TopicOpsDecisionsV1, x.ExceptionID, decision(x.ExceptionID, "d-1", contracts.DecisionActionRepost, "ann"))
		if by := res.On(billingbridge.TopicDecisions); len(by) != 1 || by[0].Key != "C-J" {
			t.Fatalf("re-keyed %+v", by)
		}
		o := decode(t, k, res)
		if len(o.xs) != 1 || o.xs[0].ExceptionID != x.ExceptionID || o.xs[0].Status != contracts.ExceptionStatusRetrying ||
			o.xs[0].DecisionID == nil || *o.xs[0].DecisionID != "d-1" {
			t.Errorf("update %+v", o.xs)
		}
		if len(o.journals) != 1 || o.journals[0].JournalCommandID != "JE/C-J/1/2025-01-01/INVOICE/R1" {
			t.Errorf("repost %+v", o.journals)
		}
	})

	t.Run("the same decision again changes nothing", func(t *testing.T) {
		res := k.SendValue(contracts.TopicOpsDecisionsV1, x.ExceptionID, decision(x.ExceptionID, "d-1", contracts.DecisionActionRepost, "ann"))
		if res.Err != nil || len(res.Outputs) != 1 || len(res.On(billingbridge.TopicDecisions)) != 1 {
			t.Errorf("%d outputs, err %v", len(res.Outputs), res.Err)
		}
	})

	t.Run("ERP posting the repost resolves it; the update allows and suggests nothing", func(t *testing.T) {
		id := "JE/C-J/1/2025-01-01/INVOICE/R1"
		o := decode(t, k, k.SendValue(contracts.TopicERPJournalV1, id, answer(id, contracts.JournalStatusPosted, jan5.Add(3*time.Hour))))
		if len(o.xs) != 1 || o.xs[0].Status != contracts.ExceptionStatusResolved || len(o.xs[0].AllowedActions) != 0 || o.xs[0].SuggestedAction != nil {
			t.Errorf("update %+v", o.xs)
		}
	})

	t.Run("another service's decision is not routed", func(t *testing.T) {
		d := decision("qto:1:1:Q-1", "d-2", contracts.DecisionActionResolve, "ann")
		d.OwnerService = "quote-to-order"
		if res := k.SendValue(contracts.TopicOpsDecisionsV1, "qto:1:1:Q-1", d); res.Err != nil || len(res.Outputs) != 0 {
			t.Errorf("%d outputs, err %v", len(res.Outputs), res.Err)
		}
	})

	t.Run("invalid decisions are dead-lettered", func(t *testing.T) {
		for _, c := range []struct {
			name, id, actor, reason string
		}{
			{"an id that names no contract", "bbx:C-J", "ann", "unknown_exception"},
			{"an id of the releases before pkg/ops that names no contract", "EX/C-J", "ann", "unknown_exception"},
			{"no actor", x.ExceptionID, "", "invalid_decision"},
		} {
			res := k.SendValue(contracts.TopicOpsDecisionsV1, c.id, decision(c.id, "d-"+c.name, contracts.DecisionActionResolve, c.actor))
			wantDeadLetter(t, res, contracts.TopicOpsDecisionsV1, c.reason)
		}
	})

	for _, b := range badInputs {
		t.Run(b.name, func(t *testing.T) {
			wantDeadLetter(t, k.Send(contracts.TopicOpsDecisionsV1, x.ExceptionID, b.value), contracts.TopicOpsDecisionsV1, b.reason)
		})
		t.Run(b.name+" on the internal topic", func(t *testing.T) {
			wantDeadLetter(t, k.Send(billingbridge.TopicDecisions, "C-J", b.value), billingbridge.TopicDecisions, b.reason)
		})
	}
}

// An input the domain refuses with a business error is answered by one
// INVALID_INPUT exception, raised by ops.Raise from what the handler hands
// it (ops.FailAt): the id and event id of the releases before (derived
// from the input), the input's flow, and the input's place in the log.
// Nothing else of the record is kept; what it re-keyed before is.
func TestRefusedInputs(t *testing.T) {
	k := newKit(t)
	decode(t, k, k.SendValue(contracts.TopicCRMDealV1, "C-R", newDeal("C-R", "2025-01-01", 10, 1000, jan5)))
	inv := billingEvent("inv-unknown", contracts.BillingEventTypeInvoiceIssued, jan5)
	inv.ContractID = "C-R"
	invID, from := "INV-9", day("2030-01-01").Time()
	inv.InvoiceID, inv.PeriodStart, inv.InvoiceAmount = &invID, &from, &contracts.Money{AmountMinor: 1, Currency: "EUR"}
	refusedDeal := amendDeal("C-R", 1, contract.ChangeUpsell, "2025-06-01", 20, 1000, jan5.Add(time.Hour))
	refusedDeal.Currency, refusedDeal.Lines[0].UnitPrice.Currency = "USD", "USD"
	unknownJournal := "JE/C-R/1/2031-01-01/INVOICE"
	answerOfUnknown := answer(unknownJournal, contracts.JournalStatusPosted, jan5)
	for _, c := range []struct {
		name, topic, key, id, reason, cause string
		v                                   serde.Record
		md                                  contracts.EventMetadata
		inputAt                             int64  // offset of the input on its topic (one partition)
		rekeyedTo                           string // the internal topic the refused record came from
	}{
		{name: "a deal", topic: contracts.TopicCRMDealV1, key: "C-R", v: refusedDeal, md: refusedDeal.Metadata, inputAt: 1,
			id: "bbx:C-R/deal/1/currency_changed", reason: "currency_changed", cause: "deal/1"},
		{name: "an acknowledgment", topic: contracts.TopicBillingEventsV1, key: "C-R", v: inv, md: inv.Metadata, inputAt: 0,
			id: "bbx:C-R/billing/" + inv.Metadata.EventID + "/unknown_document", reason: "unknown_document", cause: "billing/" + inv.Metadata.EventID},
		{name: "an ERP answer", topic: contracts.TopicERPJournalV1, key: unknownJournal, v: answerOfUnknown, md: answerOfUnknown.Metadata, inputAt: 0,
			rekeyedTo: billingbridge.TopicByContract,
			id:        "bbx:C-R/journal/" + answerOfUnknown.Metadata.EventID + "/unknown_journal", reason: "unknown_journal", cause: "journal/" + answerOfUnknown.Metadata.EventID},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := k.State(billingbridge.Store, "C-R")
			res := k.SendValue(c.topic, c.key, c.v)
			o := decode(t, k, res)
			rekeyed := len(res.On(c.rekeyedTo))
			if c.rekeyedTo == "" {
				rekeyed = 0
			}
			if len(o.xs) != 1 || len(res.Outputs) != 1+rekeyed || len(res.Writes) != 0 {
				t.Fatalf("%d outputs, %d writes, exceptions %+v", len(res.Outputs), len(res.Writes), o.xs)
			}
			x := o.xs[0]
			if x.ExceptionID != c.id || x.Category != contracts.ExceptionCategoryInvalidInput || x.Queue != contracts.ExceptionQueueFinanceOps ||
				x.Severity != contracts.SeverityHigh || x.Status != contracts.ExceptionStatusOpen || x.OwnerService != billingbridge.Name ||
				x.EntityIds["contract_id"] != "C-R" || x.SuggestedAction == nil || strings.Join(x.AllowedActions, ",") != "RESOLVE,DISMISS" {
				t.Errorf("exception %+v", x)
			}
			topic, offset := c.topic, c.inputAt
			if c.rekeyedTo != "" {
				topic = c.rekeyedTo // the record the domain refused
			}
			for key, want := range map[string]string{"reason": c.reason, "cause": c.cause, "category": "rejected_input", "class": "business",
				"topic": topic, "partition": "0", "offset": strconv.FormatInt(offset, 10), "key": "C-R"} {
				if got := x.Context[key]; got != want {
					t.Errorf("context[%s] = %q, want %q", key, got, want)
				}
			}
			if x.Context["error"] == "" || x.Summary == "" {
				t.Errorf("no error text: %+v", x)
			}
			md := x.Metadata
			wantEventID := event.ID(event.PositionID(topic, 0, offset), "0")
			if c.rekeyedTo != "" {
				wantEventID = event.ID(res.On(c.rekeyedTo)[0].Header(processor.HeaderEventID), "0")
			}
			if md.EventID != wantEventID || md.CorrelationID != c.md.CorrelationID || md.CausationID == nil || *md.CausationID != c.md.EventID ||
				!md.OccurredAt.Equal(c.md.OccurredAt) || md.SourceSystem != contracts.SourceSystemBillingBridge {
				t.Errorf("metadata %+v, want event id %s in the input's flow %+v", md, wantEventID, c.md)
			}
			if after, _ := k.State(billingbridge.Store, "C-R"); string(after) != string(before) {
				t.Error("the refused input changed the contract's state")
			}
		})
	}
}

// Exceptions raised before pkg/ops kept their EX/… ids: decisions on them
// still reach billing-bridge and the contract, and every later update of
// them, by a decision or by ERP's answer, goes out under the same id.
func TestDecisionsOnExceptionsRaisedBeforeOps(t *testing.T) {
	k := newKit(t)
	b, s := bridge.New(), bridge.NewState("C-L")
	dd, err := adapter.Deal(newDeal("C-L", "2025-01-01", 10, 1000, jan5))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyDeal(s, dd); err != nil {
		t.Fatal(err)
	}
	jid := "JE/C-L/1/2025-01-01/INVOICE"
	if _, err := b.ApplyJournal(s, adapter.JournalEvent(answer(jid, contracts.JournalStatusRejected, jan5), "C-L")); err != nil {
		t.Fatal(err)
	}
	// The contract as such a release saved it: the exception under EX/….
	legacy := bridge.LegacyExceptionPrefix + jid + "/journal_rejected"
	s.Exceptions = map[string]bridge.ExceptionState{legacy: s.Exceptions[jid+"/journal_rejected"]}
	raw, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	k.Seed(billingbridge.Store, "C-L", raw)

	res := k.SendValue(contracts.TopicOpsDecisionsV1, legacy, decision(legacy, "d-1", contracts.DecisionActionRepost, "ann"))
	if by := res.On(billingbridge.TopicDecisions); len(by) != 1 || by[0].Key != "C-L" {
		t.Fatalf("re-keyed %+v, dead letters %d", by, len(res.DeadLetters(billingbridge.Name)))
	}
	o := decode(t, k, res)
	if len(o.xs) != 1 || o.xs[0].ExceptionID != legacy || o.xs[0].Status != contracts.ExceptionStatusRetrying ||
		len(o.journals) != 1 || o.journals[0].JournalCommandID != jid+"/R1" {
		t.Fatalf("REPOST: updates %+v, journals %+v", o.xs, o.journals)
	}
	o = decode(t, k, k.SendValue(contracts.TopicERPJournalV1, jid+"/R1", answer(jid+"/R1", contracts.JournalStatusPosted, jan5.Add(3*time.Hour))))
	if len(o.xs) != 1 || o.xs[0].ExceptionID != legacy || o.xs[0].Status != contracts.ExceptionStatusResolved {
		t.Errorf("ERP posted the repost: updates %+v", o.xs)
	}

	// One raised for a refused input, which the state never tracked.
	refused := "EX/C-L/deal/2/currency_changed"
	o = decode(t, k, k.SendValue(contracts.TopicOpsDecisionsV1, refused, decision(refused, "d-2", contracts.DecisionActionDismiss, "ann")))
	if len(o.xs) != 1 || o.xs[0].ExceptionID != refused || o.xs[0].Status != contracts.ExceptionStatusClosed {
		t.Errorf("DISMISS: updates %+v", o.xs)
	}
	if xs := state(t, k, "C-L").Exceptions; len(xs) != 2 || xs[legacy].Status != bridge.ExceptionResolved || xs[refused].Status != bridge.ExceptionClosed {
		t.Errorf("exceptions tracked %+v", xs)
	}
}

// A contract whose state cannot be read back is our own bug: the record is
// retried (the transaction aborts), never dead-lettered or skipped.
func TestCorruptStateIsRetried(t *testing.T) {
	k := newKit(t)
	k.Seed(billingbridge.Store, "C-X", []byte("{not json"))
	res := k.SendValue(contracts.TopicCRMDealV1, "C-X", newDeal("C-X", "2025-01-01", 10, 1000, jan5))
	if res.Err == nil || errs.ClassOf(res.Err) != errs.ClassRetriable || errs.ReasonOf(res.Err) != "corrupt_state" {
		t.Fatalf("err %v (class %s), want retriable corrupt_state", res.Err, errs.ClassOf(res.Err))
	}
	if len(res.Outputs) != 0 {
		t.Errorf("%d outputs", len(res.Outputs))
	}
}

// The indexes of releases before the timer stores (NUL-prefixed keys of
// the contracts store) are moved to the timers on the first tick: the gap
// exception still continues the held deal's flow, and the scheduled
// journals still go.
func TestLegacyIndexesMoveToTimers(t *testing.T) {
	k := newKit(t)
	b := bridge.New()
	s := bridge.NewState("C-L")
	held := time.Date(2025, 1, 20, 10, 0, 0, 0, time.UTC)
	for _, d := range []*contracts.Deal{
		newDeal("C-L", "2025-01-01", 10, 1000, jan5),
		amendDeal("C-L", 2, contract.ChangeUpsell, "2025-05-01", 20, 1000, held),
	} {
		dd, err := adapter.Deal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ApplyDeal(s, dd); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	k.Seed(billingbridge.Store, "C-L", raw)
	heldKey, releaseKey := "\x00held\x00C-L", "\x00release\x002025-02-01\x00C-L"
	k.Seed(billingbridge.Store, heldKey, []byte(`{"since":"2025-01-20T10:00:00Z","flows":{"3":{"correlation":"corr-held","event":"ev-held"}}}`))
	k.Seed(billingbridge.Store, releaseKey, []byte{1})

	o := decode(t, k, k.Tick(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)))
	if len(o.xs) != 1 || o.xs[0].Metadata.CorrelationID != "corr-held" || *o.xs[0].Metadata.CausationID != "ev-held" {
		t.Errorf("gap exception %+v", o.xs)
	}
	if got := recognitions(o.journals); len(got) != 1 || got[0] != "JE/C-L/1/2025-02/RECOGNITION" {
		t.Errorf("released %v", got)
	}
	for _, key := range []string{heldKey, releaseKey} {
		if _, ok := k.State(billingbridge.Store, key); ok {
			t.Errorf("legacy key %q still in the contracts store", key)
		}
	}
	if res := k.Tick(time.Date(2025, 2, 2, 0, 0, 0, 0, time.UTC)); len(res.Outputs) != 0 {
		t.Errorf("the next tick sent %d records", len(res.Outputs))
	}
}
