package traffic

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
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
		if c.ReturnRequest != nil { // return requests: TestReturnRequests
			continue
		}
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

// fakeERP plays the ERP and the CRM's asset sync for a manufacturer
// generator: every account becomes ERP customer "E-<account>" with the
// account's address and currency, every quote ships at once and installs
// up to two assets per serialised line (every fifth installed 200 days
// earlier, under warranty; every eleventh 400 days earlier without one).
type fakeERP struct {
	g         *Generator
	now       time.Time
	priceList map[string]PriceList        // CRM account → its market's price list
	owner     map[string]string           // serial → ERP customer
	asset     map[string]*contracts.Asset // serial → asset
	quotes    map[string]*contracts.Quote // quote (= order) id → quote
	events    []Event
	units     int
}

func newFakeERP(t *testing.T, seed uint64) *fakeERP {
	t.Helper()
	g, err := New(Manufacturer, seed, WithMinAccountAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeERP{g: g, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), priceList: map[string]PriceList{},
		owner: map[string]string{}, asset: map[string]*contracts.Asset{}, quotes: map[string]*contracts.Quote{}}
}

func (f *fakeERP) run(n int) {
	for range n {
		for _, e := range f.g.Next(f.now) {
			f.events = append(f.events, e)
			switch v := e.Value.(type) {
			case *contracts.Account:
				c, _ := CountryByCode(v.BillingAddress.Country)
				f.priceList[v.AccountID] = PriceList{c.Region, c.Currency}
				f.g.LearnCustomer(&contracts.Customer{ERPCustomerID: "E-" + v.AccountID, CRMAccountID: &v.AccountID,
					BillingAddress: v.BillingAddress, Currency: &c.Currency})
			case *contracts.Quote:
				f.quotes[v.QuoteID] = v
				f.ship(v)
			}
		}
		f.now = f.now.Add(100 * time.Millisecond)
	}
}

func (f *fakeERP) ship(q *contracts.Quote) {
	day := date(f.now)
	for _, l := range q.Lines {
		if p, _ := ProductBySKU(l.SKU); !p.Serialised() || slices.Contains(ExportControlled, l.ShipToCountry) {
			continue
		}
		for u := range min(l.Quantity, 2) {
			f.units++
			a := &contracts.Asset{Serial: fmt.Sprintf("SN-%s-%d-%d", q.QuoteID, l.LineNumber, u), SKU: l.SKU,
				ERPCustomerID: "E-" + q.SoldToAccountID, Status: contracts.AssetStatusInstalled, InstallDate: day,
				Warranty: &contracts.WarrantyCoverage{StartDate: day, EndDate: day.AddDate(0, 24, -1)}}
			switch {
			case f.units%11 == 0:
				a.InstallDate, a.Warranty = day.AddDate(0, 0, -400), nil
			case f.units%5 == 0:
				a.InstallDate = day.AddDate(0, 0, -200)
				a.Warranty.StartDate, a.Warranty.EndDate = a.InstallDate, a.InstallDate.AddDate(0, 24, -1)
			}
			f.owner[a.Serial], f.asset[a.Serial] = a.ERPCustomerID, a
			f.g.LearnAsset(a)
		}
	}
}

