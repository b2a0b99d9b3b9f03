// Package traffic generates the CRM side of the simulated business: accounts
// (with realistic duplicates, typos and subsidiaries abroad), contacts,
// accepted quotes with regional pricing and ship-to countries (a few of them
// export-controlled), subscription deals with their amendments, renewals
// and cancellations, and — once it knows the installed base — service
// cases and return (RMA) requests.
//
// A Generator is deterministic: the same scenario, seed, options and
// sequence of Next(now) calls (with the same ERP facts handed to
// LearnAsset, LearnCustomer and Convert between them) give the same
// events, byte for byte. It is
// used by the erp-simulator (ISTHMUS_SIM_SCENARIO) and by `isthmus loadgen`.
package traffic

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
)

// Scenario selects the business that is simulated.
type Scenario string

// Scenarios.
const (
	// Manufacturer: accounts, quotes with regional pricing and customer
	// terms, export-controlled ship-to countries, inventory.
	Manufacturer Scenario = "manufacturer"
	// SaaS: subscriptions, upsell/downsell amendments, renewals,
	// cancellations (deferred revenue and journals downstream).
	SaaS Scenario = "saas"
	// Mixed: both businesses at once.
	Mixed Scenario = "mixed"
)

// ParseScenario checks a scenario name.
func ParseScenario(s string) (Scenario, error) {
	switch Scenario(strings.ToLower(strings.TrimSpace(s))) {
	case Manufacturer:
		return Manufacturer, nil
	case SaaS:
		return SaaS, nil
	case Mixed:
		return Mixed, nil
	}
	return "", fmt.Errorf("unknown scenario %q: use manufacturer, saas or mixed", s)
}

// Event is one CRM record to produce.
type Event struct {
	Topic string // logical topic (contracts.Topic*)
	Key   string
	Value contracts.Value
	Kind  string // account, duplicate, duplicate-prevented, subsidiary, contact, lead, lead-duplicate, lead-account, lead-contact, quote, deal-new, deal-amend, deal-renew, deal-cancel, case, case-cancel, return, return-cancel
}

// Option tunes a Generator.
type Option func(*Generator)

// WithRunID namespaces every generated id (default: derived from the
// seed), so runs with the same seed against one cluster can be told apart.
func WithRunID(id string) Option { return func(g *Generator) { g.runID = id } }

// WithMinAccountAge is how old an account must be before quotes and deals
// name it, giving customer-sync time to create the ERP customer (default 3s).
func WithMinAccountAge(d time.Duration) Option { return func(g *Generator) { g.minAge = d } }

// DuplicateCheck is the CRM asking, before it saves a new account, whether
// the company already is a customer (the gateway's CheckDuplicate): it
// returns the CRM account id the sales rep uses instead, or "" to save the
// new account (no duplicate, a probable one the rep cannot confirm, or the
// check unavailable).
type DuplicateCheck func(*contracts.Account) (existingAccountID string)

// WithDuplicateCheck makes the CRM run check on bps basis points of the
// accounts its reps create. An account the check names an existing account
// for is not created; the rep adds the contact to the existing account
// instead (kind "duplicate-prevented"). The events then depend on the
// check's answers as well as on the seed.
func WithDuplicateCheck(check DuplicateCheck, bps int) Option {
	return func(g *Generator) { g.check, g.checkBps = check, bps }
}

