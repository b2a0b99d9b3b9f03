package api

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/normalize"
	"github.com/isthmus/isthmus/services/gateway/internal/credit"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// Customer implements isthmus.customer.v1.CustomerService over the golden
// read model (readmodel.Golden, in Redis) and the ERP credit model, with the
// matcher customer-sync uses on the stream (pkg/match): the same features,
// the same blocking keys, the same Rank.
type Customer struct {
	customerv1.UnimplementedCustomerServiceServer
	*Deps
	// Golden is the store of the golden model (without mirror); nil: Deps.Store.
	Golden *readmodel.Store
	// Match is the matcher's configuration; the zero value means
	// match.DefaultConfig() (customer-sync's default).
	Match match.Config
}

const maxTextLen = 256

func (c *Customer) cfg() match.Config {
	if c.Match.AutoMerge == 0 {
		return match.DefaultConfig()
	}
	return c.Match
}

func (c *Customer) golden() *readmodel.Store {
	if c.Golden != nil {
		return c.Golden
	}
	return c.Store
}

func rawOf(a *customerv1.Account) match.Raw {
	addr := a.GetAddress()
	return match.Raw{Name: a.GetName(), LegalName: a.GetLegalName(), Country: addr.GetCountry(), Website: a.GetDomain(),
		TaxID: a.GetTaxId(), Phone: a.GetPhone(), PostalCode: addr.GetPostalCode()}
}

// accountField is the request field of a matcher attribute.
func accountField(attr string) string {
	switch attr {
	case "country", "postal_code":
		return "account.address." + attr
	case "website", "domain":
		return "account.domain"
	}
	return "account." + attr
}

func checkText(v *violations, a *customerv1.Account) {
	for _, f := range []struct{ name, val string }{
		{"account.name", a.GetName()}, {"account.legal_name", a.GetLegalName()}, {"account.tax_id", a.GetTaxId()},
		{"account.domain", a.GetDomain()}, {"account.phone", a.GetPhone()},
		{"account.address.line1", a.GetAddress().GetLine1()}, {"account.address.line2", a.GetAddress().GetLine2()},
		{"account.address.city", a.GetAddress().GetCity()}, {"account.address.region", a.GetAddress().GetRegion()},
		{"account.address.postal_code", a.GetAddress().GetPostalCode()}, {"account.address.country", a.GetAddress().GetCountry()},
	} {
		switch {
		case !utf8.ValidString(f.val):
			v.add(f.name, "must be valid UTF-8")
		case len(f.val) > maxTextLen:
			v.add(f.name, "must be at most 256 bytes")
		}
	}
}

// features validates the account for matching; every attribute the matcher
// refuses is an InvalidArgument field violation.
func features(a *customerv1.Account) (match.Features, error) {
	var v violations
	if a == nil {
		v.add("account", "is required")
		return match.Features{}, v.err()
	}
	checkText(&v, a)
	if strings.TrimSpace(a.GetName()) == "" && strings.TrimSpace(a.GetLegalName()) == "" {
		v.add("account.name", "set name or legal_name")
	}
	if err := v.err(); err != nil {
		return match.Features{}, err
	}
	f, err := match.FromRaw(rawOf(a))
	var ne *normalize.Error
	if errors.As(err, &ne) {
		return f, fieldErr(accountField(ne.Field), ne.Reason)
	}
	return f, err
}

// check finds and ranks the golden candidates of f.
func (c *Customer) check(ctx context.Context, f match.Features) (match.Decision, map[match.ID]*readmodel.GoldenInfo, int64, error) {
	cfg := c.cfg()
	infos, count, err := c.golden().GoldenCandidates(ctx, match.BlockKeys(&f), cfg.MaxBlock)
	if err != nil {
		var ce *readmodel.CorruptError
		if errors.As(err, &ce) {
			return match.Decision{}, nil, 0, c.corrupt(ctx, ce.Model, err)
		}
		return match.Decision{}, nil, 0, storeErr(ctx, c.Log, err)
	}
	// Ids in golden-id order, so ties break on the smaller golden id as in
	// customer-sync's index (golden ids are fixed-width hex).
	slices.SortFunc(infos, func(a, b *readmodel.GoldenInfo) int { return strings.Compare(a.ID, b.ID) })
	byID := make(map[match.ID]*readmodel.GoldenInfo, len(infos))
	entries := make([]match.Entry, len(infos))
	for i, gi := range infos {
		id := match.ID(i + 1)
		byID[id] = gi
		entries[i] = match.Entry{ID: id, Features: gi.Features}
	}
	return match.Rank(cfg, f, entries), byID, count, nil
}

var verdicts = map[match.Outcome]customerv1.Verdict{
	match.New:    customerv1.Verdict_VERDICT_NO_DUPLICATE,
	match.Review: customerv1.Verdict_VERDICT_PROBABLE_DUPLICATE,
	match.Merge:  customerv1.Verdict_VERDICT_DUPLICATE,
}