// TestReturnRequests: a quarter of the cases are return requests with valid
// lines — quantity > 0, serials ≤ quantity, a positive price in the
// customer's currency, a reason — mostly of one installed asset of the
// customer at its list price (a reason the policy allows for it), now and
// then part of a recent order's non-serialised lines at the price paid, and
// now and then a request the policy must refuse (another customer's serial,
// or NOT_NEEDED bought 90 days ago).
func TestReturnRequests(t *testing.T) {
	f := newFakeERP(t, 21)
	f.run(12000)
	var cases, returns int
	count := map[string]int{}
	returned := map[string]int64{} // order/line → units asked back
	valid := map[string]bool{}     // serials of acceptable asset returns
	opened := map[string]bool{}
	for _, e := range f.events {
		c, ok := e.Value.(*contracts.Case)
		if !ok {
			continue
		}
		switch e.Kind {
		case "case":
			cases++
			opened[c.CaseID] = true
			continue
		case "case-cancel", "return-cancel":
			if !opened[c.CaseID] || (e.Kind == "return-cancel") != (c.ReturnRequest != nil) || c.Status != contracts.CaseStatusCancelled {
				t.Fatalf("%s of %s: opened %v, %+v", e.Kind, c.CaseID, opened[c.CaseID], c)
			}
			count[e.Kind]++
			continue
		case "return":
		default:
			t.Fatalf("case event of kind %q", e.Kind)
		}
		returns++
		opened[c.CaseID] = true
		rr := c.ReturnRequest
		if rr == nil || e.Key != c.CaseID || !strings.HasPrefix(c.CaseID, "CASE-") || c.ServiceType != contracts.ServiceTypeInspection ||
			c.Status != contracts.CaseStatusOpen || c.Symptom == nil || len(rr.Lines) == 0 {
			t.Fatalf("return case %+v", c)
		}
		if want := f.priceList[c.AccountID].Currency; rr.Currency != want {
			t.Fatalf("return %s in %s, customer %s buys in %s", c.CaseID, rr.Currency, c.AccountID, want)
		}
		for _, l := range rr.Lines {
			if l.Quantity <= 0 || int64(len(l.Serials)) > l.Quantity || l.UnitPrice.AmountMinor <= 0 || l.UnitPrice.Currency != rr.Currency ||
				!slices.Contains([]string{contracts.ReturnReasonDefective, contracts.ReturnReasonDamaged, contracts.ReturnReasonWrongItem, contracts.ReturnReasonNotNeeded}, l.Reason) {
				t.Fatalf("return %s: line %+v", c.CaseID, l)
			}
			if p, _ := ProductBySKU(l.SKU); l.Subscription != p.Subscription {
				t.Fatalf("return %s: %s subscription %v", c.CaseID, l.SKU, l.Subscription)
			}
		}
		if rr.OrderID != nil { // lines of an order
			q := f.quotes[*rr.OrderID]
			if q == nil || q.SoldToAccountID != c.AccountID || c.Serial != "" || contracts.Deref(c.ERPCustomerID) != "E-"+c.AccountID ||
				c.OpenedAt.Sub(*q.AcceptedAt) < orderReturnMinAge {
				t.Fatalf("order return %s: %+v of quote %+v", c.CaseID, c, q)
			}
			for _, l := range rr.Lines {
				i := slices.IndexFunc(q.Lines, func(ql contracts.QuoteLine) bool {
					return l.OrderLineNumber != nil && ql.LineNumber == *l.OrderLineNumber
				})
				if i < 0 || len(l.Serials) != 0 || l.PurchasedAt == nil || !l.PurchasedAt.Equal(*q.AcceptedAt) {
					t.Fatalf("order return %s: line %+v not of quote %s", c.CaseID, l, q.QuoteID)
				}
				ql := q.Lines[i]
				key := fmt.Sprintf("%s/%d", q.QuoteID, ql.LineNumber)
				returned[key] += l.Quantity
				if p, _ := ProductBySKU(ql.SKU); l.SKU != ql.SKU || l.UnitPrice != ql.UnitPrice || returned[key] > ql.Quantity || p.Serialised() {
					t.Fatalf("order return %s: line %+v, %d of %d units asked back, quote line %+v", c.CaseID, l, returned[key], ql.Quantity, ql)
				}
				if l.Quantity < ql.Quantity {
					count["partial"]++
				}
			}
			count["order"]++
			continue
		}
		// one unit of an asset
		l := rr.Lines[0]
		if len(rr.Lines) != 1 || l.Quantity != 1 || !slices.Equal(l.Serials, []string{c.Serial}) || l.SKU != contracts.Deref(c.SKU) || l.OrderLineNumber != nil {
			t.Fatalf("asset return %s: %+v", c.CaseID, rr)
		}
		a := f.asset[c.Serial]
		pl := f.priceList[c.AccountID]
		if list, _ := ListPrice(l.SKU, pl.Region, pl.Currency); a == nil || a.SKU != l.SKU || l.UnitPrice.AmountMinor != list {
			t.Fatalf("asset return %s: %+v, asset %+v, list price %d", c.CaseID, l, a, list)
		}
		switch {
		case f.owner[c.Serial] != contracts.Deref(c.ERPCustomerID):
			count["refused-foreign"]++
		case l.PurchasedAt != nil:
			if l.Reason != contracts.ReturnReasonNotNeeded || c.OpenedAt.Sub(*l.PurchasedAt) < 60*24*time.Hour {
				t.Fatalf("late return %s: %+v", c.CaseID, l)
			}
			count["refused-late"]++
		default:
			inWindow := c.OpenedAt.Sub(a.InstallDate) < returnWindow
			if valid[c.Serial] || (!inWindow && (l.Reason != contracts.ReturnReasonDefective || a.Warranty == nil || c.OpenedAt.After(a.Warranty.EndDate))) {
				t.Fatalf("asset return %s the policy refuses: %+v, asset %+v (asked before: %v)", c.CaseID, l, a, valid[c.Serial])
			}
			valid[c.Serial] = true
			count["asset"]++
			count[l.Reason]++
			if !inWindow {
				count["under-warranty"]++
			}
		}
	}
	t.Logf("%d cases, %d returns: %v", cases, returns, count)
	if share := 100 * returns / max(1, cases+returns); share < 15 || share > 35 {
		t.Errorf("%d%% of cases are returns, want about %d%%", share, returnShare)
	}
	for _, k := range []string{"asset", "order", "partial", "refused-foreign", "refused-late", "under-warranty",
		contracts.ReturnReasonDamaged, contracts.ReturnReasonWrongItem, contracts.ReturnReasonNotNeeded} {
		if count[k] == 0 {
			t.Errorf("no %s return in %d returns: %v", k, returns, count)
		}
	}
	if count[contracts.ReturnReasonDefective] <= count["asset"]/2 {
		t.Errorf("asset returns mostly DEFECTIVE, got %v", count)
	}
	if count["asset"] <= count["order"] {
		t.Errorf("returns mostly of installed assets, got %v", count)
	}
}

