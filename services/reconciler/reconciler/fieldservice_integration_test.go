//go:build integration

package reconciler

import (
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
)

// TestFieldServiceBreaks runs the reconciler on the real broker with 3 s
// SLAs and the field-service records: a case without a service order, a
// completed order whose SERVICE_COST journal ERP rejected, and a return
// inspected but not credited each break after their deadline (not before)
// and close on the late event (the cost one by a /r1 repost); answered,
// withdrawn, paused and nothing-accepted cases raise nothing; bad records
// on the new topics are dead-lettered while their partitions keep flowing.
func TestFieldServiceBreaks(t *testing.T) {
	s := shortSLA.String()
	e := newEnv(t, map[string]string{
		"ISTHMUS_RECON_SLA_SERVICE_ORDER": s, "ISTHMUS_RECON_SLA_SERVICE_COST": s, "ISTHMUS_RECON_SLA_RETURN_CREDIT": s,
	})
	stop := e.start()
	defer stop()

	// Bad records first, under the key of a case whose records follow on
	// the same partitions.
	badCase := e.fsCase("fs-other", "corr-bad", contracts.CaseStatusOpen, false)
	badCase.Key = []byte("fs-c1")
	noID := e.rec(contracts.TopicERPServiceOrderStatusV1, "fs-c1", &contracts.ServiceOrderStatus{Metadata: md("corr-bad", contracts.SourceSystemERP),
		Status: contracts.ServiceOrderStateCreated, Parts: []contracts.PartUsed{}})
	e.produce(
		&kgo.Record{Topic: e.prefix + contracts.TopicCRMCaseV1, Key: []byte("fs-c1"), Value: []byte("not avro")},
		badCase, noID,
		&kgo.Record{Topic: e.prefix + contracts.TopicERPReturnStatusV1, Key: []byte("fs-r6"), Value: []byte{0, 0x7f, 0xff, 0xff, 0xfe, 2}},
	)
	wantDLQ := []string{
		contracts.TopicCRMCaseV1 + " bad-magic", contracts.TopicCRMCaseV1 + " key_mismatch",
		contracts.TopicERPReturnStatusV1 + " unknown-schema-id", contracts.TopicERPServiceOrderStatusV1 + " missing_id",
	}

	type injected struct {
		kind, idName, id, corr string
		at                     time.Time
		late                   func() []*kgo.Record
	}
	var inj []injected
	add := func(kind, idName, id, corr string, opening []*kgo.Record, late func() []*kgo.Record) {
		inj = append(inj, injected{kind: kind, idName: idName, id: id, corr: corr, at: time.Now(), late: late})
		e.produce(opening...)
	}
	cost := url.PathEscape("fs-c5/a") // a case id that needs escaping in the journal id
	add(contracts.BreakKindCaseWithoutServiceOrder, "case_id", "fs-c1", "corr-fs1",
		[]*kgo.Record{e.fsCase("fs-c1", "corr-fs1", contracts.CaseStatusOpen, false)},
		func() []*kgo.Record {
			return []*kgo.Record{e.fsOrder("fs-c1", "corr-fs1", contracts.ServiceOrderStateCreated, 0)}
		})
	add(contracts.BreakKindServiceCostNotSettled, "case_id", "fs-c5/a", "corr-fs5",
		[]*kgo.Record{e.fsCase("fs-c5/a", "corr-fs5", contracts.CaseStatusOpen, false), e.fsOrder("fs-c5/a", "corr-fs5", contracts.ServiceOrderStateCreated, 0),
			e.fsOrder("fs-c5/a", "corr-fs5", contracts.ServiceOrderStateCompleted, 4500),
			e.fsJournal("FS/"+cost+"/SERVICE_COST", "corr-fs5", contracts.JournalStatusRejected)},
		func() []*kgo.Record {
			return []*kgo.Record{e.fsJournal("FS/"+cost+"/SERVICE_COST/r1", "corr-fs5", contracts.JournalStatusPosted)}
		})
	add(contracts.BreakKindReturnNotCredited, "return_id", "fs-r6", "corr-fs6",
		[]*kgo.Record{e.fsCase("fs-r6", "corr-fs6", contracts.CaseStatusOpen, true), e.fsReturn("fs-r6", "corr-fs6", contracts.ReturnStateInspected, 2)},
		func() []*kgo.Record {
			return []*kgo.Record{e.fsReturn("fs-r6", "corr-fs6", contracts.ReturnStateCredited, 2)}
		})
	// Cases that must raise nothing: answered in time, paused for an
	// operator, withdrawn, refused, completed without cost, a return whose
	// inspection accepted nothing, a return credited in time.
	quiet := []string{"fs-q2", "fs-q3", "fs-q4", "fs-q5", "fs-q6", "fs-q7", "fs-q8"}
	e.produce(
		e.fsCase("fs-q2", "corr-q2", contracts.CaseStatusOpen, false), e.fsOrder("fs-q2", "corr-q2", contracts.ServiceOrderStateCreated, 0),
		e.fsOrder("fs-q2", "corr-q2", contracts.ServiceOrderStateCompleted, 900),
		e.fsJournal("FS/fs-q2/SERVICE_COST", "corr-q2", contracts.JournalStatusPosted),
		e.fsCase("fs-q3", "corr-q3", contracts.CaseStatusOpen, false), e.fsUpdate("fs-q3", "corr-q3", contracts.CaseEventEntitlement, contracts.CoverageNotEntitled),
		e.fsCase("fs-q4", "corr-q4", contracts.CaseStatusOpen, false), e.fsCase("fs-q4", "corr-q4", contracts.CaseStatusCancelled, false),
		e.fsCase("fs-q5", "corr-q5", contracts.CaseStatusOpen, false), e.fsUpdate("fs-q5", "corr-q5", contracts.CaseEventRefused, contracts.CoverageNotEntitled),
		e.fsCase("fs-q6", "corr-q6", contracts.CaseStatusOpen, false), e.fsOrder("fs-q6", "corr-q6", contracts.ServiceOrderStateCompleted, 0),
		e.fsCase("fs-q7", "corr-q7", contracts.CaseStatusOpen, true), e.fsReturn("fs-q7", "corr-q7", contracts.ReturnStateInspected, 0),
		e.fsCase("fs-q8", "corr-q8", contracts.CaseStatusOpen, true), e.fsReturn("fs-q8", "corr-q8", contracts.ReturnStateInspected, 1),
		e.fsReturn("fs-q8", "corr-q8", contracts.ReturnStateCredited, 1),
	)
	quietUntil := time.Now().Add(shortSLA + 5*time.Second)

	// Each break opens within SLA + 5 s, at or after its deadline (the
	// opening input's occurred_at + SLA), with the input's correlation id.
	for _, in := range inj {
		sb, ok := e.waitBreak(in.kind, contracts.BreakStatusOpen, in.idName, in.id, time.Until(in.at.Add(shortSLA+5*time.Second)))
		if !ok {
			t.Fatalf("%s for %s=%s not detected within SLA %s + 5s", in.kind, in.idName, in.id, shortSLA)
		}
		b := sb.b
		if b.Deadline == nil || b.DetectedAt.Before(*b.Deadline) || b.Deadline.Before(in.at.Add(shortSLA-time.Second)) {
			t.Errorf("%s for %s: deadline %v, detected %s, injected %s: want detected at or after a deadline SLA after the input",
				in.kind, in.id, b.Deadline, b.DetectedAt, in.at)
		}
		if b.Metadata.CorrelationID != in.corr || b.EntityIds["case_id"] != in.id || contracts.Deref(b.Expected) == "" || b.Description == "" {
			t.Errorf("%s for %s: correlation %q (want %q), entity ids %v, expected %q, description %q",
				in.kind, in.id, b.Metadata.CorrelationID, in.corr, b.EntityIds, contracts.Deref(b.Expected), b.Description)
		}
		if in.kind == contracts.BreakKindServiceCostNotSettled {
			if got := contracts.Deref(b.Actual); !strings.Contains(got, "REJECTED PERIOD_CLOSED") || b.EntityIds["journal_command_id"] != "FS/"+cost+"/SERVICE_COST" {
				t.Errorf("SERVICE_COST_NOT_SETTLED: actual %q, journal_command_id %q: want ERP's rejection of FS/%s/SERVICE_COST", got, b.EntityIds["journal_command_id"], cost)
			}
		}
		t.Logf("%-27s detected %s after injection (SLA %s): %s", in.kind, sb.at.Sub(in.at).Round(10*time.Millisecond), shortSLA, contracts.Deref(b.Actual))
	}

	// Late events close them.
	for _, in := range inj {
		e.produce(in.late()...)
	}
	for _, in := range inj {
		sb, ok := e.waitBreak(in.kind, contracts.BreakStatusClosed, in.idName, in.id, 15*time.Second)
		if !ok {
			t.Errorf("%s for %s=%s not closed by the late event", in.kind, in.idName, in.id)
			continue
		}
		if r := contracts.Deref(sb.b.Resolution); !strings.HasPrefix(r, "late: ") {
			t.Errorf("%s for %s closed with resolution %q", in.kind, in.id, r)
		}
	}

	// The bad records went to the DLQ with their reasons (and the records
	// after them on their partitions were reconciled, above).
	var got []string
	for _, r := range consume(t, e, "dlq.reconciler.v1", len(wantDLQ)) {
		got = append(got, header(r, catalog.DLQHeaderTopic)+" "+header(r, catalog.DLQHeaderErrorReason))
	}
	sort.Strings(got)
	if diff := cmp.Diff(wantDLQ, got); diff != "" {
		t.Errorf("dead-lettered (topic reason) (-want +got):\n%s", diff)
	}

	// Nothing else: the quiet cases raised no break, and every break event
	// was seen once.
	time.Sleep(time.Until(quietUntil))
	perEvent := map[string]int{}
	for _, sb := range e.seen() {
		b := sb.b
		perEvent[b.Metadata.EventID]++
		for _, q := range quiet {
			if b.EntityIds["case_id"] == q {
				t.Errorf("%s raised %s %s: %s (%s)", q, b.Kind, b.Status, b.Description, contracts.Deref(b.Actual))
			}
		}
		if b.EntityIds["case_id"] == "fs-other" {
			t.Errorf("the mis-keyed case was reconciled: %s %s", b.Kind, b.Status)
		}
	}
	for id, n := range perEvent {
		if n != 1 {
			t.Errorf("break event %s seen %d times, want once", id, n)
		}
	}
	if n := len(e.seen()); n != 2*len(inj) {
		for _, sb := range e.seen() {
			t.Logf("seen %s %s %v", sb.b.Kind, sb.b.Status, sb.b.EntityIds)
		}
		t.Errorf("%d break events, want %d (each injected break opened and closed)", n, 2*len(inj))
	}
}