// Generator produces the next business events of a scenario.
type Generator struct {
	scenario Scenario
	rng      *rand.Rand
	runID    string
	minAge   time.Duration
	check    DuplicateCheck
	checkBps int

	// Leads waiting for customer-sync's answer (crm.lead-updates.v1), by
	// lead id, oldest first in leadOrder; bounded by maxOpenLeads.
	leads     map[string]*openLead
	leadOrder []string
	// answers are lead updates handed over by Convert, applied by Next.
	mu      sync.Mutex
	answers []*contracts.LeadUpdate
	n       int64 // events generated
	ids     int64 // id counter

	accounts  []*account
	contracts []*subscription

	// The installed base learned from ERP (LearnAsset, LearnCustomer; under
	// mu) and the open cases the CRM may cancel.
	assets     []knownAsset
	assetIndex map[string]int
	customers  map[string]knownCustomer // by ERP customer
	erpOf      map[string]string        // CRM account → ERP customer
	openCases  []*contracts.Case

	// What returns may name: recent orders' returnable lines (oldest
	// first, bounded by maxSoldOrders) and the serials a return was asked
	// for (bounded by maxReturning, oldest first in returningOrder).
	sold           []*soldOrder
	returning      map[string]bool
	returningOrder []string
}

type account struct {
	id, name, website, taxID, phone string
	country                         Country
	terms                           string
	created                         time.Time
	duplicates                      int
}

type subscription struct {
	contractID, accountID, currency, frequency string
	seq                                        int
	start, end                                 time.Time
	lines                                      []contracts.DealLine
	cancelled                                  bool
	// lastChange is when the latest change takes effect (a renewal: the
	// day after the old end_date, which is inclusive). A later amendment or cancellation cannot take effect
	// before it (billing-bridge: effective_before_last_change), so a
	// contract renewed in advance is amended from the renewal on.
	lastChange time.Time
}

// effective is the effective date of a change made now.
func (s *subscription) effective(now time.Time) time.Time {
	eff := date(now)
	if eff.Before(s.lastChange) {
		eff = s.lastChange
	}
	s.lastChange = eff
	return eff
}

// New returns a generator for scenario seeded with seed.
func New(scenario Scenario, seed uint64, opts ...Option) (*Generator, error) {
	sc, err := ParseScenario(string(scenario))
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte(sc))
	g := &Generator{scenario: sc, rng: rand.New(rand.NewPCG(seed, h.Sum64())), runID: fmt.Sprintf("%x", seed%0xfffff), minAge: 3 * time.Second}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Scenario returns the generator's scenario.
func (g *Generator) Scenario() Scenario { return g.scenario }

// Next returns the events of the next business action at now: an account
// with its contacts, a quote, a deal, ... (one to three records).
func (g *Generator) Next(now time.Time) []Event {
	now = now.UTC().Truncate(time.Millisecond)
	if evs := g.converted(now); len(evs) > 0 {
		return evs
	}
	sc := g.scenario
	if sc == Mixed {
		sc = Manufacturer
		if g.rng.IntN(2) == 0 {
			sc = SaaS
		}
	}
	eligible := g.eligible(now)
	r := g.rng.IntN(100)
	// Keep a pool of accounts: until there are a few eligible ones, create.
	if len(g.accounts) < 3 || len(eligible) == 0 || r < 22 {
		return g.newAccount(now)
	}
	if sc == Manufacturer {
		if r < 22+caseShare {
			if ev, ok := g.serviceCase(now); ok {
				return []Event{ev}
			}
		}
		return []Event{g.quote(now, eligible)}
	}
	return g.dealAction(now, eligible)
}

func (g *Generator) eligible(now time.Time) []*account {
	var out []*account
	for _, a := range g.accounts {
		if now.Sub(a.created) >= g.minAge {
			out = append(out, a)
		}
	}
	return out
}

func (g *Generator) nextID(prefix string) string {
	g.ids++
	return fmt.Sprintf("%s-%s-%06d", prefix, g.runID, g.ids)
}

func (g *Generator) meta(now time.Time, correlation string) contracts.EventMetadata {
	g.n++
	return event.Metadata(event.ID("traffic", g.runID, fmt.Sprint(g.n)), correlation, "", contracts.SourceSystemCRM, now)
}

func (g *Generator) pick(n int) int { return g.rng.IntN(n) }