// TestReturnRequestsDeterministic: the same seed and the same ERP answers
// give the same return requests, byte for byte.
func TestReturnRequestsDeterministic(t *testing.T) {
	returns := func(seed uint64) []Event {
		f := newFakeERP(t, seed)
		f.run(6000)
		var out []Event
		for _, e := range f.events {
			if e.Kind == "return" || e.Kind == "return-cancel" {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			t.Fatalf("seed %d: no return requests", seed)
		}
		return out
	}
	a, b := encoded(t, returns(3)), encoded(t, returns(3))
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different returns (-a +b):\n%s", diff)
	}
	if c := encoded(t, returns(4)); cmp.Equal(a, c) {
		t.Fatal("seeds 3 and 4 gave the same returns")
	}
}

// TestReturnCaseRoundTrip: return cases of both kinds survive Avro.
func TestReturnCaseRoundTrip(t *testing.T) {
	f := newFakeERP(t, 21)
	f.run(6000)
	seen := map[bool]bool{}
	for _, e := range f.events {
		c, ok := e.Value.(*contracts.Case)
		if !ok || c.ReturnRequest == nil {
			continue
		}
		fromOrder := c.ReturnRequest.OrderID != nil
		if seen[fromOrder] {
			continue
		}
		seen[fromOrder] = true
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal %s: %v", c.CaseID, err)
		}
		var got contracts.Case
		if err := got.Unmarshal(b); err != nil {
			t.Fatalf("unmarshal %s: %v", c.CaseID, err)
		}
		if diff := cmp.Diff(c, &got); diff != "" {
			t.Errorf("return case %s changed in a round trip (-sent +read):\n%s", c.CaseID, diff)
		}
	}
	if !seen[true] || !seen[false] {
		t.Fatalf("round-tripped order returns %v, asset returns %v", seen[true], seen[false])
	}
}

