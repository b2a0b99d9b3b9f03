package traffic

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

func run(t *testing.T, sc Scenario, seed uint64, n int) []Event {
	t.Helper()
	g, err := New(sc, seed, WithMinAccountAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var out []Event
	for i := 0; i < n; i++ {
		out = append(out, g.Next(now)...)
		now = now.Add(200 * time.Millisecond)
	}
	return out
}

func encoded(t *testing.T, evs []Event) []string {
	t.Helper()
	var out []string
	for _, e := range evs {
		b, err := e.Value.Marshal()
		if err != nil {
			t.Fatalf("%s %s: %v", e.Topic, e.Key, err)
		}
		out = append(out, e.Topic+"|"+e.Key+"|"+string(b))
	}
	return out
}

func TestDeterministicForSeed(t *testing.T) {
	for _, sc := range []Scenario{Manufacturer, SaaS, Mixed} {
		a, b := encoded(t, run(t, sc, 42, 300)), encoded(t, run(t, sc, 42, 300))
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("%s: same seed, different events (-a +b):\n%s", sc, diff)
		}
		if c := encoded(t, run(t, sc, 43, 300)); cmp.Equal(a, c) {
			t.Fatalf("%s: seeds 42 and 43 gave the same events", sc)
		}
	}
}

func TestScenarioMix(t *testing.T) {
	kinds := func(evs []Event) map[string]int {
		m := map[string]int{}
		for _, e := range evs {
			m[e.Kind]++
		}
		return m
	}
	man := kinds(run(t, Manufacturer, 7, 2000))
	for _, k := range []string{"account", "duplicate", "subsidiary", "contact", "quote", "lead", "lead-duplicate"} {
		if man[k] == 0 {
			t.Errorf("manufacturer made no %s: %v", k, man)
		}
	}
	if share := 100 * man["lead-duplicate"] / max(1, man["lead"]+man["lead-duplicate"]); share < 20 || share > 50 {
		t.Errorf("%d%% of leads are existing customers, want about 35%%: %v", share, man)
	}
	if man["deal-new"] != 0 {
		t.Errorf("manufacturer made deals: %v", man)
	}
	saas := kinds(run(t, SaaS, 7, 2000))
	for _, k := range []string{"account", "deal-new", "deal-amend", "deal-renew", "deal-cancel"} {
		if saas[k] == 0 {
			t.Errorf("saas made no %s: %v", k, saas)
		}
	}
	if saas["quote"] != 0 {
		t.Errorf("saas made quotes: %v", saas)
	}
}