var (
	nameStems    = []string{"Acme", "Borealis", "Cobalt", "Delta", "Everest", "Fjord", "Granite", "Helix", "Ionic", "Juniper", "Kestrel", "Lumen", "Meridian", "Nordic", "Orion", "Pinnacle", "Quarry", "Riverside", "Summit", "Tundra", "Umbra", "Vertex", "Westbrook", "Zenith"}
	nameMiddles  = []string{"Industrial", "Process", "Fluid", "Water", "Energy", "Chemicals", "Foods", "Mining", "Systems", "Automation", "Logistics", "Analytics"}
	legalSuffix  = map[string][]string{"US": {"Inc.", "LLC", "Corp."}, "CA": {"Ltd.", "Inc."}, "DE": {"GmbH", "AG"}, "FR": {"SA", "SAS"}, "NL": {"B.V.", "N.V."}, "GB": {"Ltd", "plc"}, "JP": {"K.K."}, "AU": {"Pty Ltd"}, "SG": {"Pte. Ltd."}, "BR": {"Ltda.", "S.A."}, "AR": {"S.A.", "S.R.L."}, "MX": {"S.A. de C.V."}}
	industries   = []string{"Manufacturing", "Utilities", "Food & Beverage", "Mining", "Chemicals", "Software", "Logistics", "Healthcare"}
	firstNames   = []string{"Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Keiko", "Liam", "Maria", "Noah", "Olga", "Priya"}
	lastNames    = []string{"Schmidt", "Dubois", "Tanaka", "Smith", "Silva", "Jansen", "Brown", "Garcia", "Novak", "Rossi", "Kim", "Okafor"}
	titles       = []string{"Procurement Manager", "Plant Director", "CFO", "IT Director", "Operations Lead", "Buyer"}
	streets      = []string{"Main Street", "Industriestrasse", "Harbour Road", "Rue de la Gare", "Kanaalweg", "Avenida Paulista", "Chuo-dori"}
	paymentTerms = []string{"NET30", "NET30", "NET45", "NET60"}
)

func (g *Generator) newAccount(now time.Time) []Event {
	switch r := g.pick(100); {
	case r < 12 && len(g.accounts) > 2:
		return g.duplicate(now)
	case r < 22 && len(g.accounts) > 2:
		return g.subsidiary(now)
	case r < 34 && len(g.accounts) > 2:
		return []Event{g.lead(now)}
	}
	c := Countries[g.pick(len(Countries))]
	stem := nameStems[g.pick(len(nameStems))] + " " + nameMiddles[g.pick(len(nameMiddles))]
	a := &account{
		id: g.nextID("ACC"), name: stem, country: c, created: now,
		website: strings.ToLower(strings.ReplaceAll(stem, " ", "")) + fmt.Sprintf("%d.example", g.pick(1000)),
		taxID:   g.taxID(c.Code),
		phone:   fmt.Sprintf("+%d %03d %04d", 1+g.pick(98), g.pick(1000), g.pick(10000)),
		terms:   paymentTerms[g.pick(len(paymentTerms))],
	}
	ev := g.accountEvent(now, a, a.name, nil, "account")
	if existing := g.checked(ev); existing != nil {
		return []Event{g.prevented(now, existing)}
	}
	g.accounts = append(g.accounts, a)
	evs := []Event{ev}
	for i := 0; i <= g.pick(2); i++ {
		evs = append(evs, g.contact(now, a))
	}
	return evs
}

// taxID returns a tax id of the shape the country issues (a real CRM holds
// valid ones; customer-sync refuses a body that does not fit the country):
// most markets 9 digits, FR 2 check digits + SIREN, NL 9 digits B 2 digits,
// AU an 11-digit ABN, JP a 13-digit corporate number.
func (g *Generator) taxID(country string) string {
	n := g.rng.Int64N(1_000_000_000)
	switch country {
	case "FR":
		return fmt.Sprintf("FR%02d%09d", g.pick(100), n)
	case "NL":
		return fmt.Sprintf("NL%09dB%02d", n, 1+g.pick(99))
	case "AU":
		return fmt.Sprintf("AU%02d%09d", 10+g.pick(90), n)
	case "JP":
		return fmt.Sprintf("JP%04d%09d", 1000+g.pick(9000), n)
	}
	return fmt.Sprintf("%s%09d", country, n)
}

