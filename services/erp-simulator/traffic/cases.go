package traffic

import (
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// The simulated CRM's view of the installed base, learned from ERP
// (erp.asset.v1, erp.customer.v1) as a CRM's asset sync would: service
// cases name assets customers really have.
type knownAsset struct {
	serial, sku, erpCustomer string
	// installed is the install day (zero: unknown); warrantyEnd the last
	// day of the warranty (zero: none).
	installed, warrantyEnd time.Time
}

// knownCustomer is what the CRM knows of an ERP customer: its CRM account
// and the price list it buys from (region and currency; "" when unknown).
type knownCustomer struct {
	crm, region, currency string
}

// maxKnownAssets bounds the installed base the CRM keeps for cases.
const maxKnownAssets = 100_000

// caseShare is the share (percent) of the manufacturer's actions that are
// service cases once the CRM knows installed assets.
const caseShare = 6

// LearnAsset records an asset of the installed base: INSTALLED assets may
// get cases; any other status (or a removed asset) takes it out.
func (g *Generator) LearnAsset(a *contracts.Asset) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.assetIndex == nil {
		g.assetIndex = map[string]int{}
	}
	i, known := g.assetIndex[a.Serial]
	if a.Status != contracts.AssetStatusInstalled {
		if known { // swap-remove
			last := len(g.assets) - 1
			g.assets[i] = g.assets[last]
			g.assetIndex[g.assets[i].serial] = i
			g.assets = g.assets[:last]
			delete(g.assetIndex, a.Serial)
		}
		return
	}
	k := knownAsset{serial: a.Serial, sku: a.SKU, erpCustomer: a.ERPCustomerID, installed: a.InstallDate}
	if a.Warranty != nil {
		k.warrantyEnd = a.Warranty.EndDate
	}
	switch {
	case known:
		g.assets[i] = k
	case len(g.assets) < maxKnownAssets:
		g.assetIndex[a.Serial] = len(g.assets)
		g.assets = append(g.assets, k)
	}
}

// LearnCustomer records which CRM account an ERP customer is, and its price
// list: the region of its billing (else shipping) country and its currency
// (else the country's).
func (g *Generator) LearnCustomer(c *contracts.Customer) {
	if c.CRMAccountID == nil || *c.CRMAccountID == "" {
		return
	}
	k := knownCustomer{crm: *c.CRMAccountID, currency: strings.ToUpper(contracts.Deref(c.Currency))}
	addr := c.BillingAddress
	if addr == nil {
		addr = c.ShippingAddress
	}
	if addr != nil {
		if country, ok := CountryByCode(strings.ToUpper(addr.Country)); ok {
			k.region = country.Region
			if k.currency == "" {
				k.currency = country.Currency
			}
		}
	}
	if k.region == "" {
		k.currency = ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.customers == nil {
		g.customers, g.erpOf = map[string]knownCustomer{}, map[string]string{}
	}
	g.customers[c.ERPCustomerID] = k
	g.erpOf[k.crm] = c.ERPCustomerID
}

var (
	caseTypes = []string{contracts.ServiceTypeRepair, contracts.ServiceTypeRepair, contracts.ServiceTypeRepair, contracts.ServiceTypeRepair,
		contracts.ServiceTypeRepair, contracts.ServiceTypeRepair, contracts.ServiceTypePreventiveMaintenance, contracts.ServiceTypePreventiveMaintenance,
		contracts.ServiceTypeInspection, contracts.ServiceTypeParts, contracts.ServiceTypeInstallation}
	symptoms = map[string][]string{
		contracts.ServiceTypeRepair:                {"leaking at the shaft seal", "does not start", "loud bearing noise", "pressure drops under load", "error code E42 on the panel"},
		contracts.ServiceTypePreventiveMaintenance: {"annual maintenance due", "service interval reached"},
		contracts.ServiceTypeInspection:            {"inspection after a power surge", "insurance inspection"},
		contracts.ServiceTypeParts:                 {"replacement seal kit needed", "spare part request"},
		contracts.ServiceTypeInstallation:          {"move to a new line", "re-install after plant shutdown"},
	}
	casePriorities = []string{contracts.SeverityLow, contracts.SeverityMedium, contracts.SeverityMedium, contracts.SeverityHigh, contracts.SeverityCritical}
	slaTiers       = []string{contracts.SlaTierBasic, contracts.SlaTierStandard, contracts.SlaTierStandard, contracts.SlaTierPremium}
)

// maxOpenCases bounds the cases the CRM remembers for cancellation.
const maxOpenCases = 1000

// serviceCase is a customer calling about an asset (crm.case.v1 OPEN), or
// now and then withdrawing an open case (CANCELLED), or asking to return
// goods (returnShare of the cases, see returnCase). It reports false when
// the CRM knows no installed asset of a CRM account yet: until then it
// draws no random number, so traffic without asset sync is unchanged.
func (g *Generator) serviceCase(now time.Time) (Event, bool) {
	if len(g.openCases) > 0 && g.pick(20) == 0 {
		i := g.pick(len(g.openCases))
		c := *g.openCases[i]
		g.openCases = append(g.openCases[:i], g.openCases[i+1:]...)
		c.Metadata = g.meta(now, c.Metadata.CorrelationID)
		c.Status = contracts.CaseStatusCancelled
		kind := "case-cancel"
		if c.ReturnRequest != nil {
			kind = "return-cancel"
		}
		return Event{Topic: contracts.TopicCRMCaseV1, Key: c.CaseID, Value: &c, Kind: kind}, true
	}
	g.mu.Lock()
	synced := len(g.assets) > 0
	g.mu.Unlock()
	if !synced { // no asset sync yet (or none at all, as under loadgen): no cases
		return Event{}, false
	}
	if g.pick(100) < returnShare {
		if c, ok := g.returnCase(now); ok {
			g.opened(c)
			return Event{Topic: contracts.TopicCRMCaseV1, Key: c.CaseID, Value: c, Kind: "return"}, true
		}
	}
	g.mu.Lock()
	var a knownAsset
	crm := ""
	if n := len(g.assets); n > 0 {
		a = g.assets[g.pick(n)]
		crm = g.customers[a.erpCustomer].crm
	}
	g.mu.Unlock()
	if crm == "" {
		return Event{}, false
	}
	st := caseTypes[g.pick(len(caseTypes))]
	id := g.nextID("CASE")
	sym := symptoms[st][g.pick(len(symptoms[st]))]
	c := &contracts.Case{
		Metadata:      g.meta(now, id),
		CaseID:        id,
		AccountID:     crm,
		ERPCustomerID: &a.erpCustomer,
		Serial:        a.serial,
		SKU:           &a.sku,
		ServiceType:   st,
		Symptom:       &sym,
		Priority:      casePriorities[g.pick(len(casePriorities))],
		SLATier:       slaTiers[g.pick(len(slaTiers))],
		Status:        contracts.CaseStatusOpen,
		OpenedAt:      now,
	}
	g.opened(c)
	return Event{Topic: contracts.TopicCRMCaseV1, Key: id, Value: c, Kind: "case"}, true
}

// opened remembers an open case the CRM may cancel later.
func (g *Generator) opened(c *contracts.Case) {
	if len(g.openCases) < maxOpenCases {
		g.openCases = append(g.openCases, c)
	}
}
