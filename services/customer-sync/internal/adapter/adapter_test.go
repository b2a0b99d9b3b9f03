package adapter

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/normalize"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
	sv "github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func md(n string) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: event.ID("ev", n), CorrelationID: "corr-" + n, SourceSystem: contracts.SourceSystemCRM, OccurredAt: t0}
}

func s(v string) *string { return &v }

func TestAccountToEvent(t *testing.T) {
	later := t0.Add(time.Hour)
	addr := &contracts.Address{Line1: "Marienplatz 1", City: "München", PostalCode: s("80331"), Country: "de"}
	tests := []struct {
		name string
		in   *contracts.Account
		want golden.Event
	}{
		{"upsert maps attributes, address, stage, source time", &contracts.Account{
			Metadata: md("1"), Op: contracts.ChangeOperationUpsert, AccountID: "A1", Name: "Müller GmbH", Website: s("https://mueller.de"),
			Phone: s("089 1234567"), Email: s("info@mueller.de"), Industry: s("Machinery"), OwnerID: s("jane"), Territory: s("DACH"),
			TaxID: s("DE123456789"), Status: contracts.AccountStatusCustomer, BillingAddress: addr, SourceUpdatedAt: later,
		}, golden.SourceUpserted{
			Meta:   golden.Meta{EventID: event.ID("ev", "1"), CorrelationID: "corr-1", OccurredAt: later},
			System: sv.CRM, RecordID: "A1",
			Attrs: map[sv.Field]string{sv.Name: "Müller GmbH", sv.Website: "https://mueller.de", sv.Phone: "089 1234567",
				sv.Email: "info@mueller.de", sv.Industry: "Machinery", sv.Owner: "jane", sv.Territory: "DACH", sv.TaxID: "DE123456789",
				sv.LifecycleStage: "customer", sv.Country: "DE", sv.PostalCode: "80331",
				sv.BillingAddress: `{"line1":"Marienplatz 1","city":"München","postal_code":"80331","country":"DE"}`},
		}},
		{"delete retires the membership", &contracts.Account{Metadata: md("2"), Op: contracts.ChangeOperationDelete, AccountID: "A1", SourceUpdatedAt: time.UnixMilli(0)},
			golden.SourceDeleted{Meta: golden.Meta{EventID: event.ID("ev", "2"), CorrelationID: "corr-2", OccurredAt: t0}, System: sv.CRM, RecordID: "A1"}},
		{"erase names the account", &contracts.Account{Metadata: md("3"), Op: contracts.ChangeOperationErase, AccountID: "A1"},
			golden.EraseRequested{Meta: golden.Meta{EventID: event.ID("ev", "3"), CorrelationID: "corr-3", OccurredAt: t0}, Ref: xref.Ref{System: "crm", ID: "A1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Event(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestBadInputIsPoison(t *testing.T) {
	tests := []struct {
		name   string
		in     any
		field  string // normalize.Error field, when the domain names one
		reason string
	}{
		{"missing account id", &contracts.Account{Metadata: md("1"), Op: "UPSERT", Name: "X"}, "account_id", string(errs.ReasonContract)},
		{"unknown op", &contracts.Account{Metadata: md("1"), Op: "UNKNOWN", AccountID: "A1", Name: "X"}, "", string(errs.ReasonContract)},
		{"invalid address country", &contracts.Account{Metadata: md("1"), Op: "UPSERT", AccountID: "A1", Name: "X",
			BillingAddress: &contracts.Address{Line1: "x", City: "y", Country: "Germany"}}, "billing_address.country", string(errs.ReasonValidation)},
		{"invalid credit currency", &contracts.Customer{Metadata: md("1"), Op: "UPSERT", ERPCustomerID: "1", Name: "X",
			CreditLimit: &contracts.Money{AmountMinor: 1, Currency: "EURO"}}, "currency", string(errs.ReasonValidation)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Event(tc.in)
			if errs.ClassOf(err) != errs.ClassPoison || errs.ReasonOf(err) != tc.reason {
				t.Fatalf("err = %v (class %q, reason %q), want poison/%s", err, errs.ClassOf(err), errs.ReasonOf(err), tc.reason)
			}
			var ne *normalize.Error
			if tc.field != "" && (!errors.As(err, &ne) || ne.Field != tc.field) {
				t.Errorf("err = %v, want a normalize.Error on %s", err, tc.field)
			}
		})
	}
}

func TestDecisions(t *testing.T) {
	m := golden.Meta{EventID: event.ID("ev", "1"), CorrelationID: "corr-1", OccurredAt: t0}
	dup := "csx:PROBABLE_DUPLICATE:cus-00000000000000a1:0f"
	conflict := "csx:OWNERSHIP_CONFLICT:cus-00000000000000b2:0f"
	rule := func(ex, category string) golden.Ruling {
		return golden.Ruling{DecisionID: "d-1", ExceptionID: ex, Category: category, Actor: "steward@example.com"}
	}
	dec := func(ex, action string, params map[string]string) *contracts.Decision {
		return &contracts.Decision{Metadata: md("1"), DecisionID: "d-1", ExceptionID: ex, OwnerService: golden.Owner.Service, Action: action, Actor: "steward@example.com", Parameters: params}
	}
	tests := []struct {
		name string
		in   *contracts.Decision
		want golden.Event
	}{
		{"merge", dec(dup, "MERGE", map[string]string{ParamSurvivor: "g1", ParamMerged: "g2"}),
			golden.StewardMerge{Meta: m, Ruling: rule(dup, golden.ProbableDuplicate), Survivor: "g1", Merged: "g2"}},
		{"not duplicate, golden id from the exception", dec(dup, "NOT_DUPLICATE", map[string]string{ParamOther: "g2"}),
			golden.StewardNotDuplicate{Meta: m, Ruling: rule(dup, golden.ProbableDuplicate), A: "cus-00000000000000a1", B: "g2"}},
		{"pick survivor", dec(conflict, "PICK_SURVIVOR", map[string]string{ParamField: "legal_name", ParamValue: "Acme GmbH"}),
			golden.StewardPick{Meta: m, Ruling: rule(conflict, golden.OwnershipConflict), Golden: "cus-00000000000000b2", Field: "legal_name", Value: "Acme GmbH"}},
		{"split", dec(conflict, "SPLIT", map[string]string{ParamSystem: "ERP", ParamRecord: "100042"}),
			golden.StewardSplit{Meta: m, Ruling: rule(conflict, golden.OwnershipConflict), Golden: "cus-00000000000000b2", Ref: xref.Ref{System: "erp", ID: "100042"}}},
		{"resolve", dec(conflict, "RESOLVE", nil),
			golden.StewardClose{Meta: m, Ruling: rule(conflict, golden.OwnershipConflict), Golden: "cus-00000000000000b2", Status: "RESOLVED"}},
		{"dismiss", dec(dup, "DISMISS", nil),
			golden.StewardClose{Meta: m, Ruling: rule(dup, golden.ProbableDuplicate), Golden: "cus-00000000000000a1", Status: "CLOSED"}},
		{"an action the exception does not accept is refused", dec(dup, "PICK_SURVIVOR", nil),
			golden.StewardRefused{Meta: m, Ruling: rule(dup, golden.ProbableDuplicate), Reason: "PICK_SURVIVOR is not an allowed action for a PROBABLE_DUPLICATE exception (allowed: MERGE, NOT_DUPLICATE, RESOLVE, DISMISS)"}},
		{"a lead's exception is dismissed on its candidate record", dec("csx:LEAD_DUPLICATE:cus-00000000000000a1:0f", "DISMISS", nil),
			golden.StewardClose{Meta: m, Ruling: rule("csx:LEAD_DUPLICATE:cus-00000000000000a1:0f", golden.LeadDuplicate), Golden: "cus-00000000000000a1", Status: "CLOSED"}},
		{"a lead's exception cannot be merged", dec("csx:LEAD_DUPLICATE:cus-00000000000000a1:0f", "MERGE", nil),
			golden.StewardRefused{Meta: m, Ruling: rule("csx:LEAD_DUPLICATE:cus-00000000000000a1:0f", golden.LeadDuplicate), Reason: "MERGE is not an allowed action for a LEAD_DUPLICATE exception (allowed: RESOLVE, DISMISS)"}},
		{"resolve of an exception id of the older form needs nothing", &contracts.Decision{Metadata: md("1"), OwnerService: golden.Owner.Service, ExceptionID: "exc-0f", Action: "RESOLVE"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Event(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// TestOutputsEndToEnd runs real domain outputs through the mapping and
// checks the records every topic receives.
func TestOutputsEndToEnd(t *testing.T) {
	st, err := golden.New(golden.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	apply := func(v any) (golden.Outputs, contracts.EventMetadata) {
		t.Helper()
		ev, err := Event(v)
		if err != nil {
			t.Fatal(err)
		}
		out, err := st.Apply(ev)
		if err != nil {
			t.Fatal(err)
		}
		return out, Metadata(v)
	}
	acct := &contracts.Account{Metadata: md("1"), Op: "UPSERT", AccountID: "A1", Name: "Müller Maschinenbau GmbH", Website: s("mueller-mb.de"),
		Status: contracts.AccountStatusCustomer, ShippingAddress: &contracts.Address{Line1: "Hauptstr. 5", City: "Munich", Country: "DE", PostalCode: s("80331")}}
	out, in := apply(acct)
	recs := Outputs(out, in, "crm.account.v1/0/0")
	byTopic := map[string][]Output{}
	for _, r := range recs {
		byTopic[r.Topic] = append(byTopic[r.Topic], r)
	}
	mustEncode(t, recs)
	if n := len(byTopic[contracts.TopicMDMCustomerV1]); n != 1 {
		t.Fatalf("%d golden records", n)
	}
	g := byTopic[contracts.TopicMDMCustomerV1][0].Value.(*contracts.GoldenCustomer)
	if g.Name != "Müller Maschinenbau GmbH" || *g.Domain != "mueller-mb.de" || g.Version != 1 || g.Status != contracts.GoldenStatusActive ||
		g.ShippingAddress == nil || g.ShippingAddress.City != "Munich" || g.ShippingAddress.Country != "DE" {
		t.Errorf("golden = %+v", g)
	}
	if d := cmp.Diff([]contracts.SystemRef{{System: "CRM", ID: "A1"}}, g.Members); d != "" {
		t.Errorf("members (-want +got)\n%s", d)
	}
	if g.Metadata.CorrelationID != "corr-1" || *g.Metadata.CausationID != acct.Metadata.EventID || !g.Metadata.OccurredAt.Equal(t0) ||
		g.Metadata.EventID != event.ID("crm.account.v1/0/0", "0") {
		t.Errorf("metadata = %+v", g.Metadata)
	}
	x := byTopic[contracts.TopicMDMXrefV1]
	if len(x) != 1 || x[0].Key != "CRM:A1" || x[0].Value.(*contracts.CrossReference).GoldenID != g.GoldenID {
		t.Errorf("xref = %+v", x)
	}
	cmds := byTopic[contracts.TopicERPCustomerCommandsV1]
	if len(cmds) != 1 {
		t.Fatalf("commands = %+v", cmds)
	}
	c := cmds[0].Value.(*contracts.CustomerCommand)
	if c.Action != "CREATE" || c.Name != g.Name || *c.CRMAccountID != "A1" || c.ERPCustomerID != nil || c.ShippingAddress == nil || cmds[0].Key != g.GoldenID {
		t.Errorf("command = %+v", c)
	}
	if n := len(byTopic[contracts.TopicAuditFieldChangeV1]); n == 0 {
		t.Error("no audit entries")
	}

	// The ERP answers the CREATE: its fields come back to CRM; a CRM name
	// change afterwards goes to ERP as an UPDATE.
	cust := &contracts.Customer{Metadata: md("2"), Op: "UPSERT", ERPCustomerID: "100042", GoldenID: s(g.GoldenID), Name: "Müller Maschinenbau GmbH",
		LegalName: s("Müller Maschinenbau GmbH"), TaxID: s("DE123456789"), PaymentTerms: s("NET30"), CreditStatus: "HOLD",
		CreditLimit: &contracts.Money{AmountMinor: 5000000, Currency: "EUR"}, SourceUpdatedAt: t0.Add(time.Minute)}
	out, in = apply(cust)
	recs = Outputs(out, in, "erp.customer.v1/0/0")
	mustEncode(t, recs)
	var upd *contracts.AccountUpdate
	for _, r := range recs {
		if r.Topic == contracts.TopicCRMAccountUpdatesV1 {
			upd = r.Value.(*contracts.AccountUpdate)
		}
	}
	if upd == nil {
		t.Fatalf("no account update in %+v", recs)
	}
	want := &contracts.AccountUpdate{Metadata: upd.Metadata, AccountID: "A1", GoldenID: g.GoldenID, ERPCustomerID: s("100042"),
		LegalName: s("Müller Maschinenbau GmbH"), TaxID: s("DE123456789"), PaymentTerms: s("NET30"), CreditStatus: "HOLD",
		CreditLimit:   &contracts.Money{AmountMinor: 5000000, Currency: "EUR"},
		ChangedFields: []string{"credit_limit", "credit_status", "erp_customer_id", "payment_terms"}}
	if d := cmp.Diff(want, upd); d != "" {
		t.Errorf("account update (-want +got)\n%s", d)
	}

	// A CRM change of an ERP-owned field is a conflict: audited as
	// REJECTED_NOT_OWNER and raised to MASTER_DATA.
	acct2 := *acct
	acct2.Metadata = md("3")
	acct2.TaxID = s("DE999999999")
	out, in = apply(&acct2)
	var audit *contracts.FieldChange
	var exc *contracts.OperationalException
	for _, r := range Outputs(out, in, "crm.account.v1/0/1") {
		switch v := r.Value.(type) {
		case *contracts.FieldChange:
			if v.Field == "tax_id" {
				audit = v
			}
		case *contracts.OperationalException:
			exc = v
		}
	}
	if audit == nil || audit.Outcome != contracts.ChangeOutcomeRejectedNotOwner || *audit.NewValue != "DE999999999" || *audit.OldValue != "DE123456789" {
		t.Errorf("audit = %+v", audit)
	}
	if exc == nil || exc.Category != contracts.ExceptionCategoryOwnershipConflict || exc.Queue != contracts.ExceptionQueueMasterData ||
		exc.EntityIds["golden_id"] != g.GoldenID || exc.EntityIds["crm_account_id"] != "A1" || exc.Severity != contracts.SeverityLow {
		t.Errorf("exception = %+v", exc)
	}
}

// mustEncode checks that every output is valid against its topic's schema.
func mustEncode(t *testing.T, recs []Output) {
	t.Helper()
	for _, r := range recs {
		if _, err := avro.Marshal(r.Value.Schema(), r.Value); err != nil {
			t.Errorf("%s %s: %v", r.Topic, r.Key, err)
		}
	}
}

// TestExceptionQueues: the domain's exceptions carry no queue; the event
// built from each (golden.Owner.Event) goes to MASTER_DATA under its
// contract category, a refused decision's update too.
func TestExceptionQueues(t *testing.T) {
	refused := golden.Refusal(golden.Ruling{DecisionID: "d-1", ExceptionID: "csx:OWNERSHIP_CONFLICT:cus-00000000000000b2:0f", Category: golden.OwnershipConflict},
		"cus-00000000000000b2", "PICK_SURVIVOR needs the parameters", golden.Meta{EventID: "ev-1", OccurredAt: t0})
	tests := []struct {
		in       golden.Exception
		category string
	}{
		{golden.Exception{ID: "csx:PROBABLE_DUPLICATE:g:0f", Category: golden.ProbableDuplicate}, contracts.ExceptionCategoryProbableDuplicate},
		{golden.Exception{ID: "csx:LEAD_DUPLICATE:g:0f", Category: golden.LeadDuplicate}, contracts.ExceptionCategoryProbableDuplicate},
		{golden.Exception{ID: "csx:OWNERSHIP_CONFLICT:g:0f", Category: golden.OwnershipConflict}, contracts.ExceptionCategoryOwnershipConflict},
		{golden.Exception{ID: "csx:HIERARCHY_CYCLE:g:0f", Category: golden.HierarchyCycle}, contracts.ExceptionCategoryInvalidMasterData},
		{golden.Exception{ID: "csx:HIERARCHY_ORPHAN:g:0f", Category: golden.HierarchyOrphan}, contracts.ExceptionCategoryInvalidMasterData},
		{refused, contracts.ExceptionCategoryOwnershipConflict},
	}
	for _, tc := range tests {
		x := Exception(tc.in, md("1"))
		if x.Queue != contracts.ExceptionQueueMasterData || x.Category != tc.category || x.OwnerService != golden.Owner.Service {
			t.Errorf("%s: queue %q, category %q, owner %q; want %q, %q, %q", tc.in.ID, x.Queue, x.Category, x.OwnerService,
				contracts.ExceptionQueueMasterData, tc.category, golden.Owner.Service)
		}
	}
}