// duplicate re-enters an existing customer as a new CRM account, with a
// typo or a different spelling, as sales reps do.
func (g *Generator) duplicate(now time.Time) []Event {
	orig := g.accounts[g.pick(len(g.accounts))]
	d := *orig
	d.id = g.nextID("ACC")
	d.created = now
	d.duplicates = 0
	d.name = typo(g.rng, orig.name)
	if g.pick(3) == 0 {
		d.taxID = "" // the rep did not fill it in
	}
	ev := g.accountEvent(now, &d, d.name, nil, "duplicate")
	if existing := g.checked(ev); existing != nil {
		return []Event{g.prevented(now, existing)}
	}
	orig.duplicates++
	g.accounts = append(g.accounts, &d)
	return []Event{ev}
}

// checked runs the CRM's duplicate check on a share of new accounts and
// returns the existing account the rep uses instead, or nil.
func (g *Generator) checked(ev Event) *account {
	if g.check == nil || g.checkBps <= 0 || g.pick(10000) >= g.checkBps {
		return nil
	}
	// nil for an account this generator did not create (another run's): save the new one
	return g.accountByID(g.check(ev.Value.(*contracts.Account)))
}

// prevented is what the rep does instead of saving a duplicate: the new
// person becomes a contact of the existing account.
func (g *Generator) prevented(now time.Time, existing *account) Event {
	ev := g.contact(now, existing)
	ev.Kind = "duplicate-prevented"
	return ev
}

// leadDuplicateShare is the share (percent) of qualified leads that come
// from companies that already are customers: inbound interest from an
// existing account's other department, typed again by sales.
const leadDuplicateShare = 35

// lead is a CRM lead qualified for conversion (crm.lead.v1): customer-sync
// answers on crm.lead-updates.v1 whether it is a new account or an existing
// customer. A share of them (leadDuplicateShare) are existing customers,
// typed with a typo or without the tax id; the rest are new companies.
func (g *Generator) lead(now time.Time) Event {
	id := g.nextID("LEAD")
	var company, website, taxID, country, kind string
	if g.pick(100) < leadDuplicateShare {
		orig := g.accounts[g.pick(len(g.accounts))]
		company, website, country, kind = orig.name, orig.website, orig.country.Code, "lead-duplicate"
		if g.pick(2) == 0 {
			company = typo(g.rng, company)
		}
		if g.pick(2) == 0 {
			taxID = orig.taxID
		}
	} else {
		c := Countries[g.pick(len(Countries))]
		company = nameStems[g.pick(len(nameStems))] + " " + nameMiddles[g.pick(len(nameMiddles))] + " " + lastNames[g.pick(len(lastNames))]
		website = strings.ToLower(strings.ReplaceAll(company, " ", "")) + fmt.Sprintf("%d.example", g.pick(1000))
		country, kind = c.Code, "lead"
	}
	first, last := firstNames[g.pick(len(firstNames))], lastNames[g.pick(len(lastNames))]
	l := &contracts.Lead{
		Metadata: g.meta(now, event.ID("lead", id)), LeadID: id, Status: contracts.LeadStatusQualified,
		Company: company, Website: ptr(website), Country: ptr(country), ContactName: ptr(first + " " + last),
		Email: ptr(strings.ToLower(first) + "@" + website), Industry: ptr(industries[g.pick(len(industries))]),
		Employees: ptr(10 + g.pick(20000)), OwnerID: ptr(fmt.Sprintf("rep-%02d", 1+g.pick(20))), SourceUpdatedAt: now,
	}
	if taxID != "" {
		l.TaxID = ptr(taxID)
	}
	g.remember(id, &openLead{company: company, website: website, taxID: taxID, country: country})
	return Event{Topic: contracts.TopicCRMLeadV1, Key: id, Value: l, Kind: kind}
}

