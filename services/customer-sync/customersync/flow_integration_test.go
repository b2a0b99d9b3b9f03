//go:build integration

package customersync

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
)

func find(recs []out, topic, key string) []out {
	var r []out
	for _, o := range recs {
		if o.Topic == topic && o.Key == key {
			r = append(r, o)
		}
	}
	return r
}

func has(topic, key string) func([]out) bool {
	return func(recs []out) bool { return len(find(recs, topic, key)) > 0 }
}

func (e *env) lastGolden(recs []out, id string) *contracts.GoldenCustomer {
	e.t.Helper()
	all := find(recs, contracts.TopicMDMCustomerV1, id)
	if len(all) == 0 {
		e.t.Fatalf("no golden record %s", id)
	}
	var g contracts.GoldenCustomer
	e.decode(all[len(all)-1], &g)
	return &g
}

func (e *env) xref(recs []out, key string) *contracts.CrossReference {
	e.t.Helper()
	all := find(recs, contracts.TopicMDMXrefV1, key)
	if len(all) == 0 {
		e.t.Fatalf("no xref %s", key)
	}
	var x contracts.CrossReference
	e.decode(all[len(all)-1], &x)
	return &x
}

// TestFlow: CRM and ERP events produce the golden record, xrefs, the ERP
// CREATE command, the CRM update with ERP-owned fields, an ERP UPDATE for a
// CRM-owned change, audit entries; a CRM change of an ERP-owned field is
// audited as a conflict, raised to master-data and not applied; a contact
// for an unknown account is parked and applied when the account arrives.
func TestFlow(t *testing.T) {
	e := newEnv(t)
	c := e.collect(processor.ChangelogTopic(Name, Store), processor.ChangelogTopic(Name, RouteStore))
	e.start("0")
	const wait = 90 * time.Second

	e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 1, func(a *contracts.Account) {
		a.Website, a.Phone, a.Industry, a.Status = str("https://www.mueller-mb.de"), str("089 1234567"), str("Machinery"), contracts.AccountStatusCustomer
		a.ShippingAddress = addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	recs := c.waitFor(t, "xref CRM:A1", wait, has(contracts.TopicMDMXrefV1, "CRM:A1"))
	g := e.xref(recs, "CRM:A1").GoldenID
	gold := e.lastGolden(recs, g)
	if gold.Name != "Müller Maschinenbau GmbH" || *gold.Domain != "mueller-mb.de" || *gold.Phone != "+49891234567" || gold.Status != "ACTIVE" {
		t.Errorf("golden = %+v", gold)
	}
	cmds := find(recs, contracts.TopicERPCustomerCommandsV1, g)
	if len(cmds) != 1 {
		t.Fatalf("want one CREATE command, got %d", len(cmds))
	}
	var cmd contracts.CustomerCommand
	e.decode(cmds[0], &cmd)
	if cmd.Action != "CREATE" || *cmd.CRMAccountID != "A1" || cmd.ShippingAddress == nil || cmd.ShippingAddress.City != "München" {
		t.Errorf("command = %+v", cmd)
	}
	if n := len(find(recs, contracts.TopicAuditFieldChangeV1, g)); n < 5 {
		t.Errorf("%d audit entries for the new record, want one per attribute", n)
	}

	// Contact for an account nobody knows yet: waits in the route store
	// for the account's first event (which decides its match block).
	e.in.Value(contracts.TopicCRMContactV1, "A9", contact("C9", "A9", "Nordmann", 2, func(x *contracts.Contact) {
		x.FirstName, x.Email = str("Ola"), str("Ola@Fjord.no")
	}))
	c.waitFor(t, "waiting contact w/CRM:A9", wait, has(processor.ChangelogTopic(Name, RouteStore), "w/CRM:A9"))

	// ERP answers the CREATE: linked by golden_id; ERP-owned fields go back to CRM.
	e.in.Value(contracts.TopicERPCustomerV1, "100042", customer("100042", "Müller Maschinenbau GmbH", 3, func(x *contracts.Customer) {
		x.GoldenID, x.CommandID = &g, &cmd.CommandID
		x.LegalName, x.TaxID, x.PaymentTerms, x.CreditStatus = str("Müller Maschinenbau GmbH"), str("DE 123 456 789"), str("NET30"), contracts.CreditStatusHold
		x.CreditLimit = &contracts.Money{AmountMinor: 5_000_000, Currency: "EUR"}
		x.BillingAddress = addr("Marienplatz 1", "München", "80331", "DE")
	}))
	recs = c.waitFor(t, "account update for A1", wait, has(contracts.TopicCRMAccountUpdatesV1, "A1"))
	if x := e.xref(recs, "ERP:100042"); x.GoldenID != g || len(x.OtherIds) != 1 || x.OtherIds[0].ID != "A1" {
		t.Errorf("xref ERP:100042 = %+v", x)
	}
	var upd contracts.AccountUpdate
	e.decode(find(recs, contracts.TopicCRMAccountUpdatesV1, "A1")[0], &upd)
	if *upd.ERPCustomerID != "100042" || *upd.PaymentTerms != "NET30" || upd.CreditStatus != "HOLD" || upd.CreditLimit.AmountMinor != 5_000_000 {
		t.Errorf("account update = %+v", upd)
	}

	// CRM changes the tax id (ERP-owned): audited, raised, not applied.
	e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 4, func(a *contracts.Account) {
		a.TaxID, a.Status = str("DE999999999"), contracts.AccountStatusCustomer
	}))
	recs = c.waitFor(t, "ownership conflict exception", wait, func(recs []out) bool {
		for _, o := range recs {
			if o.Topic == contracts.TopicOpsExceptionsV1 {
				var x contracts.OperationalException
				e.decode(o, &x)
				if x.Category == "OWNERSHIP_CONFLICT" {
					return true
				}
			}
		}
		return false
	})
	conflictAudited := false
	for _, o := range find(recs, contracts.TopicAuditFieldChangeV1, g) {
		var a contracts.FieldChange
		e.decode(o, &a)
		if a.Field == "tax_id" && a.Outcome == "REJECTED_NOT_OWNER" && *a.NewValue == "DE999999999" && a.SourceSystem == "CRM" {
			conflictAudited = true
		}
	}
	if !conflictAudited {
		t.Error("tax id conflict not audited as REJECTED_NOT_OWNER")
	}
	if gold := e.lastGolden(recs, g); *gold.TaxID != "DE123456789" {
		t.Errorf("golden tax id = %s, the conflicting CRM value was applied", *gold.TaxID)
	}

	// CRM renames (CRM-owned, ERP keeps it): UPDATE to ERP 100042.
	e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau & Service GmbH", 5, func(a *contracts.Account) {
		a.Status = contracts.AccountStatusCustomer
	}))
	recs = c.waitFor(t, "UPDATE command", wait, func(recs []out) bool { return len(find(recs, contracts.TopicERPCustomerCommandsV1, g)) >= 2 })
	var up contracts.CustomerCommand
	all := find(recs, contracts.TopicERPCustomerCommandsV1, g)
	e.decode(all[len(all)-1], &up)
	if up.Action != "UPDATE" || *up.ERPCustomerID != "100042" || up.Name != "Müller Maschinenbau & Service GmbH" || !slices.Equal(up.ChangedFields, []string{"name"}) {
		t.Errorf("update command = %+v", up)
	}

	// The parked contact's account arrives: the contact is applied.
	e.in.Value(contracts.TopicCRMAccountV1, "A9", account("A9", "Fjord Shipping AS", 6, func(a *contracts.Account) {
		a.Website = str("fjordshipping.no")
		a.BillingAddress = addr("Havnegata 1", "Oslo", "0150", "NO")
	}))
	recs = c.waitFor(t, "xref CRM:A9", wait, has(contracts.TopicMDMXrefV1, "CRM:A9"))
	g9 := e.xref(recs, "CRM:A9").GoldenID
	// The waiting contact follows the account's first event (released by
	// its registration with the route stage, one transaction later).
	recs = c.waitFor(t, "contact C9 applied", wait, func(r []out) bool {
		for _, o := range find(r, contracts.TopicAuditFieldChangeV1, g9) {
			var a contracts.FieldChange
			e.decode(o, &a)
			if a.Field == "contacts/C9" && a.Outcome == "APPLIED" {
				return true
			}
		}
		return false
	})
	// ... and published as a golden contact of the account's golden record.
	var gcs []contracts.GoldenContact
	for _, o := range recs {
		if o.Topic == contracts.TopicMDMContactV1 {
			var x contracts.GoldenContact
			e.decode(o, &x)
			gcs = append(gcs, x)
		}
	}
	if len(gcs) != 1 || gcs[0].GoldenID != g9 || gcs[0].Status != "ACTIVE" || *gcs[0].Email != "ola@fjord.no" ||
		*gcs[0].FullName != "Ola Nordmann" || !slices.Equal(gcs[0].Members, []string{"C9"}) {
		t.Errorf("golden contacts = %+v", gcs)
	}
	if g9 == g {
		t.Error("Fjord Shipping merged into Müller")
	}

	// Hierarchy across match blocks: an Austrian subsidiary of A1 (German).
	e.in.Value(contracts.TopicCRMAccountV1, "A2", account("A2", "Müller Maschinenbau Austria GmbH", 7, func(a *contracts.Account) {
		a.ParentAccountID, a.Status = str("A1"), contracts.AccountStatusCustomer
		a.BillingAddress = addr("Ring 1", "Wien", "1010", "AT")
	}))
	recs = c.waitFor(t, "parent of A2's golden record", wait, func(r []out) bool {
		if !has(contracts.TopicMDMXrefV1, "CRM:A2")(r) {
			return false
		}
		p := e.lastGolden(r, e.xref(r, "CRM:A2").GoldenID).ParentGoldenID
		return p != nil && *p == g
	})
	g2 := e.xref(recs, "CRM:A2").GoldenID
	if b, _ := golden.BlockOfID(g2); b != "AT" || g2 == g {
		t.Errorf("A2's golden %s: want its own record in block AT", g2)
	}
	// Its ERP customer arrives (answering the CREATE): the ERP is told the
	// parent's ERP customer number.
	e.in.Value(contracts.TopicERPCustomerV1, "100077", customer("100077", "Müller Maschinenbau Austria GmbH", 8, func(x *contracts.Customer) {
		x.GoldenID, x.BillingAddress = &g2, addr("Ring 1", "Wien", "1010", "AT")
	}))
	c.waitFor(t, "parent UPDATE to ERP 100077", wait, func(r []out) bool {
		for _, o := range find(r, contracts.TopicERPCustomerCommandsV1, g2) {
			var cmd contracts.CustomerCommand
			e.decode(o, &cmd)
			if cmd.Action == "UPDATE" && cmd.ERPCustomerID != nil && *cmd.ERPCustomerID == "100077" &&
				cmd.ParentERPCustomerID != nil && *cmd.ParentERPCustomerID == "100042" && slices.Contains(cmd.ChangedFields, "parent_erp_customer_id") {
				return true
			}
		}
		return false
	})

	// Every output's metadata: deterministic ids, causation = input event id.
	ids := map[string]bool{}
	for _, o := range c.snapshot() {
		if o.Topic == processor.ChangelogTopic(Name, Store) || o.Topic == contracts.TopicDlqCustomerSyncV1 || o.Topic == TopicMatch ||
			o.Topic == TopicRoute || o.Topic == processor.ChangelogTopic(Name, RouteStore) {
			continue
		}
		v, err := newOutput(o.Topic)
		if err != nil {
			t.Fatal(err)
		}
		e.decode(o, v)
		md := metadataOf(v)
		if ids[md.EventID] {
			t.Errorf("duplicate event id %s", md.EventID)
		}
		ids[md.EventID] = true
		if md.CausationID == nil || md.SourceSystem != contracts.SourceSystemCustomerSync || md.CorrelationID == "" {
			t.Errorf("%s %s metadata = %+v", o.Topic, o.Key, md)
		}
	}
}