// TestCustomerPriceList: the price list the CRM prices returns in comes
// from the ERP customer's address and currency, else from the CRM account.
func TestCustomerPriceList(t *testing.T) {
	addr := func(country string) *contracts.Address {
		return &contracts.Address{Line1: "1 Main Street", City: "X", Country: country}
	}
	tests := []struct {
		name string
		cust contracts.Customer
		want PriceList
		ok   bool
	}{
		{"billing country and currency", contracts.Customer{BillingAddress: addr("DE"), Currency: ptr("EUR")}, PriceList{"EMEA", "EUR"}, true},
		{"currency of the record wins", contracts.Customer{BillingAddress: addr("CA"), Currency: ptr("usd")}, PriceList{"NA", "USD"}, true},
		{"country's currency", contracts.Customer{BillingAddress: addr("jp")}, PriceList{"APAC", "JPY"}, true},
		{"shipping address", contracts.Customer{ShippingAddress: addr("AU")}, PriceList{"APAC", "AUD"}, true},
		{"unknown market, unknown account", contracts.Customer{BillingAddress: addr("ZZ"), Currency: ptr("EUR")}, PriceList{}, false},
		{"no address, unknown account", contracts.Customer{}, PriceList{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := New(Manufacturer, 1)
			tt.cust.ERPCustomerID, tt.cust.CRMAccountID = "E-1", ptr("ACC-X")
			g.LearnCustomer(&tt.cust)
			got, ok := g.priceListOf(g.customers["E-1"])
			if got != tt.want || ok != tt.ok {
				t.Errorf("price list %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	// A customer without address falls back to the market of its CRM account.
	g, _ := New(Manufacturer, 1)
	g.accounts = append(g.accounts, &account{id: "ACC-GB", country: Countries[5]})
	g.LearnCustomer(&contracts.Customer{ERPCustomerID: "E-2", CRMAccountID: ptr("ACC-GB")})
	if got, ok := g.priceListOf(g.customers["E-2"]); !ok || got != (PriceList{"EMEA", "GBP"}) {
		t.Errorf("fallback price list %+v, %v", got, ok)
	}
	// No CRM account: not learned.
	g.LearnCustomer(&contracts.Customer{ERPCustomerID: "E-3", BillingAddress: addr("DE")})
	if _, ok := g.customers["E-3"]; ok {
		t.Error("customer without CRM account learned")
	}
}

// TestAssetReturnReasons: the reasons a customer returns an installed asset
// for follow the return policy: any reason well inside the 30-day window,
// only DEFECTIVE after it while under warranty, no return otherwise.
func TestAssetReturnReasons(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	day := date(now)
	tests := []struct {
		name        string
		installed   time.Time
		warrantyEnd time.Time // zero: none
		want        []string  // reasons seen (sorted); nil: no return
	}{
		{"new", day.AddDate(0, 0, -3), day.AddDate(2, 0, 0), []string{"DAMAGED", "DEFECTIVE", "NOT_NEEDED", "WRONG_ITEM"}},
		{"new without warranty", day.AddDate(0, 0, -3), time.Time{}, []string{"DAMAGED", "DEFECTIVE", "NOT_NEEDED", "WRONG_ITEM"}},
		{"window about to close", day.AddDate(0, 0, -29), day.AddDate(2, 0, 0), []string{"DEFECTIVE"}},
		{"under warranty", day.AddDate(0, 0, -200), day.AddDate(1, 0, 0), []string{"DEFECTIVE"}},
		{"warranty about to end", day.AddDate(0, 0, -700), day, nil},
		{"out of warranty", day.AddDate(0, 0, -800), day.AddDate(0, 0, -70), nil},
		{"install date unknown", time.Time{}, time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := New(Manufacturer, 9)
			g.LearnCustomer(&contracts.Customer{ERPCustomerID: "E-1", CRMAccountID: ptr("ACC-1"), BillingAddress: &contracts.Address{Country: "FR"}})
			for i := range 200 {
				a := &contracts.Asset{Serial: fmt.Sprintf("SN-%d", i), SKU: "PUMP-250", ERPCustomerID: "E-1", Status: contracts.AssetStatusInstalled, InstallDate: tt.installed}
				if !tt.warrantyEnd.IsZero() {
					a.Warranty = &contracts.WarrantyCoverage{StartDate: tt.installed, EndDate: tt.warrantyEnd}
				}
				g.LearnAsset(a)
			}
			seen := map[string]bool{}
			serials := map[string]bool{}
			for range 400 {
				c, ok := g.assetReturn(now)
				if !ok {
					continue
				}
				l := c.ReturnRequest.Lines[0]
				list, _ := ListPrice("PUMP-250", "EMEA", "EUR")
				if serials[c.Serial] || l.UnitPrice != (contracts.Money{AmountMinor: list, Currency: "EUR"}) || l.PurchasedAt != nil {
					t.Fatalf("return %+v (serial asked before: %v)", l, serials[c.Serial])
				}
				serials[c.Serial] = true
				seen[l.Reason] = true
			}
			var got []string
			for r := range seen {
				got = append(got, r)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}
