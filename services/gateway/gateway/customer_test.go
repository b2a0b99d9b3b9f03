package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/match/matchtest"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

func TestCustomerAPI(t *testing.T)            { testCustomerAPI(t, gwtest.Unit(t)) }
func TestCustomerDuplicatePairs(t *testing.T) { testDuplicatePairs(t, gwtest.Unit(t)) }

func customerClient(c *client) customerv1.CustomerServiceClient {
	return customerv1.NewCustomerServiceClient(c.conn)
}

// waitGolden retries CheckDuplicate until the golden model answers, and
// ValidateAccount until the ERP models it also reads do.
func waitGolden(t testing.TB, cc customerv1.CustomerServiceClient, c *client) {
	t.Helper()
	waitAnswer(t, "golden model", func() error {
		_, err := cc.CheckDuplicate(c.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "probe"}})
		return err
	}, codes.Unavailable)
	waitAnswer(t, "ERP models", func() error {
		_, err := cc.ValidateAccount(c.ctx(), &customerv1.ValidateAccountRequest{Account: &customerv1.Account{Name: "probe"}})
		return err
	}, codes.Unavailable)
}

func seedGolden(e *gwtest.Env) {
	e.Produce(
		gwtest.GoldenRecord(gwtest.Golden{ID: "cus-0000000000000001", Name: "Acme GmbH", LegalName: "Acme Maschinenbau GmbH", Country: "DE",
			Domain: "acme.de", TaxID: "DE123456789", Postal: "80331", ERPID: "C1", CRMIDs: []string{"CRM-1"}, Territory: "EMEA-DACH", CreditStatus: "ACTIVE"}, now),
		gwtest.GoldenRecord(gwtest.Golden{ID: "cus-0000000000000002", Name: "Acme Austria GmbH", Country: "AT", Domain: "acme.at", ERPID: "C2"}, now),
		gwtest.GoldenRecord(gwtest.Golden{ID: "cus-0000000000000003", Name: "Shady Trading Ltd", Country: "GB", TaxID: "GB987654321",
			Domain: "shady.co.uk", ERPID: "C3", CreditStatus: "BLOCKED"}, now),
		gwtest.GoldenRecord(gwtest.Golden{ID: "cus-0000000000000004", Name: "Gone Corp", Country: "US", Status: "MERGED"}, now),
		gwtest.CreditAccount("C1", "EUR", 100000, 0, 0, false, now),
		gwtest.BlockedCredit("C3", "GBP", "sanctions screening hit", now),
		gwtest.Customer("C1", "CRM-1", false, now),
		gwtest.Xref("CRM-1", "C1", now),
		gwtest.PriceEntry("W", "NA", "USD", "", 1000, 7, 0, 825, now),
		gwtest.InventoryLevel("W", "S1", 100, 30, now),
	)
}

