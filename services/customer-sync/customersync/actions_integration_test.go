//go:build integration

package customersync

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/customer-sync/internal/adapter"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
)

// exceptions decodes every ops.exceptions.v1 record collected.
func (e *env) exceptions(recs []out) []contracts.OperationalException {
	var xs []contracts.OperationalException
	for _, o := range recs {
		if o.Topic == contracts.TopicOpsExceptionsV1 {
			var x contracts.OperationalException
			e.decode(o, &x)
			xs = append(xs, x)
		}
	}
	return xs
}

// decide publishes a steward's decision on ops.decisions.v1, keyed by the
// exception id (what the operations API does once it checked the role).
func (e *env) decide(exceptionID, decisionID, action string, params map[string]string) {
	e.t.Helper()
	if params == nil {
		params = map[string]string{}
	}
	md := meta("decision-"+decisionID, 100)
	md.SourceSystem = contracts.SourceSystemOperator
	e.in.Value(contracts.TopicOpsDecisionsV1, exceptionID, &contracts.Decision{Metadata: md, DecisionID: decisionID, ExceptionID: exceptionID,
		OwnerService: golden.Owner.Service, Action: action, Actor: "steward@example.com", Parameters: params, ApprovedBy: []string{}})
}

// TestStewardActions: on the real broker, each steward action on an
// ownership conflict (PICK_SURVIVOR, SPLIT, DISMISS) and on a probable
// duplicate (MERGE, NOT_DUPLICATE) changes the golden records once and
// answers the exception (decision_id); a refused decision comes back OPEN
// and nothing is dead-lettered; a repeated decision is a no-op.
func TestStewardActions(t *testing.T) {
	e := newEnv(t)
	c := e.collect()
	e.start("0")
	const wait = 90 * time.Second
	exceptionOf := func(category string, n int) func([]out) bool {
		return func(recs []out) bool {
			k := 0
			for _, x := range e.exceptions(recs) {
				if x.Category == category && x.Status == contracts.ExceptionStatusOpen && x.DecisionID == nil {
					k++
				}
			}
			return k >= n
		}
	}
	answered := func(id, status, decision string) func([]out) bool {
		return func(recs []out) bool {
			return slices.Contains(testinfra.ExceptionUpdates(e.exceptions(recs), id), status+"/"+decision)
		}
	}

	// A1 and its ERP customer 100042 in one golden record.
	e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 1, func(a *contracts.Account) {
		a.Status, a.ShippingAddress = contracts.AccountStatusCustomer, addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	recs := c.waitFor(t, "xref CRM:A1", wait, has(contracts.TopicMDMXrefV1, "CRM:A1"))
	g := e.xref(recs, "CRM:A1").GoldenID
	var cmd contracts.CustomerCommand
	e.decode(find(recs, contracts.TopicERPCustomerCommandsV1, g)[0], &cmd)
	e.in.Value(contracts.TopicERPCustomerV1, "100042", customer("100042", "Müller Maschinenbau GmbH", 2, func(x *contracts.Customer) {
		x.GoldenID, x.CommandID = &g, &cmd.CommandID
		x.LegalName, x.TaxID, x.PaymentTerms = str("Müller Maschinenbau GmbH"), str("DE 123 456 789"), str("NET30")
		x.BillingAddress = addr("Marienplatz 1", "München", "80331", "DE")
	}))
	c.waitFor(t, "xref ERP:100042", wait, has(contracts.TopicMDMXrefV1, "ERP:100042"))

	// CRM changes the ERP-owned tax id: an ownership conflict.
	e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 3, func(a *contracts.Account) {
		a.TaxID, a.Status = str("DE999999999"), contracts.AccountStatusCustomer
	}))
	recs = c.waitFor(t, "ownership conflict", wait, exceptionOf("OWNERSHIP_CONFLICT", 1))
	var conflict contracts.OperationalException
	for _, x := range e.exceptions(recs) {
		if x.Category == "OWNERSHIP_CONFLICT" {
			conflict = x
		}
	}
	if want := adapter.AllowedActions("OWNERSHIP_CONFLICT"); strings.Join(conflict.AllowedActions, ",") != strings.Join(want, ",") {
		t.Errorf("allowed actions %v, want %v", conflict.AllowedActions, want)
	}

	t.Run("PICK_SURVIVOR", func(t *testing.T) {
		e.decide(conflict.ExceptionID, "pick-0", "PICK_SURVIVOR", map[string]string{"value": "DE111222333"}) // no field
		recs := c.waitFor(t, "refusal of pick-0", wait, answered(conflict.ExceptionID, "OPEN", "pick-0"))
		for _, x := range e.exceptions(recs) {
			if x.DecisionID != nil && *x.DecisionID == "pick-0" && !strings.Contains(x.Context["outcome"], "needs the parameters") {
				t.Errorf("refusal context %v", x.Context)
			}
		}
		e.decide(conflict.ExceptionID, "pick-1", "PICK_SURVIVOR", map[string]string{"field": "tax_id", "value": "DE111222333"})
		recs = c.waitFor(t, "pick-1 resolved", wait, answered(conflict.ExceptionID, "RESOLVED", "pick-1"))
		if gold := e.lastGolden(recs, g); gold.TaxID == nil || *gold.TaxID != "DE111222333" {
			t.Errorf("golden tax id %v after PICK_SURVIVOR", gold.TaxID)
		}
		e.decide(conflict.ExceptionID, "pick-1", "PICK_SURVIVOR", map[string]string{"field": "tax_id", "value": "DE111222333"})
		e.decide(conflict.ExceptionID, "pick-2", "PICK_SURVIVOR", map[string]string{"field": "tax_id", "value": "DE444555666"})
		recs = e.settle(c, 3*time.Second, wait)
		if u := strings.Join(testinfra.ExceptionUpdates(e.exceptions(recs), conflict.ExceptionID), ","); u != "OPEN/,OPEN/pick-0,RESOLVED/pick-1" {
			t.Errorf("exception updates %s", u)
		}
		if gold := e.lastGolden(recs, g); *gold.TaxID != "DE111222333" {
			t.Errorf("a decision on a settled conflict changed the tax id to %s", *gold.TaxID)
		}
	})

	t.Run("SPLIT", func(t *testing.T) {
		// Another conflict on the same record: the ERP customer is not this party.
		e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 4, func(a *contracts.Account) {
			a.TaxID, a.Status = str("DE777777777"), contracts.AccountStatusCustomer
		}))
		recs := c.waitFor(t, "second conflict", wait, exceptionOf("OWNERSHIP_CONFLICT", 2))
		var second contracts.OperationalException
		for _, x := range e.exceptions(recs) {
			if x.Category == "OWNERSHIP_CONFLICT" && x.ExceptionID != conflict.ExceptionID && x.DecisionID == nil {
				second = x
			}
		}
		e.decide(second.ExceptionID, "split-1", "SPLIT", map[string]string{"system": "ERP", "record_id": "100042"})
		c.waitFor(t, "split-1 resolved", wait, answered(second.ExceptionID, "RESOLVED", "split-1"))
		recs = c.waitFor(t, "ERP:100042 re-pointed", wait, func(r []out) bool { return e.xref(r, "ERP:100042").GoldenID != g })
		ng := e.xref(recs, "ERP:100042").GoldenID
		if e.xref(recs, "CRM:A1").GoldenID != g {
			t.Errorf("CRM:A1 moved too")
		}
		e.decide(second.ExceptionID, "split-1", "SPLIT", map[string]string{"system": "ERP", "record_id": "100042"})
		recs = e.settle(c, 3*time.Second, wait)
		if u := strings.Join(testinfra.ExceptionUpdates(e.exceptions(recs), second.ExceptionID), ","); u != "OPEN/,RESOLVED/split-1" {
			t.Errorf("exception updates %s", u)
		}
		if e.xref(recs, "ERP:100042").GoldenID != ng {
			t.Error("the repeated split moved the ERP customer again")
		}
	})

	t.Run("MERGE and NOT_DUPLICATE on probable duplicates", func(t *testing.T) {
		for i, a := range []struct{ id, name, postal string }{
			{"N1", "Fjord Shipping AS", ""}, {"N2", "Fjord Cargo Shipping", "0150"},
			{"N3", "Nordlys Shipping AS", ""}, {"N4", "Nordlys Cargo Shipping", "0150"},
		} {
			e.in.Value(contracts.TopicCRMAccountV1, a.id, account(a.id, a.name, 10+i, func(x *contracts.Account) {
				x.BillingAddress = addr("Havnegata 1", "Oslo", "0150", "NO")
				if a.postal == "" {
					x.Website = str(strings.ToLower(strings.ReplaceAll(strings.Fields(a.name)[0], "ø", "o")) + "shipping.no")
				}
			}))
		}
		recs := c.waitFor(t, "two probable duplicates", wait, exceptionOf("PROBABLE_DUPLICATE", 2))
		var dups []contracts.OperationalException
		for _, x := range e.exceptions(recs) {
			if x.Category == "PROBABLE_DUPLICATE" && x.DecisionID == nil {
				dups = append(dups, x)
			}
		}
		merge, notDup := dups[0], dups[1]
		gm, gc := merge.EntityIds["golden_id"], merge.EntityIds["candidate_golden_id"]
		e.decide(merge.ExceptionID, "merge-1", "MERGE", map[string]string{"survivor_golden_id": gc, "merged_golden_id": gm})
		gn, gnc := notDup.EntityIds["golden_id"], notDup.EntityIds["candidate_golden_id"]
		e.decide(notDup.ExceptionID, "nd-1", "NOT_DUPLICATE", map[string]string{"golden_id": gn, "other_golden_id": gnc})
		c.waitFor(t, "merge-1 resolved", wait, answered(merge.ExceptionID, "RESOLVED", "merge-1"))
		c.waitFor(t, "nd-1 resolved", wait, answered(notDup.ExceptionID, "RESOLVED", "nd-1"))
		e.decide(merge.ExceptionID, "merge-1", "MERGE", map[string]string{"survivor_golden_id": gc, "merged_golden_id": gm})
		e.decide(merge.ExceptionID, "merge-2", "MERGE", map[string]string{"survivor_golden_id": gc, "merged_golden_id": gm})
		e.decide(notDup.ExceptionID, "nd-2", "NOT_DUPLICATE", map[string]string{"golden_id": gn, "other_golden_id": gnc})
		recs = e.settle(c, 3*time.Second, wait)
		for id, want := range map[string]string{merge.ExceptionID: "OPEN/,RESOLVED/merge-1", notDup.ExceptionID: "OPEN/,RESOLVED/nd-1"} {
			if u := strings.Join(testinfra.ExceptionUpdates(e.exceptions(recs), id), ","); u != want {
				t.Errorf("exception %s updates %s, want %s", id, u, want)
			}
		}
		if got := fmt.Sprint(len(find(recs, contracts.TopicDlqCustomerSyncV1, merge.ExceptionID))); got != "0" {
			t.Errorf("%s decisions dead-lettered", got)
		}
	})

	t.Run("DISMISS and a refused action", func(t *testing.T) {
		e.in.Value(contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 20, func(a *contracts.Account) {
			a.TaxID, a.Status = str("DE555555555"), contracts.AccountStatusCustomer
		}))
		recs := c.waitFor(t, "third conflict", wait, exceptionOf("OWNERSHIP_CONFLICT", 3))
		var third contracts.OperationalException
		for _, x := range e.exceptions(recs) {
			if x.Category == "OWNERSHIP_CONFLICT" && x.DecisionID == nil {
				third = x
			}
		}
		e.decide(third.ExceptionID, "x-1", "MERGE", nil)
		e.decide(third.ExceptionID, "x-2", "DISMISS", nil)
		e.decide(third.ExceptionID, "x-3", "DISMISS", nil)
		c.waitFor(t, "x-2 closed", wait, answered(third.ExceptionID, "CLOSED", "x-2"))
		recs = e.settle(c, 3*time.Second, wait)
		if u := strings.Join(testinfra.ExceptionUpdates(e.exceptions(recs), third.ExceptionID), ","); u != "OPEN/,OPEN/x-1,CLOSED/x-2" {
			t.Errorf("exception updates %s", u)
		}
		for _, o := range recs {
			if o.Topic == contracts.TopicDlqCustomerSyncV1 {
				t.Errorf("dead-lettered: %s %s", o.Key, o.Headers)
			}
		}
	})
}