// field-service records ------------------------------------------------------

func (e *itEnv) fsCase(id, corr, status string, isReturn bool) *kgo.Record {
	c := &contracts.Case{Metadata: md(corr, contracts.SourceSystemCRM), CaseID: id, AccountID: "acct-" + id, Serial: "SN-" + id,
		ServiceType: contracts.ServiceTypeRepair, Priority: contracts.SeverityMedium, SLATier: "STANDARD", Status: status, OpenedAt: time.Now().UTC()}
	if isReturn {
		c.ReturnRequest = &contracts.ReturnRequest{Currency: "EUR", Lines: []contracts.ReturnRequestLine{{SKU: "SKU-1", Quantity: 2,
			Serials: []string{}, UnitPrice: eur(1000), Reason: "DEFECTIVE"}}}
	}
	return e.rec(contracts.TopicCRMCaseV1, id, c)
}

func (e *itEnv) fsUpdate(id, corr, event, coverage string) *kgo.Record {
	return e.rec(contracts.TopicCRMCaseUpdatesV1, id, &contracts.CaseUpdate{Metadata: md(corr, contracts.SourceSystemFieldService),
		CaseID: id, Event: event, Coverage: coverage, Parts: []contracts.PartUsed{}, ReturnLines: []contracts.ReturnLineUpdate{}})
}