// maxOpenLeads bounds the leads remembered while they wait for an answer.
const maxOpenLeads = 10000

// openLead is what CRM needs of a lead to create its account.
type openLead struct {
	company, website, taxID, country string
}

func (g *Generator) remember(id string, l *openLead) {
	if g.leads == nil {
		g.leads = map[string]*openLead{}
	}
	g.leads[id] = l
	g.leadOrder = append(g.leadOrder, id)
	for len(g.leadOrder) > maxOpenLeads {
		delete(g.leads, g.leadOrder[0])
		g.leadOrder = g.leadOrder[1:]
	}
}

// Convert hands CRM customer-sync's answer to one of its leads
// (crm.lead-updates.v1); the next Next call carries it out, as a sales rep
// converting the lead does: NEW_ACCOUNT creates the account from the lead
// (kind "lead-account"); EXISTING_CUSTOMER adds the lead's person as a
// contact of the existing account (kind "lead-contact"), or creates the
// account when the customer has none in CRM (an ERP-only customer, which
// identity resolution then merges); REVIEW leaves the lead with the
// steward. An answer for a lead this generator did not create, or already
// converted (a redelivery), changes nothing. Safe to call concurrently with
// Next.
func (g *Generator) Convert(u *contracts.LeadUpdate) {
	g.mu.Lock()
	g.answers = append(g.answers, u)
	g.mu.Unlock()
}

// converted carries out the answers handed over since the last call.
func (g *Generator) converted(now time.Time) []Event {
	g.mu.Lock()
	answers := g.answers
	g.answers = nil
	g.mu.Unlock()
	var evs []Event
	for _, u := range answers {
		l, ok := g.leads[u.LeadID]
		if !ok {
			continue
		}
		switch u.Outcome {
		case contracts.LeadConversionOutcomeNewAccount:
			evs = append(evs, g.leadAccount(now, u.LeadID, l)...)
		case contracts.LeadConversionOutcomeExistingCustomer:
			if existing := g.accountByID(contracts.Deref(u.AccountID)); existing != nil {
				ev := g.contact(now, existing)
				ev.Kind = "lead-contact"
				evs = append(evs, ev)
			} else {
				evs = append(evs, g.leadAccount(now, u.LeadID, l)...)
			}
		default:
			continue // REVIEW: the steward decides; the lead stays open
		}
		delete(g.leads, u.LeadID)
	}
	return evs
}

func (g *Generator) accountByID(id string) *account {
	if id == "" {
		return nil
	}
	for _, a := range g.accounts {
		if a.id == id {
			return a
		}
	}
	return nil
}

// leadAccount creates the CRM account of a converted lead (its id derived
// from the lead's) with the lead's person as its first contact.
func (g *Generator) leadAccount(now time.Time, leadID string, l *openLead) []Event {
	c, ok := CountryByCode(l.country)
	if !ok {
		c = Countries[0]
	}
	a := &account{
		id: "ACC-" + leadID, name: l.company, country: c, created: now, website: l.website, taxID: l.taxID,
		phone: fmt.Sprintf("+%d %03d %04d", 1+g.pick(98), g.pick(1000), g.pick(10000)),
		terms: paymentTerms[g.pick(len(paymentTerms))],
	}
	g.accounts = append(g.accounts, a)
	return []Event{g.accountEvent(now, a, a.name, nil, "lead-account"), g.contact(now, a)}
}

