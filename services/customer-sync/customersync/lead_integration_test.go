//go:build integration

package customersync

import (
	"slices"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
	"github.com/isthmus/isthmus/services/customer-sync/internal/territory"
)

// Lead-to-account on the real broker (issue 19): lead conversion, the
// company hierarchy from CRM and ERP parents, and territory rules.

func (e *env) leadUpdate(recs []out, id string) *contracts.LeadUpdate {
	e.t.Helper()
	all := find(recs, contracts.TopicCRMLeadUpdatesV1, id)
	if len(all) != 1 {
		e.t.Fatalf("lead %s: %d updates, want 1", id, len(all))
	}
	var u contracts.LeadUpdate
	e.decode(all[0], &u)
	return &u
}

// TestLeadToAccount: a qualified lead of a new company is NEW_ACCOUNT, and
// the account CRM creates from it becomes its own golden record; a
// qualified lead of an existing customer is EXISTING_CUSTOMER with that
// golden record, its CRM account and ERP customer, and creates nothing; an
// open lead is not for customer-sync.
func TestLeadToAccount(t *testing.T) {
	e := newEnv(t)
	c := e.collect(contracts.TopicCRMLeadUpdatesV1)
	e.start("0")
	const wait = 90 * time.Second

	e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Acme Maschinenbau GmbH", 1, func(a *contracts.Account) {
		a.Website, a.BillingAddress = str("https://acme-mb.de"), addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	recs := c.waitFor(t, "xref CRM:A1", wait, has(contracts.TopicMDMXrefV1, "CRM:A1"))
	acme := e.xref(recs, "CRM:A1").GoldenID
	e.in.Value(contracts.TopicERPCustomerV1, "100042", customer("100042", "Acme Maschinenbau GmbH", 2, func(x *contracts.Customer) {
		x.GoldenID, x.TaxID = str(acme), str("DE123456789")
		x.BillingAddress = addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	c.waitFor(t, "xref ERP:100042", wait, has(contracts.TopicMDMXrefV1, "ERP:100042"))

	// The duplicate lead, typed differently by a sales rep.
	e.in.Value(contracts.TopicCRMLeadV1, "L1", lead("L1", "ACME Maschinenbau", 3, func(l *contracts.Lead) {
		l.Website, l.Country, l.Email, l.ContactName = str("www.acme-mb.de"), str("de"), str("jana@acme-mb.de"), str("Jana Roth")
	}))
	e.in.Value(contracts.TopicCRMLeadV1, "L2", lead("L2", "Brightwater Analytics", 4, func(l *contracts.Lead) {
		l.Website, l.Country = str("brightwater.io"), str("DE")
	}))
	e.in.Value(contracts.TopicCRMLeadV1, "L3", lead("L3", "Acme Maschinenbau", 5, func(l *contracts.Lead) { l.Status = contracts.LeadStatusOpen }))
	recs = c.waitFor(t, "lead updates", wait, func(r []out) bool {
		return has(contracts.TopicCRMLeadUpdatesV1, "L1")(r) && has(contracts.TopicCRMLeadUpdatesV1, "L2")(r)
	})
	u1 := e.leadUpdate(recs, "L1")
	if u1.Outcome != contracts.LeadConversionOutcomeExistingCustomer || *u1.GoldenID != acme || *u1.AccountID != "A1" || *u1.ERPCustomerID != "100042" {
		t.Errorf("duplicate lead: %+v", u1)
	}
	u2 := e.leadUpdate(recs, "L2")
	if u2.Outcome != contracts.LeadConversionOutcomeNewAccount || u2.GoldenID != nil {
		t.Errorf("new lead: %+v", u2)
	}

	// CRM converts L2 into a new account: a golden record of its own.
	e.in.Value(contracts.TopicCRMAccountV1, "A2", account("A2", "Brightwater Analytics", 6, func(a *contracts.Account) {
		a.Website, a.BillingAddress = str("brightwater.io"), addr("Leopoldstr. 1", "München", "80802", "DE")
	}))
	recs = e.settle(c, 3*time.Second, wait)
	if g := e.xref(recs, "CRM:A2").GoldenID; g == acme {
		t.Errorf("the converted account merged into %s", g)
	}
	if n := len(find(recs, contracts.TopicCRMLeadUpdatesV1, "L3")); n != 0 {
		t.Errorf("an open lead was answered %d times", n)
	}
	// The duplicate lead created nothing: Acme still has its two members.
	if g := e.lastGolden(recs, acme); len(g.Members) != 2 {
		t.Errorf("acme members: %+v", g.Members)
	}
}

func exceptionsOfKind(e *env, recs []out, kind string) []*contracts.OperationalException {
	var es []*contracts.OperationalException
	for _, o := range recs {
		if o.Topic != contracts.TopicOpsExceptionsV1 {
			continue
		}
		var x contracts.OperationalException
		e.decode(o, &x)
		if x.Context["kind"] == kind {
			es = append(es, &x)
		}
	}
	return es
}

func parentOfGolden(e *env, recs []out, id string) string {
	g := e.lastGolden(recs, id)
	if g.ParentGoldenID == nil {
		return ""
	}
	return *g.ParentGoldenID
}

// TestHierarchyThreeLevels: a CRM parent account and an ERP parent customer
// build top ← mid ← leaf; the leaf's CRM account hears its parent account
// (the ERP named it); the mid's CRM parent changes and the golden parent
// follows.
func TestHierarchyThreeLevels(t *testing.T) {
	e := newEnv(t)
	c := e.collect()
	e.start("0")
	const wait = 120 * time.Second

	e.in.Value(contracts.TopicCRMAccountV1, "TOP", account("TOP", "Globex Holding AG", 1, func(a *contracts.Account) {
		a.BillingAddress = addr("Bahnhofstr. 1", "Zürich", "8001", "CH")
	}))
	e.in.Value(contracts.TopicCRMAccountV1, "MID", account("MID", "Globex Europe GmbH", 2, func(a *contracts.Account) {
		a.ParentAccountID, a.BillingAddress = str("TOP"), addr("Ring 1", "Wien", "1010", "AT")
	}))
	recs := c.waitFor(t, "xrefs of TOP and MID", wait, func(r []out) bool {
		return has(contracts.TopicMDMXrefV1, "CRM:TOP")(r) && has(contracts.TopicMDMXrefV1, "CRM:MID")(r)
	})
	top, mid := e.xref(recs, "CRM:TOP").GoldenID, e.xref(recs, "CRM:MID").GoldenID
	// The ERP knows the mid company as customer 300001 and has its Austrian
	// subsidiary 300002 under it.
	e.in.Value(contracts.TopicERPCustomerV1, "300001", customer("300001", "Globex Europe GmbH", 3, func(x *contracts.Customer) {
		x.GoldenID, x.BillingAddress = str(mid), addr("Ring 1", "Wien", "1010", "AT")
	}))
	e.in.Value(contracts.TopicERPCustomerV1, "300002", customer("300002", "Globex Austria Services GmbH", 4, func(x *contracts.Customer) {
		x.ParentERPCustomerID, x.TaxID, x.BillingAddress = str("300001"), str("ATU12345678"), addr("Gasse 2", "Graz", "8010", "AT")
	}))
	recs = c.waitFor(t, "xref ERP:300002", wait, has(contracts.TopicMDMXrefV1, "ERP:300002"))
	leaf := e.xref(recs, "ERP:300002").GoldenID
	// The CRM gets an account for the subsidiary (it merges by tax id and name).
	e.in.Value(contracts.TopicCRMAccountV1, "LEAF", account("LEAF", "Globex Austria Services GmbH", 5, func(a *contracts.Account) {
		a.TaxID, a.BillingAddress = str("ATU 1234 5678"), addr("Gasse 2", "Graz", "8010", "AT")
	}))
	recs = c.waitFor(t, "three levels", wait, func(r []out) bool {
		return has(contracts.TopicMDMXrefV1, "CRM:LEAF")(r) && parentOfGolden(e, r, leaf) == mid && parentOfGolden(e, r, mid) == top
	})
	if g := e.xref(recs, "CRM:LEAF").GoldenID; g != leaf {
		t.Fatalf("CRM:LEAF is %s, want the ERP subsidiary's %s", g, leaf)
	}
	if p := parentOfGolden(e, recs, top); p != "" {
		t.Errorf("top has parent %s", p)
	}
	c.waitFor(t, "CRM told LEAF its parent account MID", wait, func(r []out) bool {
		for _, o := range find(r, contracts.TopicCRMAccountUpdatesV1, "LEAF") {
			var u contracts.AccountUpdate
			e.decode(o, &u)
			if u.ParentAccountID != nil && *u.ParentAccountID == "MID" && slices.Contains(u.ChangedFields, "parent_account_id") {
				return true
			}
		}
		return false
	})

	// The mid company moves under a new group.
	e.in.Value(contracts.TopicCRMAccountV1, "TOP2", account("TOP2", "Initech Group SE", 6, func(a *contracts.Account) {
		a.BillingAddress = addr("Platz 1", "Berlin", "10115", "DE")
	}))
	e.in.Value(contracts.TopicCRMAccountV1, "MID", account("MID", "Globex Europe GmbH", 7, func(a *contracts.Account) {
		a.ParentAccountID, a.BillingAddress = str("TOP2"), addr("Ring 1", "Wien", "1010", "AT")
	}))
	recs = c.waitFor(t, "xref CRM:TOP2", wait, has(contracts.TopicMDMXrefV1, "CRM:TOP2"))
	top2 := e.xref(recs, "CRM:TOP2").GoldenID
	recs = c.waitFor(t, "mid under TOP2", wait, func(r []out) bool { return parentOfGolden(e, r, mid) == top2 })
	if parentOfGolden(e, recs, leaf) != mid {
		t.Errorf("leaf lost its parent")
	}
	if n := len(exceptionsOfKind(e, e.settle(c, 3*time.Second, wait), golden.HierarchyCycle)); n != 0 {
		t.Errorf("%d cycle exceptions in a tree", n)
	}
}

// TestHierarchyCycle: two CRM accounts naming each other as parent: one
// HIERARCHY_CYCLE exception for master data (INVALID_MASTER_DATA), and no
// golden record ends up its own ancestor.
func TestHierarchyCycle(t *testing.T) {
	e := newEnv(t)
	c := e.collect()
	e.start("0")
	const wait = 90 * time.Second
	e.in.Value(contracts.TopicCRMAccountV1, "X", account("X", "Xylo Trading GmbH", 1, func(a *contracts.Account) {
		a.ParentAccountID, a.BillingAddress = str("Y"), addr("Weg 1", "Köln", "50667", "DE")
	}))
	e.in.Value(contracts.TopicCRMAccountV1, "Y", account("Y", "Yonder Logistics GmbH", 2, func(a *contracts.Account) {
		a.ParentAccountID, a.BillingAddress = str("X"), addr("Weg 2", "Bonn", "53111", "DE")
	}))
	c.waitFor(t, "a cycle exception", wait, func(r []out) bool { return len(exceptionsOfKind(e, r, golden.HierarchyCycle)) > 0 })
	recs := e.settle(c, 3*time.Second, wait)
	cycles := exceptionsOfKind(e, recs, golden.HierarchyCycle)
	if len(cycles) != 1 || cycles[0].Category != contracts.ExceptionCategoryInvalidMasterData || cycles[0].Queue != contracts.ExceptionQueueMasterData {
		t.Fatalf("cycle exceptions: %+v", cycles)
	}
	x, y := e.xref(recs, "CRM:X").GoldenID, e.xref(recs, "CRM:Y").GoldenID
	px, py := parentOfGolden(e, recs, x), parentOfGolden(e, recs, y)
	if px == y && py == x || px == x || py == y {
		t.Errorf("the cycle is in the golden records: parent(X)=%q parent(Y)=%q", px, py)
	}
	t.Logf("cycle: %s; parent(X)=%q parent(Y)=%q", cycles[0].Summary, px, py)
}

// TestTerritoryRuleChange: territory rules assign the territory and push it
// to CRM; after a restart with a new rules version, the changed territory
// is pushed to CRM exactly once.
func TestTerritoryRuleChange(t *testing.T) {
	e := newEnv(t)
	c := e.collect()
	cfg := golden.DefaultConfig()
	var err error
	if cfg.Territory, err = territory.Parse([]byte("version: v1\nrules:\n  - {territory: DACH, countries: [DE, AT, CH]}\n")); err != nil {
		t.Fatal(err)
	}
	stop := e.startWith("0", cfg)
	const wait = 90 * time.Second
	e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Acme Maschinenbau GmbH", 1, func(a *contracts.Account) {
		a.Employees, a.BillingAddress = new(int), addr("Hauptstr. 5", "München", "80331", "DE")
		*a.Employees = 5000
	}))
	territories := func(r []out, want string) int {
		n := 0
		for _, o := range find(r, contracts.TopicCRMAccountUpdatesV1, "A1") {
			var u contracts.AccountUpdate
			e.decode(o, &u)
			if u.Territory != nil && *u.Territory == want && slices.Contains(u.ChangedFields, "territory") {
				n++
			}
		}
		return n
	}
	c.waitFor(t, "territory DACH pushed", wait, func(r []out) bool { return territories(r, "DACH") > 0 })
	stop()

	if cfg.Territory, err = territory.Parse([]byte("version: v2\nrules:\n  - {territory: DACH-ENTERPRISE, countries: [DE], min_employees: 1000}\n  - {territory: DACH, countries: [DE, AT, CH]}\n")); err != nil {
		t.Fatal(err)
	}
	e.startWith("1", cfg)
	for i, owner := range []string{"u7", "u8"} {
		e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Acme Maschinenbau GmbH", 2+i, func(a *contracts.Account) {
			a.Employees, a.OwnerID, a.BillingAddress = new(int), str(owner), addr("Hauptstr. 5", "München", "80331", "DE")
			*a.Employees = 5000
		}))
	}
	c.waitFor(t, "territory DACH-ENTERPRISE pushed", wait, func(r []out) bool { return territories(r, "DACH-ENTERPRISE") > 0 })
	recs := e.settle(c, 3*time.Second, wait)
	if n1, n2 := territories(recs, "DACH"), territories(recs, "DACH-ENTERPRISE"); n1 != 1 || n2 != 1 {
		t.Errorf("territory pushes: DACH %d, DACH-ENTERPRISE %d; want 1 each", n1, n2)
	}
	g := e.lastGolden(recs, e.xref(recs, "CRM:A1").GoldenID)
	if g.Territory == nil || *g.Territory != "DACH-ENTERPRISE" || g.TerritoryRulesVersion == nil || *g.TerritoryRulesVersion != "v2" {
		t.Errorf("golden territory %v version %v", g.Territory, g.TerritoryRulesVersion)
	}
}