// TestConcurrentNearDuplicates: two near-identical accounts produced at the
// same moment to different partitions of crm.account.v1 become exactly one
// golden record.
func TestConcurrentNearDuplicates(t *testing.T) {
	e := newEnv(t)
	c := e.collect()
	// Both are written before the service starts, to partitions 1 and 4:
	// the re-key stage sees them in one poll, on two partitions.
	e.toPartition(1, contracts.TopicCRMAccountV1, "B-100", account("B-100", "Globex Corporation", 1, func(a *contracts.Account) {
		a.Website, a.BillingAddress = str("https://globex.com"), addr("1 Main St", "Springfield", "62701", "US")
	}))
	e.toPartition(4, contracts.TopicCRMAccountV1, "B-200", account("B-200", "Globex Corp.", 1, func(a *contracts.Account) {
		a.Website, a.BillingAddress = str("www.globex.com/about"), addr("1 Main Street", "Springfield", "62701", "US")
	}))
	e.start("0")
	recs := c.waitFor(t, "both xrefs", 90*time.Second, func(r []out) bool {
		return has(contracts.TopicMDMXrefV1, "CRM:B-100")(r) && has(contracts.TopicMDMXrefV1, "CRM:B-200")(r)
	})
	a, b := e.xref(recs, "CRM:B-100"), e.xref(recs, "CRM:B-200")
	if a.GoldenID != b.GoldenID {
		t.Fatalf("two golden records for one company: %s and %s", a.GoldenID, b.GoldenID)
	}
	goldens := map[string]bool{}
	for _, o := range recs {
		if o.Topic == contracts.TopicMDMCustomerV1 {
			goldens[o.Key] = true
		}
	}
	if len(goldens) != 1 {
		t.Errorf("golden records published: %v, want exactly one", goldens)
	}
	if g := e.lastGolden(recs, a.GoldenID); len(g.Members) != 2 {
		t.Errorf("members = %+v", g.Members)
	}
}