// subsidiary creates a daughter company of an existing account, often in
// another country.
func (g *Generator) subsidiary(now time.Time) []Event {
	parent := g.accounts[g.pick(len(g.accounts))]
	c := parent.country
	if g.pick(3) > 0 {
		c = Countries[g.pick(len(Countries))]
	}
	a := &account{
		id: g.nextID("ACC"), name: parent.name + " " + c.Name, country: c, created: now,
		website: parent.website, taxID: g.taxID(c.Code),
		phone: fmt.Sprintf("+%d %03d %04d", 1+g.pick(98), g.pick(1000), g.pick(10000)),
		terms: parent.terms,
	}
	g.accounts = append(g.accounts, a)
	pid := parent.id
	return []Event{g.accountEvent(now, a, a.name, &pid, "subsidiary"), g.contact(now, a)}
}

// typo changes a name the way people do: a swapped or dropped letter, a
// missing legal form, different case or punctuation.
func typo(rng *rand.Rand, name string) string {
	rs := []rune(name)
	switch rng.IntN(4) {
	case 0:
		if len(rs) > 4 {
			i := 1 + rng.IntN(len(rs)-3)
			rs[i], rs[i+1] = rs[i+1], rs[i]
		}
		return string(rs)
	case 1:
		if len(rs) > 4 {
			i := 1 + rng.IntN(len(rs)-2)
			return string(rs[:i]) + string(rs[i+1:])
		}
		return name
	case 2:
		return strings.ToUpper(name)
	default:
		return strings.ReplaceAll(name, " ", "-") + "."
	}
}

func (g *Generator) accountEvent(now time.Time, a *account, name string, parent *string, kind string) Event {
	c := a.country
	legal := name + " " + legalSuffix[c.Code][g.pick(len(legalSuffix[c.Code]))]
	industry := industries[g.pick(len(industries))]
	owner := fmt.Sprintf("rep-%02d", 1+g.pick(20))
	territory := c.Region + "-" + c.Code
	email := "ap@" + a.website
	addr := &contracts.Address{
		Line1:      fmt.Sprintf("%d %s", 1+g.pick(400), streets[g.pick(len(streets))]),
		City:       c.Cities[g.pick(len(c.Cities))],
		PostalCode: ptr(fmt.Sprintf("%05d", g.pick(100000))),
		Country:    c.Code,
	}
	acc := &contracts.Account{
		Metadata:        g.meta(now, event.ID("account", a.id)),
		Op:              contracts.ChangeOperationUpsert,
		AccountID:       a.id,
		Name:            name,
		LegalName:       &legal,
		ParentAccountID: parent,
		Status:          contracts.AccountStatusCustomer,
		Website:         ptr(a.website),
		Phone:           ptr(a.phone),
		Email:           &email,
		Industry:        &industry,
		OwnerID:         &owner,
		Territory:       &territory,
		BillingAddress:  addr,
		ShippingAddress: addr,
		SourceUpdatedAt: now,
	}
	if a.taxID != "" {
		acc.TaxID = ptr(a.taxID)
	}
	return Event{Topic: contracts.TopicCRMAccountV1, Key: a.id, Value: acc, Kind: kind}
}

func (g *Generator) contact(now time.Time, a *account) Event {
	first := firstNames[g.pick(len(firstNames))]
	last := lastNames[g.pick(len(lastNames))]
	email := strings.ToLower(first+"."+last) + "@" + a.website
	id := g.nextID("CON")
	c := &contracts.Contact{
		Metadata:        g.meta(now, event.ID("account", a.id)),
		Op:              contracts.ChangeOperationUpsert,
		ContactID:       id,
		AccountID:       a.id,
		FirstName:       &first,
		LastName:        last,
		Email:           &email,
		Phone:           ptr(a.phone),
		Title:           ptr(titles[g.pick(len(titles))]),
		Roles:           []string{"BILLING"},
		SourceUpdatedAt: now,
	}
	return Event{Topic: contracts.TopicCRMContactV1, Key: a.id, Value: c, Kind: "contact"}
}