// CheckDuplicate ranks the golden customers the account may be.
func (c *Customer) CheckDuplicate(ctx context.Context, r *customerv1.CheckDuplicateRequest) (*customerv1.CheckDuplicateResponse, error) {
	if r.GetMaxCandidates() < 0 {
		return nil, fieldErr("max_candidates", "must not be negative")
	}
	f, err := features(r.GetAccount())
	if err != nil {
		return nil, err
	}
	d, byID, count, err := c.check(ctx, f)
	if err != nil {
		return nil, err
	}
	resp := &customerv1.CheckDuplicateResponse{Verdict: verdicts[d.Outcome], GoldenRecords: count}
	limit := len(d.Candidates)
	if n := int(r.GetMaxCandidates()); n > 0 && n < limit {
		limit = n
	}
	var newest time.Time
	for _, cand := range d.Candidates[:limit] {
		gi := byID[cand.ID]
		pc := &customerv1.Candidate{GoldenId: gi.ID, Score: cand.Score, Name: gi.Name, Country: gi.Features.Country,
			ErpCustomerId: gi.ERPID, CrmAccountIds: gi.CRMIDs, Territory: gi.Territory}
		for _, e := range cand.Evidence {
			pc.Evidence = append(pc.Evidence, &customerv1.Evidence{Kind: e.Kind, Detail: e.Detail, Weight: e.Weight})
		}
		resp.Candidates = append(resp.Candidates, pc)
		if gi.AsOf.After(newest) {
			newest = gi.AsOf
		}
	}
	// Without candidates the answer is as of now: the model was ready (caught
	// up with mdm.customer.v1) when the query read it.
	now := c.now()
	if newest.IsZero() {
		newest = now
	}
	resp.Freshness = freshness(newest, now)
	return resp, nil
}

// Problem codes of ValidateAccount.
const (
	ProblemNameMissing       = "NAME_MISSING"
	ProblemLegalNameMissing  = "LEGAL_NAME_MISSING"
	ProblemCountryMissing    = "COUNTRY_MISSING"
	ProblemCountryUnknown    = "COUNTRY_UNKNOWN"
	ProblemAddressIncomplete = "ADDRESS_INCOMPLETE"
	ProblemTaxIDMissing      = "TAX_ID_MISSING"
	ProblemTaxIDFormat       = "TAX_ID_FORMAT"
	ProblemTaxIDCountry      = "TAX_ID_COUNTRY"
	ProblemDomainFormat      = "DOMAIN_FORMAT"
	ProblemPhoneFormat       = "PHONE_FORMAT"
	ProblemBlockedParty      = "BLOCKED_PARTY"
	ProblemCreditHold        = "CREDIT_HOLD"
	ProblemDuplicate         = "DUPLICATE"
)

// noPostalCodes are countries whose addresses have no postal code.
var noPostalCodes = map[string]bool{"AE": true, "HK": true, "QA": true, "BS": true, "FJ": true}

type problems struct{ list []*customerv1.Problem }

func (p *problems) add(sev customerv1.Severity, field, code, msg string) {
	p.list = append(p.list, &customerv1.Problem{Field: field, Code: code, Message: msg, Severity: sev})
}

const (
	sevError   = customerv1.Severity_SEVERITY_ERROR
	sevWarning = customerv1.Severity_SEVERITY_WARNING
)