// fsOrder is an ERP service order status; COMPLETED carries labour costing
// labour (minor units, EUR) and no parts.
func (e *itEnv) fsOrder(id, corr, status string, labour int64) *kgo.Record {
	st := &contracts.ServiceOrderStatus{Metadata: md(corr, contracts.SourceSystemERP), ServiceOrderID: id, CaseID: id,
		ERPServiceOrderID: ptrTo("SO-" + id), Status: status, Parts: []contracts.PartUsed{}}
	if status == contracts.ServiceOrderStateCompleted {
		l := eur(labour)
		st.LabourCost, st.TotalCost, st.LabourMinutes = &l, &l, 60
	}
	return e.rec(contracts.TopicERPServiceOrderStatusV1, id, st)
}

func (e *itEnv) fsJournal(jc, corr, status string) *kgo.Record {
	j := &contracts.Journal{Metadata: md(corr, contracts.SourceSystemERP), JournalCommandID: jc, Status: status, Lines: []contracts.JournalLine{}}
	if status == contracts.JournalStatusRejected {
		j.RejectionCode = ptrTo("PERIOD_CLOSED")
	}
	return e.rec(contracts.TopicERPJournalV1, jc, j)
}

func (e *itEnv) fsReturn(id, corr, status string, accepted int64) *kgo.Record {
	r := &contracts.ReturnStatus{Metadata: md(corr, contracts.SourceSystemERP), ReturnID: id, RmaNumber: ptrTo("RMA-" + id), Status: status,
		Lines: []contracts.ReturnLineStatus{{LineNumber: 1, SKU: "SKU-1", Received: 2, Accepted: accepted, Refused: 2 - accepted}}}
	if status == contracts.ReturnStateCredited {
		a := eur(1000 * accepted)
		r.CreditMemoID, r.CreditAmount = ptrTo("CM-"+id), &a
	}
	return e.rec(contracts.TopicERPReturnStatusV1, id, r)
}

func ptrTo(s string) *string { return &s }