// quote is an accepted quote of the manufacturer: regional list prices with
// volume tiers, the customer's payment terms, mostly shipped to the
// customer's country; about one line in twenty ships to an
// export-controlled country and a few quotes carry an extra discount that
// needs price review.
func (g *Generator) quote(now time.Time, eligible []*account) Event {
	a := eligible[g.pick(len(eligible))]
	c := a.country
	id := g.nextID("Q")
	hw := productsOf(false)
	n := 1 + g.pick(4)
	perm := g.rng.Perm(len(hw))
	q := &contracts.Quote{
		Metadata:              g.meta(now, event.ID("quote", id)),
		QuoteID:               id,
		Version:               1,
		Status:                contracts.QuoteStatusAccepted,
		OpportunityID:         ptr("OPP-" + strings.TrimPrefix(id, "Q-")),
		SoldToAccountID:       a.id,
		Currency:              c.Currency,
		Region:                c.Region,
		PaymentTerms:          ptr(a.terms),
		CustomerPo:            ptr(fmt.Sprintf("PO-%07d", g.pick(10_000_000))),
		RequestedDeliveryDate: ptr(now.Truncate(24*time.Hour).AddDate(0, 0, 7+g.pick(30))),
		ValidUntil:            ptr(now.Truncate(24*time.Hour).AddDate(0, 1, 0)),
		AcceptedAt:            ptr(now),
	}
	extra := int64(0)
	if g.pick(100) < 3 {
		extra = 2000 // a rep's unapproved 20% discount
	}
	var total int64
	for i := 0; i < n; i++ {
		p := hw[perm[i]]
		qty := int64(1 + g.pick(12))
		if g.pick(4) == 0 {
			qty = int64(10 + g.pick(140))
		}
		list, _ := ListPrice(p.SKU, c.Region, c.Currency)
		unit, _ := TierPrice(p.SKU, c.Region, c.Currency, qty)
		if extra > 0 {
			unit = DiscountedPrice(unit, extra)
		}
		ship := c.Code
		if g.pick(100) < 5 {
			ship = ExportControlled[g.pick(len(ExportControlled))]
		}
		desc := p.Description
		line := contracts.QuoteLine{
			LineNumber:    (i + 1) * 10,
			SKU:           p.SKU,
			Description:   &desc,
			Quantity:      qty,
			ListPrice:     contracts.Money{AmountMinor: list, Currency: c.Currency},
			UnitPrice:     contracts.Money{AmountMinor: unit, Currency: c.Currency},
			DiscountBps:   discountBps(list, unit),
			LineTotal:     contracts.Money{AmountMinor: unit * qty, Currency: c.Currency},
			ShipToCountry: ship,
		}
		total += unit * qty
		q.Lines = append(q.Lines, line)
	}
	q.Total = contracts.Money{AmountMinor: total, Currency: c.Currency}
	if extra == 0 { // a quote in price review may never become an order
		g.sell(q)
	}
	return Event{Topic: contracts.TopicCRMQuoteV1, Key: id, Value: q, Kind: "quote"}
}

func discountBps(list, unit int64) int {
	if list <= 0 || unit >= list {
		return 0
	}
	return int((list - unit) * 10000 / list)
}

var frequencies = []string{contracts.BillingFrequencyMonthly, contracts.BillingFrequencyMonthly, contracts.BillingFrequencyQuarterly, contracts.BillingFrequencyAnnual}

// dealAction is the SaaS company's next deal: a NEW subscription, or an
// amendment (upsell/downsell), renewal or cancellation of a live one.
func (g *Generator) dealAction(now time.Time, eligible []*account) []Event {
	var live []*subscription
	for _, s := range g.contracts {
		if !s.cancelled {
			live = append(live, s)
		}
	}
	r := g.pick(100)
	if len(live) == 0 || r < 40 {
		return []Event{g.newDeal(now, eligible)}
	}
	s := live[g.pick(len(live))]
	switch {
	case r < 80:
		return []Event{g.amend(now, s)}
	case r < 92:
		return []Event{g.renew(now, s)}
	default:
		return []Event{g.cancel(now, s)}
	}
}

