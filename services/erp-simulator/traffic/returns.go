package traffic

import (
	"slices"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Return requests of the simulated CRM: a crm.case.v1 with a return_request
// (kind "return"), inspected rather than repaired.
const (
	// returnShare is the share (percent) of the cases that are return
	// requests.
	returnShare = 25
	// refusedReturnShare is the share (percent) of the return requests the
	// return policy must refuse: a serial of another customer's asset, or
	// NOT_NEEDED long after the purchase.
	refusedReturnShare = 10
	// orderReturnShare is the share (percent) of the return requests that
	// send back lines of an order the CRM sold (non-serialised goods).
	orderReturnShare = 20

	// returnWindow is how long after the purchase (or install) a customer
	// may return goods it does not need (field-service's policy); the CRM
	// asks for such returns only returnMargin before its end, so a request
	// processed a little later is still in time.
	returnWindow = 30 * 24 * time.Hour
	returnMargin = 2 * 24 * time.Hour
	// lateReturnAge is when the CRM says the goods of a late NOT_NEEDED
	// return were bought: well outside the window.
	lateReturnAge = 90 * 24 * time.Hour
	// orderReturnMinAge is how old an order must be before its lines are
	// returned: the simulated ERP ships within seconds.
	orderReturnMinAge = time.Minute

	// maxSoldOrders bounds the recent orders the CRM remembers for
	// returns; maxReturning the serials it remembers a return was asked
	// for (not asked for again).
	maxSoldOrders = 1000
	maxReturning  = 10_000
)

var (
	// assetReturnReasons for an asset within the return window; after it,
	// only a DEFECTIVE asset under warranty is returned.
	assetReturnReasons = []string{
		contracts.ReturnReasonDefective, contracts.ReturnReasonDefective, contracts.ReturnReasonDefective, contracts.ReturnReasonDefective,
		contracts.ReturnReasonDefective, contracts.ReturnReasonDefective, contracts.ReturnReasonDefective, contracts.ReturnReasonDefective,
		contracts.ReturnReasonDefective, contracts.ReturnReasonDefective, contracts.ReturnReasonDefective, contracts.ReturnReasonDefective,
		contracts.ReturnReasonDamaged, contracts.ReturnReasonDamaged, contracts.ReturnReasonDamaged,
		contracts.ReturnReasonWrongItem, contracts.ReturnReasonWrongItem,
		contracts.ReturnReasonNotNeeded, contracts.ReturnReasonNotNeeded, contracts.ReturnReasonNotNeeded,
	}
	orderReturnReasons = []string{
		contracts.ReturnReasonNotNeeded, contracts.ReturnReasonNotNeeded,
		contracts.ReturnReasonDamaged, contracts.ReturnReasonWrongItem, contracts.ReturnReasonDefective,
	}
	returnSymptoms = map[string][]string{
		contracts.ReturnReasonDefective: {"return: stopped working", "return: fails after a few hours of operation"},
		contracts.ReturnReasonDamaged:   {"return: arrived damaged", "return: housing cracked on delivery"},
		contracts.ReturnReasonWrongItem: {"return: not the ordered model", "return: wrong size delivered"},
		contracts.ReturnReasonNotNeeded: {"return: no longer needed", "return: project cancelled"},
	}
	returnPriorities = []string{contracts.SeverityLow, contracts.SeverityLow, contracts.SeverityMedium}
)

// soldOrder is an order the CRM sold through an accepted quote (order id =
// quote id, as quote-to-order makes it), with the lines a customer may
// send back.
type soldOrder struct {
	orderID, accountID, currency string
	at                           time.Time // accepted
	lines                        []soldLine
}

type soldLine struct {
	number       int
	sku          string
	remaining    int64 // units not asked back yet
	unit         contracts.Money
	subscription bool
}

// sell remembers the returnable lines of an accepted quote: non-serialised
// goods (serialised units are returned as assets) not shipped to an
// export-controlled country (ERP rejects those lines).
func (g *Generator) sell(q *contracts.Quote) {
	o := &soldOrder{orderID: q.QuoteID, accountID: q.SoldToAccountID, currency: q.Currency, at: contracts.Deref(q.AcceptedAt)}
	for _, l := range q.Lines {
		p, ok := ProductBySKU(l.SKU)
		if !ok || p.Serialised() || slices.Contains(ExportControlled, l.ShipToCountry) {
			continue
		}
		o.lines = append(o.lines, soldLine{number: l.LineNumber, sku: l.SKU, remaining: l.Quantity, unit: l.UnitPrice, subscription: p.Subscription})
	}
	if len(o.lines) == 0 {
		return
	}
	g.sold = append(g.sold, o)
	if len(g.sold) > maxSoldOrders {
		g.sold = g.sold[1:]
	}
}

// returnCase is a customer asking to return goods: mostly an installed
// asset, now and then lines of a recent order, and refusedReturnShare of
// the time a request the return policy must refuse. It reports false when
// the CRM knows nothing the customer could return (the caller then opens
// an ordinary service case).
func (g *Generator) returnCase(now time.Time) (*contracts.Case, bool) {
	switch r := g.pick(100); {
	case r < refusedReturnShare:
		if c, ok := g.refusedReturn(now); ok {
			return c, true
		}
	case r < refusedReturnShare+orderReturnShare:
		if c, ok := g.orderReturn(now); ok {
			return c, true
		}
	}
	return g.assetReturn(now)
}

// assetReturn sends back one installed asset of a customer: any reason
// within the return window (mostly DEFECTIVE), DEFECTIVE after it while the
// asset is under warranty, nothing when neither holds. PurchasedAt is left
// to the asset's install date.
func (g *Generator) assetReturn(now time.Time) (*contracts.Case, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, k, pl, ok := g.pickAsset()
	if !ok || g.returning[a.serial] {
		return nil, false
	}
	var reason string
	switch {
	case !a.installed.IsZero() && now.Before(a.installed.Add(returnWindow-returnMargin)):
		reason = assetReturnReasons[g.pick(len(assetReturnReasons))]
	case !a.warrantyEnd.IsZero() && now.Before(a.warrantyEnd.AddDate(0, 0, 1).Add(-returnMargin)):
		reason = contracts.ReturnReasonDefective
	default:
		return nil, false
	}
	line, ok := assetReturnLine(a, pl, reason, nil)
	if !ok {
		return nil, false
	}
	g.markReturning(a.serial)
	return g.newReturnCase(now, k.crm, &a.erpCustomer, a.serial, &a.sku, &contracts.ReturnRequest{Currency: pl.Currency, Lines: []contracts.ReturnRequestLine{line}}), true
}

// refusedReturn is a request the return policy must refuse: half the time
// a customer names a serial of another customer's asset, else it sends back
// an asset it does not need, saying it bought it lateReturnAge ago.
func (g *Generator) refusedReturn(now time.Time) (*contracts.Case, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, k, pl, ok := g.pickAsset()
	if !ok {
		return nil, false
	}
	var line contracts.ReturnRequestLine
	named := a
	if g.pick(2) == 0 {
		named = g.assets[g.pick(len(g.assets))]
		if named.erpCustomer == a.erpCustomer {
			return nil, false
		}
		line, ok = assetReturnLine(named, pl, contracts.ReturnReasonDefective, nil)
	} else {
		bought := now.Add(-lateReturnAge)
		line, ok = assetReturnLine(a, pl, contracts.ReturnReasonNotNeeded, &bought)
	}
	if !ok {
		return nil, false
	}
	return g.newReturnCase(now, k.crm, &a.erpCustomer, named.serial, &named.sku, &contracts.ReturnRequest{Currency: pl.Currency, Lines: []contracts.ReturnRequestLine{line}}), true
}

// orderReturn sends back part of one or two lines of a recent order, at the
// price paid, bought when the quote was accepted. Orders too old to return
// are forgotten.
func (g *Generator) orderReturn(now time.Time) (*contracts.Case, bool) {
	for len(g.sold) > 0 && now.Sub(g.sold[0].at) >= returnWindow-returnMargin {
		g.sold = g.sold[1:]
	}
	ready := 0
	for _, o := range g.sold {
		if now.Sub(o.at) >= orderReturnMinAge {
			ready++
		}
	}
	if ready == 0 {
		return nil, false
	}
	var o *soldOrder
	oi, j := 0, g.pick(ready)
	for i, s := range g.sold {
		if now.Sub(s.at) >= orderReturnMinAge {
			if j == 0 {
				o, oi = s, i
				break
			}
			j--
		}
	}
	n := 1
	if len(o.lines) > 1 && g.pick(3) == 0 {
		n = 2
	}
	idx := g.rng.Perm(len(o.lines))[:n]
	slices.Sort(idx)
	reason := orderReturnReasons[g.pick(len(orderReturnReasons))]
	bought := o.at
	rr := &contracts.ReturnRequest{OrderID: ptr(o.orderID), Currency: o.currency}
	for _, i := range idx {
		l := &o.lines[i]
		q := 1 + g.rng.Int64N(l.remaining)
		l.remaining -= q
		rr.Lines = append(rr.Lines, contracts.ReturnRequestLine{
			OrderLineNumber: ptr(l.number), SKU: l.sku, Quantity: q, Serials: []string{},
			UnitPrice: l.unit, Reason: reason, PurchasedAt: &bought, Subscription: l.subscription,
		})
	}
	o.lines = slices.DeleteFunc(o.lines, func(l soldLine) bool { return l.remaining == 0 })
	if len(o.lines) == 0 {
		g.sold = slices.Delete(g.sold, oi, oi+1)
	}
	var sku *string
	if len(rr.Lines) == 1 {
		sku = ptr(rr.Lines[0].SKU)
	}
	g.mu.Lock()
	erp, known := g.erpOf[o.accountID]
	g.mu.Unlock()
	var erpID *string
	if known {
		erpID = &erp
	}
	return g.newReturnCase(now, o.accountID, erpID, "", sku, rr), true
}

// assetReturnLine returns one unit of an asset at its list price in the
// customer's price list.
func assetReturnLine(a knownAsset, pl PriceList, reason string, bought *time.Time) (contracts.ReturnRequestLine, bool) {
	unit, ok := TierPrice(a.sku, pl.Region, pl.Currency, 1)
	if !ok {
		return contracts.ReturnRequestLine{}, false
	}
	p, _ := ProductBySKU(a.sku)
	return contracts.ReturnRequestLine{
		SKU: a.sku, Quantity: 1, Serials: []string{a.serial},
		UnitPrice: contracts.Money{AmountMinor: unit, Currency: pl.Currency},
		Reason:    reason, PurchasedAt: bought, Subscription: p.Subscription,
	}, true
}

// pickAsset draws an installed asset with its customer and the customer's
// price list (g.mu held); false when no asset is known or its customer has
// no price list yet.
func (g *Generator) pickAsset() (knownAsset, knownCustomer, PriceList, bool) {
	if len(g.assets) == 0 {
		return knownAsset{}, knownCustomer{}, PriceList{}, false
	}
	a := g.assets[g.pick(len(g.assets))]
	k := g.customers[a.erpCustomer]
	pl, ok := g.priceListOf(k)
	return a, k, pl, ok
}

// priceListOf is the price list a customer with a CRM account buys from:
// learned from ERP, else its CRM account's market (accounts of this
// generator); false when unknown. Under mu.
func (g *Generator) priceListOf(k knownCustomer) (PriceList, bool) {
	switch {
	case k.crm == "":
		return PriceList{}, false
	case k.region != "" && k.currency != "":
		return PriceList{Region: k.region, Currency: k.currency}, true
	}
	if a := g.accountByID(k.crm); a != nil {
		return PriceList{Region: a.country.Region, Currency: a.country.Currency}, true
	}
	return PriceList{}, false
}

// markReturning remembers that a return was asked for a serial. Under mu.
func (g *Generator) markReturning(serial string) {
	if g.returning == nil {
		g.returning = map[string]bool{}
	}
	g.returning[serial] = true
	g.returningOrder = append(g.returningOrder, serial)
	for len(g.returningOrder) > maxReturning {
		delete(g.returning, g.returningOrder[0])
		g.returningOrder = g.returningOrder[1:]
	}
}

// newReturnCase is the OPEN case of a return request: an inspection, with
// the reason of its first line as what the customer reports.
func (g *Generator) newReturnCase(now time.Time, crm string, erpCustomer *string, serial string, sku *string, rr *contracts.ReturnRequest) *contracts.Case {
	id := g.nextID("CASE")
	reason := rr.Lines[0].Reason
	sym := returnSymptoms[reason][g.pick(len(returnSymptoms[reason]))]
	return &contracts.Case{
		Metadata:      g.meta(now, id),
		CaseID:        id,
		AccountID:     crm,
		ERPCustomerID: erpCustomer,
		Serial:        serial,
		SKU:           sku,
		ServiceType:   contracts.ServiceTypeInspection,
		Symptom:       &sym,
		Priority:      returnPriorities[g.pick(len(returnPriorities))],
		SLATier:       slaTiers[g.pick(len(slaTiers))],
		Status:        contracts.CaseStatusOpen,
		OpenedAt:      now,
		ReturnRequest: rr,
	}
}