// TestBadInput: each kind of bad input has its documented outcome and the
// partition keeps flowing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.collect()
	e.start("0")
	const p = 2 // every record on one partition: later good records prove it flows
	unknownID := []byte{0, 0x7f, 0xff, 0xff, 0xf0, 2, 'x'}
	binary.BigEndian.PutUint32(unknownID[1:5], 0x7ffffff0)
	bad := []struct {
		key    string
		value  func() []byte
		reason string
	}{
		{"X-NONAME", e.enc(contracts.TopicCRMAccountV1, account("X-NONAME", "", 1, nil)), "validation"},
		{"X-COUNTRY", e.enc(contracts.TopicCRMAccountV1, account("X-COUNTRY", "Acme GmbH", 2, func(a *contracts.Account) {
			a.BillingAddress = addr("x", "y", "1", "Germany")
		})), "validation"},
		{"X-EMAIL", e.enc(contracts.TopicCRMAccountV1, account("X-EMAIL", "Acme GmbH", 3, func(a *contracts.Account) { a.Email = str("not-an-email") })), "validation"},
		{"X-PHONE", e.enc(contracts.TopicCRMAccountV1, account("X-PHONE", "Acme GmbH", 4, func(a *contracts.Account) { a.Phone = str("12") })), "validation"},
		{"X-TAX", e.enc(contracts.TopicCRMAccountV1, account("X-TAX", "Acme GmbH", 5, func(a *contracts.Account) {
			a.TaxID, a.BillingAddress = str("DE12345"), addr("x", "y", "10115", "DE")
		})), "validation"},
		{"X-SCHEMA", func() []byte { return unknownID }, ""},
	}
	for _, b := range bad {
		e.manual.Records(&kgo.Record{Topic: contracts.TopicCRMAccountV1, Key: []byte(b.key), Value: b.value(), Partition: p})
	}
	// A contact for an account that arrives later, then the good account.
	e.toPartition(p, contracts.TopicCRMContactV1, "OK-1", contact("K1", "OK-1", "Smith", 6, func(x *contracts.Contact) { x.Email = str("j.smith@initech.com") }))
	e.toPartition(p, contracts.TopicCRMAccountV1, "OK-1", account("OK-1", "Initech LLC", 7, func(a *contracts.Account) {
		a.Website = str("initech.com")
	}))

	c.waitFor(t, "good account after the bad ones", 90*time.Second, has(contracts.TopicMDMXrefV1, "CRM:OK-1"))
	recs := c.waitFor(t, "six DLQ records", 30*time.Second, func(r []out) bool {
		n := 0
		for _, o := range r {
			if o.Topic == contracts.TopicDlqCustomerSyncV1 {
				n++
			}
		}
		return n >= len(bad)
	})
	dlq := map[string]out{}
	for _, o := range recs {
		if o.Topic == contracts.TopicDlqCustomerSyncV1 {
			dlq[o.Key] = o
		}
	}
	for _, b := range bad {
		o, ok := dlq[b.key]
		if !ok {
			t.Errorf("%s: not dead-lettered", b.key)
			continue
		}
		h := o.Headers
		if h[catalog.DLQHeaderTopic] != contracts.TopicCRMAccountV1 || h[catalog.DLQHeaderPartition] != "2" || h[catalog.DLQHeaderErrorClass] != "poison" ||
			h[catalog.DLQHeaderService] != Name || h[catalog.DLQHeaderErrorMessage] == "" || string(o.Value) != string(b.value()) {
			t.Errorf("%s: DLQ headers %v", b.key, h)
		}
		if b.reason != "" && h[catalog.DLQHeaderErrorReason] != b.reason {
			t.Errorf("%s: reason %q, want %q (%s)", b.key, h[catalog.DLQHeaderErrorReason], b.reason, h[catalog.DLQHeaderErrorMessage])
		}
		t.Logf("%s → DLQ %s/%s: %s", b.key, h[catalog.DLQHeaderErrorClass], h[catalog.DLQHeaderErrorReason], h[catalog.DLQHeaderErrorMessage])
	}
	g := e.xref(recs, "CRM:OK-1").GoldenID
	c.waitFor(t, "parked contact applied", 30*time.Second, func(r []out) bool {
		for _, o := range find(r, contracts.TopicAuditFieldChangeV1, g) {
			var a contracts.FieldChange
			e.decode(o, &a)
			if a.Field == "contacts/K1" && a.Outcome == "APPLIED" {
				return true
			}
		}
		return false
	})
}

func (e *env) enc(topic string, v serde.Record) func() []byte {
	e.t.Helper()
	b := e.in.Encode(topic, v)
	return func() []byte { return b }
}