// TestFlowInvariants checks what downstream services rely on: quotes and
// deals name accounts created at least the minimum age earlier, quote
// prices follow the price book unless discounted, totals add up, some lines
// ship to export-controlled countries, deal sequences go up by one per
// contract starting with NEW.
func TestFlowInvariants(t *testing.T) {
	created := map[string]time.Time{}
	seq := map[string]int{}
	lastChange, lastEnd := map[string]time.Time{}, map[string]time.Time{}
	exportLines := 0
	for _, e := range run(t, Mixed, 99, 3000) {
		switch v := e.Value.(type) {
		case *contracts.Account:
			if v.Metadata.OccurredAt.IsZero() || v.Metadata.EventID == "" {
				t.Fatalf("account %s without metadata", v.AccountID)
			}
			created[v.AccountID] = v.Metadata.OccurredAt
		case *contracts.Quote:
			at, ok := created[v.SoldToAccountID]
			if !ok || v.Metadata.OccurredAt.Sub(at) < time.Second {
				t.Fatalf("quote %s names account %s created at %v (ok=%v), quote at %v", v.QuoteID, v.SoldToAccountID, at, ok, v.Metadata.OccurredAt)
			}
			var total int64
			for _, l := range v.Lines {
				want, _ := TierPrice(l.SKU, v.Region, v.Currency, l.Quantity)
				if l.UnitPrice.AmountMinor > want || l.UnitPrice.Currency != v.Currency {
					t.Fatalf("quote %s line %d: unit %v above price book %d", v.QuoteID, l.LineNumber, l.UnitPrice, want)
				}
				if l.LineTotal.AmountMinor != l.UnitPrice.AmountMinor*l.Quantity {
					t.Fatalf("quote %s line %d: total %d != %d x %d", v.QuoteID, l.LineNumber, l.LineTotal.AmountMinor, l.Quantity, l.UnitPrice.AmountMinor)
				}
				for _, c := range ExportControlled {
					if l.ShipToCountry == c {
						exportLines++
					}
				}
				total += l.LineTotal.AmountMinor
			}
			if total != v.Total.AmountMinor {
				t.Fatalf("quote %s: total %d, lines add up to %d", v.QuoteID, v.Total.AmountMinor, total)
			}
		case *contracts.Deal:
			if _, ok := created[v.AccountID]; !ok {
				t.Fatalf("deal %s names unknown account %s", v.DealID, v.AccountID)
			}
			if v.AmendmentSequence != seq[v.ContractID]+1 && v.DealType != contracts.DealTypeNew {
				t.Fatalf("contract %s: sequence %d after %d", v.ContractID, v.AmendmentSequence, seq[v.ContractID])
			}
			if v.DealType == contracts.DealTypeNew && !v.EndDate.Equal(v.StartDate.AddDate(1, 0, -1)) {
				// end_date is inclusive: a twelve-month term, no one-day stub period.
				t.Fatalf("contract %s: term %s to %s is not twelve months", v.ContractID, v.StartDate, v.EndDate)
			}
			if (v.AmendmentSequence == 0) != (v.DealType == contracts.DealTypeNew) {
				t.Fatalf("contract %s: sequence %d is %s", v.ContractID, v.AmendmentSequence, v.DealType)
			}
			seq[v.ContractID] = v.AmendmentSequence
			// billing-bridge refuses a change effective before the last
			// applied one (a RENEW takes effect the day after the old
			// end_date, which is inclusive).
			eff := v.StartDate
			switch {
			case v.DealType == contracts.DealTypeRenew:
				eff = lastEnd[v.ContractID].AddDate(0, 0, 1)
			case v.EffectiveDate != nil:
				eff = *v.EffectiveDate
			}
			if eff.Before(lastChange[v.ContractID]) {
				t.Fatalf("contract %s seq %d (%s): effective %s before the last change %s", v.ContractID, v.AmendmentSequence, v.DealType, eff, lastChange[v.ContractID])
			}
			lastChange[v.ContractID], lastEnd[v.ContractID] = eff, v.EndDate
		}
	}
	if exportLines == 0 {
		t.Fatal("no line ships to an export-controlled country")
	}
}