func date(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

func (g *Generator) newDeal(now time.Time, eligible []*account) Event {
	a := eligible[g.pick(len(eligible))]
	cur := a.country.Currency
	s := &subscription{
		contractID: g.nextID("CT"), accountID: a.id, currency: cur,
		frequency: frequencies[g.pick(len(frequencies))], seq: 0, // crm.deal.v1: 0 for NEW, then 1, 2, ... per amendment
		start: date(now), end: date(now).AddDate(1, 0, -1), // end_date is the last day in service: twelve months
	}
	plans := productsOf(true)
	perm := g.rng.Perm(len(plans))
	for i := 0; i < 1+g.pick(3); i++ {
		p := plans[perm[i]]
		unit, _ := ListPrice(p.SKU, a.country.Region, cur)
		qty := int64(1)
		if strings.HasPrefix(p.SKU, "SEAT") {
			qty = int64(5 + g.pick(200))
		}
		desc := p.Description
		s.lines = append(s.lines, contracts.DealLine{LineNumber: i + 1, SKU: p.SKU, Description: &desc, Quantity: qty,
			UnitPrice: contracts.Money{AmountMinor: unit, Currency: cur}, TermMonths: 12})
	}
	g.contracts = append(g.contracts, s)
	return g.dealEvent(now, s, contracts.DealTypeNew, nil, nil, "deal-new")
}

func (g *Generator) amend(now time.Time, s *subscription) Event {
	s.seq++
	lines := append([]contracts.DealLine(nil), s.lines...)
	i := g.pick(len(lines))
	kind := contracts.AmendmentKindUpsell
	step := int64(1 + g.pick(20))
	if lines[i].Quantity > step && g.pick(3) == 0 {
		kind = contracts.AmendmentKindDownsell
		lines[i].Quantity -= step
	} else {
		lines[i].Quantity += step
	}
	s.lines = lines
	eff := s.effective(now)
	return g.dealEvent(now, s, contracts.DealTypeAmend, &kind, &eff, "deal-amend")
}

func (g *Generator) renew(now time.Time, s *subscription) Event {
	s.seq++
	s.lastChange = s.end.AddDate(0, 0, 1) // end_date is the last day in service: the renewal starts the day after
	s.end = s.end.AddDate(1, 0, 0)
	return g.dealEvent(now, s, contracts.DealTypeRenew, nil, nil, "deal-renew")
}

func (g *Generator) cancel(now time.Time, s *subscription) Event {
	s.seq++
	s.cancelled = true
	eff := s.effective(now)
	return g.dealEvent(now, s, contracts.DealTypeCancel, nil, &eff, "deal-cancel")
}

func (g *Generator) dealEvent(now time.Time, s *subscription, typ string, kind *string, eff *time.Time, evKind string) Event {
	d := &contracts.Deal{
		Metadata:          g.meta(now, event.ID("contract", s.contractID)),
		DealID:            fmt.Sprintf("DL-%s-%d", strings.TrimPrefix(s.contractID, "CT-"), s.seq),
		ContractID:        s.contractID,
		AmendmentSequence: s.seq,
		DealType:          typ,
		AmendmentKind:     kind,
		AccountID:         s.accountID,
		Currency:          s.currency,
		StartDate:         s.start,
		EndDate:           s.end,
		EffectiveDate:     eff,
		BillingFrequency:  s.frequency,
		PaymentTerms:      ptr("NET30"),
		ClosedAt:          now,
	}
	if typ != contracts.DealTypeCancel {
		d.Lines = append([]contracts.DealLine(nil), s.lines...)
	} else {
		d.Lines = []contracts.DealLine{}
	}
	return Event{Topic: contracts.TopicCRMDealV1, Key: s.contractID, Value: d, Kind: evKind}
}

func ptr[T any](v T) *T { return &v }