func testCustomerAPI(t *testing.T, e *gwtest.Env) {
	seedGolden(e)
	g := e.Start(e.Config())
	c := dial(t, g, e.Token("crm", time.Hour, "customer:read"))
	cc := customerClient(c)
	waitGolden(t, cc, c)
	g.WaitReady(t)

	// A duplicate, typed differently: the tax id decides.
	resp, err := cc.CheckDuplicate(c.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{
		Name: "ACME G.m.b.H.", Address: &customerv1.Address{Country: "de", PostalCode: "80331"}, TaxId: "de 123.456.789", Domain: "https://www.acme.de/"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVerdict() != customerv1.Verdict_VERDICT_DUPLICATE || len(resp.GetCandidates()) == 0 || resp.GetCandidates()[0].GetGoldenId() != "cus-0000000000000001" {
		t.Fatalf("duplicate: %v", resp)
	}
	top := resp.GetCandidates()[0]
	kinds := []string{}
	for _, ev := range top.GetEvidence() {
		kinds = append(kinds, ev.GetKind())
	}
	if !slices.Contains(kinds, "tax_id_equal") || top.GetErpCustomerId() != "C1" || !slices.Equal(top.GetCrmAccountIds(), []string{"CRM-1"}) || top.GetTerritory() != "EMEA-DACH" {
		t.Errorf("candidate: %v", top)
	}
	if resp.GetGoldenRecords() != 3 {
		t.Errorf("golden records = %d, want 3 (the merged one is not kept)", resp.GetGoldenRecords())
	}
	// The Austrian subsidiary shares the name but not the country: never a duplicate.
	resp, err = cc.CheckDuplicate(c.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "Acme Austria GmbH", Address: &customerv1.Address{Country: "DE"}}})
	if err != nil || resp.GetVerdict() == customerv1.Verdict_VERDICT_DUPLICATE {
		t.Errorf("subsidiary in another country: %v, %v", resp, err)
	}
	resp, err = cc.CheckDuplicate(c.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "Zyxwvut Holdings", Address: &customerv1.Address{Country: "US"}}})
	if err != nil || resp.GetVerdict() != customerv1.Verdict_VERDICT_NO_DUPLICATE || len(resp.GetCandidates()) != 0 {
		t.Errorf("new company: %v, %v", resp, err)
	}
	resp, err = cc.CheckDuplicate(c.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "Gone Corp", Address: &customerv1.Address{Country: "US"}}})
	if err != nil || resp.GetVerdict() != customerv1.Verdict_VERDICT_NO_DUPLICATE {
		t.Errorf("a merged-away golden record is no candidate: %v, %v", resp, err)
	}

	// Bad input: InvalidArgument with the field.
	for name, tc := range map[string]struct {
		req   *customerv1.CheckDuplicateRequest
		field string
	}{
		"no account":     {&customerv1.CheckDuplicateRequest{}, "account"},
		"no name":        {&customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Domain: "acme.de"}}, "account.name"},
		"bad tax id":     {&customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "Acme", TaxId: "DE12", Address: &customerv1.Address{Country: "DE"}}}, "account.tax_id"},
		"bad country":    {&customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "Acme", Address: &customerv1.Address{Country: "Atlantis"}}}, "account.address.country"},
		"negative limit": {&customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "Acme"}, MaxCandidates: -1}, "max_candidates"},
	} {
		_, err := cc.CheckDuplicate(c.ctx(), tc.req)
		if status.Code(err) != codes.InvalidArgument || !slices.Contains(badRequestFields(err), tc.field) {
			t.Errorf("%s: %v (fields %v), want InvalidArgument on %s", name, err, badRequestFields(err), tc.field)
		}
	}

	// REST: the same answer, 400 for bad input.
	code, _, body := c.rest("/v1/customers:checkDuplicate", map[string]any{"account": map[string]any{
		"name": "Acme GmbH", "taxId": "DE123456789", "address": map[string]any{"country": "DE"}}})
	if code != http.StatusOK || body["verdict"] != "VERDICT_DUPLICATE" {
		t.Errorf("REST duplicate: %d %v", code, body)
	}
	if code, _, body = c.rest("/v1/customers:checkDuplicate", map[string]any{"account": map[string]any{"taxId": "x"}}); code != http.StatusBadRequest {
		t.Errorf("REST bad input: %d %v", code, body)
	}
	if code, _, body = c.rest("/v1/customers:validate", map[string]any{"account": map[string]any{"name": "Acme", "phone": nil}}); code != http.StatusBadRequest {
		t.Errorf("REST null field: %d %v", code, body)
	}
	if code, _, body = c.rest("/v1/customers:validate", map[string]any{"account": map[string]any{"name": "Shady Trading Limited", "taxId": "GB987654321",
		"legalName": "Shady Trading Ltd", "address": map[string]any{"line1": "1 High St", "city": "London", "postalCode": "EC1A 1BB", "country": "GB"}}}); code != http.StatusOK || body["valid"] == true {
		t.Errorf("REST validate blocked party: %d %v", code, body)
	}

	// Auth: no token, wrong scope.
	anon := customerClient(dial(t, g, ""))
	if _, err := anon.CheckDuplicate(dial(t, g, "").ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "Acme"}}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v", err)
	}
	pc := dial(t, g, e.Token("pricing", time.Hour, "pricing:read"))
	if _, err := customerClient(pc).ValidateAccount(pc.ctx(), &customerv1.ValidateAccountRequest{Account: &customerv1.Account{Name: "Acme"}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("without customer:read: %v", err)
	}
	if code, _, _ := pc.rest("/v1/customers:checkDuplicate", map[string]any{"account": map[string]any{"name": "Acme"}}); code != http.StatusForbidden {
		t.Errorf("REST without customer:read: %d", code)
	}

	// ValidateAccount.
	problems := func(r *customerv1.ValidateAccountResponse) map[string]customerv1.Severity {
		out := map[string]customerv1.Severity{}
		for _, p := range r.GetProblems() {
			out[p.GetCode()+"@"+p.GetField()] = p.GetSeverity()
		}
		return out
	}
	good := &customerv1.Account{Name: "Brightwater Analytics", LegalName: "Brightwater Analytics GmbH", TaxId: "DE 811 907 980",
		Domain: "brightwater.de", Phone: "089 1234567",
		Address: &customerv1.Address{Line1: "Leopoldstr. 1", City: "München", PostalCode: "80802", Country: "DE"}}
	v, err := cc.ValidateAccount(c.ctx(), &customerv1.ValidateAccountRequest{Account: good})
	if err != nil || !v.GetValid() || len(v.GetProblems()) != 0 || v.GetNormalized().GetTaxId() != "DE811907980" || v.GetNormalized().GetPhone() != "+49891234567" {
		t.Errorf("valid account: %v, %v", v, err)
	}
	v, err = cc.ValidateAccount(c.ctx(), &customerv1.ValidateAccountRequest{Account: &customerv1.Account{Name: "Brightwater", TaxId: "DE 811 907",
		Address: &customerv1.Address{Line1: "Leopoldstr. 1", City: "München", Country: "DE"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]customerv1.Severity{
		"TAX_ID_FORMAT@account.tax_id":                   customerv1.Severity_SEVERITY_ERROR,
		"LEGAL_NAME_MISSING@account.legal_name":          customerv1.Severity_SEVERITY_ERROR,
		"ADDRESS_INCOMPLETE@account.address.postal_code": customerv1.Severity_SEVERITY_ERROR,
	}
	if got := problems(v); v.GetValid() || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("incomplete account: valid=%v problems %v, want %v", v.GetValid(), got, want)
	}
	// The blocked party, as sales types it: an error.
	v, err = cc.ValidateAccount(c.ctx(), &customerv1.ValidateAccountRequest{Account: &customerv1.Account{Name: "Shady Trading Limited", LegalName: "Shady Trading Ltd",
		TaxId: "GB 987 654 321", Address: &customerv1.Address{Line1: "1 High St", City: "London", PostalCode: "EC1A 1BB", Country: "GB"}}})
	if err != nil || v.GetValid() || problems(v)["BLOCKED_PARTY@account"] != customerv1.Severity_SEVERITY_ERROR || v.GetGoldenId() != "cus-0000000000000003" {
		t.Errorf("blocked party: %v, %v", v, err)
	}
	// An existing customer: a warning that it is a duplicate, still valid.
	v, err = cc.ValidateAccount(c.ctx(), &customerv1.ValidateAccountRequest{Account: &customerv1.Account{Name: "Acme GmbH", LegalName: "Acme Maschinenbau GmbH",
		TaxId: "DE123456789", Address: &customerv1.Address{Line1: "Marienplatz 1", City: "München", PostalCode: "80331", Country: "DE"}}})
	if err != nil || !v.GetValid() || problems(v)["DUPLICATE@account"] != customerv1.Severity_SEVERITY_WARNING {
		t.Errorf("existing customer: %v, %v", v, err)
	}
	if _, err := cc.ValidateAccount(c.ctx(), &customerv1.ValidateAccountRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no account: %v", err)
	}
}

// goldenOf is the golden record customer-sync keeps for a source record:
// its normalised attributes (what mdm.customer.v1 carries).
func goldenOf(t testing.TB, id string, r match.Raw) gwtest.Golden {
	t.Helper()
	f, err := match.FromRaw(r)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return gwtest.Golden{ID: id, Name: r.Name, LegalName: r.LegalName, Country: f.Country, Domain: f.Domain, TaxID: f.TaxID, Phone: f.Phone, Postal: f.Postal}
}

// testDuplicatePairs: every labelled pair's record A is a golden customer in
// the read model; CheckDuplicate(B) must decide exactly what the stream's
// index (pkg/match.Index, as customer-sync holds it) decides over the same
// golden records — same verdict, same candidates in the same order — and
// the API's precision and recall meet the matcher's floors.
func testDuplicatePairs(t *testing.T, e *gwtest.Env) {
	pairs, err := matchtest.Pairs()
	if err != nil {
		t.Fatal(err)
	}
	cfg := match.DefaultConfig()
	ix := match.NewIndex(cfg)
	ids := make([]string, len(pairs))
	var recs []gwtest.Record
	for i, p := range pairs {
		ids[i] = fmt.Sprintf("cus-%016x", i+1)
		g := goldenOf(t, ids[i], p.A)
		recs = append(recs, gwtest.GoldenRecord(g, now))
		ix.Upsert(match.ID(i+1), match.FromGolden(match.Golden{Name: g.Name, LegalName: g.LegalName, Country: g.Country, Domain: g.Domain, TaxID: g.TaxID, Phone: g.Phone, Postal: g.Postal}))
	}
	recs = append(recs, gwtest.PriceEntry("W", "NA", "USD", "", 1000, 7, 0, 825, now), gwtest.CreditAccount("C1", "USD", 1, 0, 0, false, now))
	e.Produce(recs...)
	g := e.Start(e.Config())
	c := dial(t, g, e.Token("crm", time.Hour, "customer:read"))
	cc := customerClient(c)
	waitGolden(t, cc, c)
	g.WaitReady(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := cc.CheckDuplicate(c.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: "probe"}})
		if err == nil && r.GetGoldenRecords() == int64(len(pairs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("golden records in the model: %d, want %d (%v)", r.GetGoldenRecords(), len(pairs), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	outcomes := map[customerv1.Verdict]match.Outcome{
		customerv1.Verdict_VERDICT_NO_DUPLICATE: match.New, customerv1.Verdict_VERDICT_PROBABLE_DUPLICATE: match.Review,
		customerv1.Verdict_VERDICT_DUPLICATE: match.Merge,
	}
	var q matchtest.Quality
	disagree := 0
	for i, p := range pairs {
		addr := &customerv1.Address{Country: p.B.Country, PostalCode: p.B.PostalCode}
		resp, err := cc.CheckDuplicate(c.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{
			Name: p.B.Name, LegalName: p.B.LegalName, Address: addr, TaxId: p.B.TaxID, Domain: p.B.Website, Phone: p.B.Phone}})
		if err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		fb, err := match.FromRaw(p.B)
		if err != nil {
			t.Fatal(err)
		}
		d := ix.Match(fb, nil)
		var want, got []string
		for _, cand := range d.Candidates {
			want = append(want, fmt.Sprintf("%s@%.4f", ids[cand.ID-1], cand.Score))
		}
		for _, cand := range resp.GetCandidates() {
			got = append(got, fmt.Sprintf("%s@%.4f", cand.GetGoldenId(), cand.GetScore()))
		}
		if outcomes[resp.GetVerdict()] != d.Outcome || !slices.Equal(want, got) {
			disagree++
			t.Errorf("%s: API %s %v, stream index %s %v", p.ID, resp.GetVerdict(), got, d.Outcome, want)
		}
		// Quality on the API's answer: "same" is a DUPLICATE verdict for A.
		o := outcomes[resp.GetVerdict()]
		if o == match.Merge && resp.GetCandidates()[0].GetGoldenId() != ids[i] && p.Label == matchtest.Same {
			o = match.New // merged into another pair's record: not the right one
		}
		q.Add(p, o)
	}
	t.Logf("CheckDuplicate on %d labelled pairs against %d golden records: %s; %d disagreements with the stream's index", len(pairs), len(pairs), q, disagree)
	if err := q.Check(0.98, 0.95); err != nil {
		t.Error(err)
	}
}