func TestParseScenario(t *testing.T) {
	for in, want := range map[string]Scenario{"manufacturer": Manufacturer, "SaaS": SaaS, " mixed ": Mixed} {
		got, err := ParseScenario(in)
		if err != nil || got != want {
			t.Errorf("ParseScenario(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseScenario("retail"); err == nil {
		t.Error("retail accepted")
	}
	if _, err := New("retail", 1); err == nil {
		t.Error("New accepted an unknown scenario")
	}
}

func TestListPrice(t *testing.T) {
	tests := []struct {
		sku, region, cur string
		want             int64
	}{
		{"PUMP-100", "NA", "USD", 125000},
		{"PUMP-100", "EMEA", "EUR", 120800}, // 125000 * 1.05 * 0.92 = 120750 → 120800
		{"KIT-SEAL", "APAC", "JPY", 7940},   // 4900 * 1.08 = 5292 cents * 1.5 = 7938 yen → 7940
	}
	for _, tt := range tests {
		got, ok := ListPrice(tt.sku, tt.region, tt.cur)
		if !ok || got != tt.want {
			t.Errorf("ListPrice(%s,%s,%s) = %d,%v want %d", tt.sku, tt.region, tt.cur, got, ok, tt.want)
		}
	}
	if _, ok := ListPrice("NOPE", "NA", "USD"); ok {
		t.Error("unknown sku priced")
	}
	if p, _ := TierPrice("PUMP-100", "NA", "USD", 100); p != 106250 {
		t.Errorf("tier price for 100 = %d, want 106250", p)
	}
}

// TestTaxIDsFitTheirCountry: every account's tax id has its country's
// shape (the national formats customer-sync validates), or the account
// would be dead-lettered and its quotes never find an ERP customer.
func TestTaxIDsFitTheirCountry(t *testing.T) {
	shapes := map[string]*regexp.Regexp{
		"US": regexp.MustCompile(`^US\d{9}$`), "CA": regexp.MustCompile(`^CA\d{9}$`),
		"DE": regexp.MustCompile(`^DE\d{9}$`), "FR": regexp.MustCompile(`^FR\d{11}$`),
		"NL": regexp.MustCompile(`^NL\d{9}B\d{2}$`), "GB": regexp.MustCompile(`^GB\d{9}$`),
		"JP": regexp.MustCompile(`^JP\d{13}$`), "AU": regexp.MustCompile(`^AU\d{11}$`),
		"SG": regexp.MustCompile(`^SG\d{9}$`), "BR": regexp.MustCompile(`^BR\d{9}$`),
		"AR": regexp.MustCompile(`^AR\d{9}$`), "MX": regexp.MustCompile(`^MX\d{9}$`),
	}
	seen := map[string]int{}
	for _, e := range run(t, Mixed, 7, 3000) {
		a, ok := e.Value.(*contracts.Account)
		if !ok || a.TaxID == nil {
			continue
		}
		c := a.BillingAddress.Country
		re, ok := shapes[c]
		if !ok {
			t.Fatalf("account %s: no tax id shape for country %s", a.AccountID, c)
		}
		if !re.MatchString(*a.TaxID) {
			t.Errorf("account %s (%s): tax id %q does not match %s", a.AccountID, c, *a.TaxID, re)
		}
		seen[c]++
	}
	for _, c := range []string{"FR", "NL", "JP", "AU"} {
		if seen[c] == 0 {
			t.Errorf("no account in %s generated; the test checks nothing there", c)
		}
	}
}

// TestDuplicateCheck: with the CRM's duplicate check on every new account,
// an account the check names an existing account for is never created (the
// rep adds a contact to the existing one), nothing ever names it, and the
// accounts the check lets through are created as before.
func TestDuplicateCheck(t *testing.T) {
	byTax := map[string]string{} // tax id -> first account with it: the check's "golden record"
	asked, prevented := 0, 0
	check := func(a *contracts.Account) string {
		asked++
		if a.TaxID == nil {
			return ""
		}
		if first, ok := byTax[*a.TaxID]; ok {
			prevented++
			return first
		}
		byTax[*a.TaxID] = a.AccountID
		return ""
	}
	g, err := New(Mixed, 7, WithMinAccountAge(time.Second), WithDuplicateCheck(check, 10000))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	created := map[string]bool{}
	kinds := map[string]int{}
	for range 4000 {
		for _, e := range g.Next(now) {
			kinds[e.Kind]++
			switch v := e.Value.(type) {
			case *contracts.Account:
				if first, ok := byTax[contracts.Deref(v.TaxID)]; ok && e.Kind != "subsidiary" && first != v.AccountID {
					t.Fatalf("account %s created although the check named %s", v.AccountID, byTax[*v.TaxID])
				}
				created[v.AccountID] = true
			case *contracts.Lead:
			case *contracts.Contact:
				if !created[v.AccountID] {
					t.Fatalf("contact %s (%s) of account %s that was never created", v.ContactID, e.Kind, v.AccountID)
				}
			case *contracts.Quote:
				if !created[v.SoldToAccountID] {
					t.Fatalf("quote %s names account %s that was never created", v.QuoteID, v.SoldToAccountID)
				}
			case *contracts.Deal:
				if !created[v.AccountID] {
					t.Fatalf("deal %s names account %s that was never created", v.DealID, v.AccountID)
				}
			}
		}
		now = now.Add(200 * time.Millisecond)
	}
	if prevented == 0 || kinds["duplicate-prevented"] != prevented {
		t.Fatalf("prevented %d, duplicate-prevented events %d (kinds %v)", prevented, kinds["duplicate-prevented"], kinds)
	}
	if kinds["duplicate"] == 0 || kinds["account"] == 0 {
		t.Fatalf("duplicates without a tax id should still be created: kinds %v", kinds)
	}
	t.Logf("checked %d new accounts: %d prevented; kinds %v", asked, prevented, kinds)

	// No share, no call.
	g, _ = New(Mixed, 7, WithDuplicateCheck(func(*contracts.Account) string { t.Fatal("checked at 0 bps"); return "" }, 0))
	for range 500 {
		g.Next(now)
	}
}

// TestLeadConversion: CRM carries out customer-sync's answers to its leads —
// a new account from the lead (which quotes may then name), the lead's person
// as a contact of the existing account, nothing for REVIEW, for a lead it
// did not create, or for an answer delivered twice.
func TestLeadConversion(t *testing.T) {
	g, err := New(Manufacturer, 11, WithMinAccountAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var leads []*contracts.Lead
	accounts := map[string]*contracts.Account{}
	for len(leads) < 3 {
		for _, e := range g.Next(now) {
			switch v := e.Value.(type) {
			case *contracts.Lead:
				leads = append(leads, v)
			case *contracts.Account:
				accounts[v.AccountID] = v
			}
		}
		now = now.Add(200 * time.Millisecond)
	}
	var existing string
	for id := range accounts {
		existing = id
		break
	}
	answer := func(lead, outcome, account string) *contracts.LeadUpdate {
		u := &contracts.LeadUpdate{LeadID: lead, Outcome: outcome}
		if account != "" {
			u.AccountID = &account
		}
		return u
	}
	g.Convert(answer(leads[0].LeadID, contracts.LeadConversionOutcomeNewAccount, ""))
	g.Convert(answer(leads[0].LeadID, contracts.LeadConversionOutcomeNewAccount, "")) // redelivered
	g.Convert(answer(leads[1].LeadID, contracts.LeadConversionOutcomeExistingCustomer, existing))
	g.Convert(answer(leads[2].LeadID, contracts.LeadConversionOutcomeReview, ""))
	g.Convert(answer("LEAD-of-another-run", contracts.LeadConversionOutcomeNewAccount, ""))
	evs := g.Next(now)
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.Kind]++
		switch v := e.Value.(type) {
		case *contracts.Account:
			if v.AccountID != "ACC-"+leads[0].LeadID || v.Name != leads[0].Company || contracts.Deref(v.Website) != contracts.Deref(leads[0].Website) || v.BillingAddress.Country != contracts.Deref(leads[0].Country) {
				t.Errorf("account from lead %s: %+v", leads[0].LeadID, v)
			}
		case *contracts.Contact:
			if e.Kind == "lead-contact" && v.AccountID != existing {
				t.Errorf("lead contact on %s, want the existing account %s", v.AccountID, existing)
			}
		}
	}
	if kinds["lead-account"] != 1 || kinds["lead-contact"] != 1 || kinds["contact"] != 1 || len(evs) != 3 {
		t.Fatalf("conversion events %v", kinds)
	}
	// The new account is an account like any other: quotes name it once it is old enough.
	named := false
	for range 3000 {
		now = now.Add(200 * time.Millisecond)
		for _, e := range g.Next(now) {
			if q, ok := e.Value.(*contracts.Quote); ok && q.SoldToAccountID == "ACC-"+leads[0].LeadID {
				named = true
			}
		}
	}
	if !named {
		t.Error("no quote ever named the account created from the lead")
	}
}

// TestServiceCases: no case before the CRM knows an installed asset of one
// of its accounts; then cases name those assets and accounts, a returned
// asset gets no more cases, and now and then an open case is cancelled.
func TestServiceCases(t *testing.T) {
	g, err := New(Manufacturer, 5, WithMinAccountAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	run := func(n int) (cases, cancels []*contracts.Case) {
		for range n {
			for _, e := range g.Next(now) {
				if c, ok := e.Value.(*contracts.Case); ok {
					if e.Key != c.CaseID || e.Topic != contracts.TopicCRMCaseV1 {
						t.Fatalf("case event %+v", e)
					}
					if c.Status == contracts.CaseStatusCancelled {
						cancels = append(cancels, c)
					} else {
						cases = append(cases, c)
					}
				}
			}
			now = now.Add(100 * time.Millisecond)
		}
		return cases, cancels
	}
	if cases, _ := run(500); len(cases) != 0 {
		t.Fatalf("%d cases before any asset is known", len(cases))
	}
	crm := "ACC-1"
	g.LearnCustomer(&contracts.Customer{ERPCustomerID: "E-1", CRMAccountID: &crm})
	g.LearnAsset(&contracts.Asset{Serial: "SN-NO-CRM", SKU: "PUMP-100", ERPCustomerID: "E-2", Status: contracts.AssetStatusInstalled})
	for _, s := range []string{"SN-1", "SN-2", "SN-3"} {
		g.LearnAsset(&contracts.Asset{Serial: s, SKU: "PUMP-100", ERPCustomerID: "E-1", Status: contracts.AssetStatusInstalled})
	}
	g.LearnAsset(&contracts.Asset{Serial: "SN-3", SKU: "PUMP-100", ERPCustomerID: "E-1", Status: contracts.AssetStatusReturned})
	cases, cancels := run(3000)
	if len(cases) < 20 || len(cancels) == 0 {
		t.Fatalf("%d cases, %d cancellations in 3000 actions", len(cases), len(cancels))
	}
	opened := map[string]bool{}
	for _, c := range cases {
		opened[c.CaseID] = true
		if (c.Serial != "SN-1" && c.Serial != "SN-2") || c.AccountID != crm || contracts.Deref(c.ERPCustomerID) != "E-1" ||
			c.Status != contracts.CaseStatusOpen || c.ServiceType == "" || c.Symptom == nil || c.SLATier == "" {
			t.Fatalf("case %+v", c)
		}
	}
	for _, c := range cancels {
		if !opened[c.CaseID] {
			t.Fatalf("cancelled a case never opened: %+v", c)
		}
	}
}