// ValidateAccount lists what the ERP would refuse and who the company is in
// the ERP's credit and compliance data.
func (c *Customer) ValidateAccount(ctx context.Context, r *customerv1.ValidateAccountRequest) (*customerv1.ValidateAccountResponse, error) {
	a := r.GetAccount()
	if a == nil {
		return nil, fieldErr("account", "is required")
	}
	var v violations
	checkText(&v, a)
	if err := v.err(); err != nil {
		return nil, err
	}
	var p problems
	norm := &customerv1.Normalized{}
	addr := a.GetAddress()
	name, legal := strings.TrimSpace(a.GetName()), strings.TrimSpace(a.GetLegalName())
	if name == "" && legal == "" {
		p.add(sevError, "account.name", ProblemNameMissing, "the account needs a name")
	}
	if legal == "" {
		p.add(sevError, "account.legal_name", ProblemLegalNameMissing, "the ERP needs the registered legal name of the entity")
	} else if _, err := normalize.Name(legal); err != nil {
		p.add(sevError, "account.legal_name", ProblemLegalNameMissing, err.Error())
	}
	country := ""
	if strings.TrimSpace(addr.GetCountry()) == "" {
		p.add(sevError, "account.address.country", ProblemCountryMissing, "the ERP needs the country of the legal entity")
	} else if cc, err := normalize.Country(addr.GetCountry()); err != nil {
		p.add(sevError, "account.address.country", ProblemCountryUnknown, err.Error())
	} else {
		country = cc
		norm.Country = cc
	}
	for _, f := range []struct{ field, val, what string }{
		{"account.address.line1", addr.GetLine1(), "street"}, {"account.address.city", addr.GetCity(), "city"},
	} {
		if strings.TrimSpace(f.val) == "" {
			p.add(sevError, f.field, ProblemAddressIncomplete, "the billing address needs a "+f.what)
		}
	}
	if strings.TrimSpace(addr.GetPostalCode()) == "" && country != "" && !noPostalCodes[country] {
		p.add(sevError, "account.address.postal_code", ProblemAddressIncomplete, "addresses in "+country+" have a postal code")
	} else if country != "" {
		norm.PostalCode = normalize.PostalCode(addr.GetPostalCode(), country)
	}
	switch tax := strings.TrimSpace(a.GetTaxId()); {
	case tax == "":
		p.add(sevError, "account.tax_id", ProblemTaxIDMissing, "the ERP needs the tax or VAT id of the legal entity")
	case country != "" || len(tax) > 2:
		t, err := normalize.TaxID(tax, country)
		var ne *normalize.Error
		switch {
		case errors.As(err, &ne):
			p.add(sevError, "account.tax_id", ProblemTaxIDFormat, ne.Reason)
		case err != nil:
			p.add(sevError, "account.tax_id", ProblemTaxIDFormat, err.Error())
		default:
			norm.TaxId = t
			if country != "" && !strings.HasPrefix(t, country) {
				p.add(sevWarning, "account.tax_id", ProblemTaxIDCountry, "tax id registered in "+t[:2]+", legal entity in "+country)
			}
		}
	}
	if d := a.GetDomain(); d != "" {
		if dn, err := normalize.Domain(d); err != nil {
			p.add(sevWarning, "account.domain", ProblemDomainFormat, err.Error())
		} else {
			norm.Domain = dn
		}
	}
	if ph := a.GetPhone(); ph != "" {
		if e, err := normalize.Phone(ph, country); err != nil {
			p.add(sevWarning, "account.phone", ProblemPhoneFormat, err.Error())
		} else {
			norm.Phone = e
		}
	}
	resp := &customerv1.ValidateAccountResponse{Normalized: norm}
	// Who the company is: only an account the matcher can read is looked up.
	if f, err := match.FromRaw(rawOf(a)); err == nil && (f.Name != "" || f.Legal != "") {
		if err := c.screen(ctx, f, &p, resp); err != nil {
			return nil, err
		}
	}
	resp.Problems = p.list
	resp.Valid = !slices.ContainsFunc(p.list, func(x *customerv1.Problem) bool { return x.Severity == sevError })
	return resp, nil
}

// screen matches the account against the golden customers and checks the
// ERP's credit and compliance status of the ones it is (DUPLICATE) or may be
// (review band): a BLOCKED party is an error when the account is that
// customer and a warning when it may be.
func (c *Customer) screen(ctx context.Context, f match.Features, p *problems, resp *customerv1.ValidateAccountResponse) error {
	d, byID, _, err := c.check(ctx, f)
	if err != nil {
		return err
	}
	if d.Outcome == match.Merge {
		gi := byID[d.Target]
		resp.GoldenId = gi.ID
		p.add(sevWarning, "account", ProblemDuplicate, "the company is golden customer "+gi.ID+" ("+gi.Name+"): use its account instead of creating one")
	}
	var erpIDs []string
	for _, cand := range d.Candidates {
		if id := byID[cand.ID].ERPID; id != "" {
			erpIDs = append(erpIDs, id)
		}
	}
	accounts := map[string]*credit.Account{}
	if len(erpIDs) > 0 {
		vals, err := c.values(ctx, readmodel.Lookup{Model: readmodel.Credit, Fields: erpIDs})
		if err != nil {
			return err
		}
		for i, id := range erpIDs {
			if a := as[credit.Account](vals[0][i]); a != nil {
				accounts[id] = a
			}
		}
	}
	for _, cand := range d.Candidates {
		gi := byID[cand.ID]
		status, hold, reason := gi.CreditStatus, false, ""
		if a := accounts[gi.ERPID]; a != nil {
			status, hold, reason = a.Status, a.Hold, a.HoldReason
		}
		sure := d.Outcome == match.Merge && cand.ID == d.Target
		who := "golden customer " + gi.ID + " (" + gi.Name + ", ERP " + gi.ERPID + ")"
		switch {
		case status == "BLOCKED" && sure:
			p.add(sevError, "account", ProblemBlockedParty, "the company is "+who+", blocked in the ERP"+because(reason))
		case status == "BLOCKED":
			p.add(sevWarning, "account", ProblemBlockedParty, "the company may be "+who+", blocked in the ERP"+because(reason))
		case (hold || status == "HOLD") && sure:
			p.add(sevWarning, "account", ProblemCreditHold, "the company is "+who+", on credit hold"+because(reason))
		}
	}
	return nil
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}
