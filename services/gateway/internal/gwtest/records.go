// Package gwtest builds what the gateway's tests need: Kafka (kfake in unit tests,
// the real broker with -tags integration), Redis (miniredis or the real server), a
// schema registry, ERP records in the real contracts, signed tokens, and a running
// gateway.
package gwtest

import (
	"fmt"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// Record is a value in a topic's contract, as a map in the catalog schema's shape.
type Record struct {
	Topic  string
	Key    string
	Fields map[string]any
}

// Metadata is the common event metadata.
func Metadata(at time.Time) map[string]any {
	return map[string]any{
		"event_id": testinfra.UUID(), "correlation_id": testinfra.UUID(), "causation_id": nil,
		"source_system": "ERP", "occurred_at": at.UTC().Truncate(time.Millisecond),
	}
}

// Money is a common Money record.
func Money(currency string, minor int64) map[string]any {
	return map[string]any{"amount_minor": minor, "currency": currency}
}

// Tier is a volume tier.
type Tier struct {
	Min  int64
	Unit int64
}

// PriceEntry is a standard price-book entry (customer "" ) or a customer-specific one.
func PriceEntry(sku, region, currency, customer string, list int64, version int64, discountBps, taxBps int32, at time.Time, tiers ...Tier) Record {
	ts := []any{}
	for _, t := range tiers {
		ts = append(ts, map[string]any{"min_quantity": t.Min, "unit_price": Money(currency, t.Unit)})
	}
	var cust any
	key := sku + "|" + region + "|" + currency
	if customer != "" {
		cust = customer
		key += "|" + customer
	}
	return Record{Topic: "erp.price-book.v1", Key: key, Fields: map[string]any{
		"metadata": Metadata(at), "price_book_id": region + "-2025", "price_book_version": version,
		"sku": sku, "region": region, "currency": currency, "erp_customer_id": cust,
		"list_price": Money(currency, list), "volume_tiers": ts, "discount_bps": discountBps,
		"tax_rate_bps": taxBps, "valid_from": nil, "valid_to": nil, "active": true,
	}}
}

// CreditAccount is an erp.credit.v1 position.
func CreditAccount(customer, currency string, limit, ar, open int64, hold bool, asOf time.Time) Record {
	status := "ACTIVE"
	if hold {
		status = "HOLD"
	}
	return Record{Topic: "erp.credit.v1", Key: customer, Fields: map[string]any{
		"metadata": Metadata(asOf), "erp_customer_id": customer, "credit_limit": Money(currency, limit),
		"ar_balance": Money(currency, ar), "open_orders": Money(currency, open), "hold": hold,
		"hold_reason": nil, "credit_status": status, "as_of": asOf.UTC().Truncate(time.Millisecond),
	}}
}

// InventoryLevel is an erp.inventory.v1 level.
func InventoryLevel(sku, site string, onHand, allocated int64, asOf time.Time) Record {
	return Record{Topic: "erp.inventory.v1", Key: sku + "|" + site, Fields: map[string]any{
		"metadata": Metadata(asOf), "sku": sku, "site": site, "on_hand": onHand, "allocated": allocated,
		"on_order": int64(0), "as_of": asOf.UTC().Truncate(time.Millisecond),
	}}
}

// Customer is an erp.customer.v1 record.
func Customer(erpID, crmID string, taxExempt bool, at time.Time) Record {
	var crm any
	if crmID != "" {
		crm = crmID
	}
	return Record{Topic: "erp.customer.v1", Key: erpID, Fields: map[string]any{
		"metadata": Metadata(at), "op": "UPSERT", "erp_customer_id": erpID, "crm_account_id": crm,
		"golden_id": nil, "command_id": nil, "name": "Customer " + erpID, "legal_name": nil,
		"parent_erp_customer_id": nil, "tax_id": nil, "tax_exempt": taxExempt, "billing_address": nil,
		"shipping_address": nil, "phone": nil, "email": nil, "industry": nil, "territory": nil,
		"currency": nil, "payment_terms": nil, "credit_status": "ACTIVE", "credit_limit": nil,
		"source_updated_at": at.UTC().Truncate(time.Millisecond),
	}}
}

// Xref maps a CRM account to an ERP customer (mdm.xref.v1).
func Xref(crmID, erpID string, at time.Time) Record {
	return Record{Topic: "mdm.xref.v1", Key: "CRM:" + crmID, Fields: map[string]any{
		"metadata": Metadata(at), "system": "CRM", "system_id": crmID, "golden_id": "G-" + erpID,
		"status": "ACTIVE", "merged_into": nil,
		"other_ids": []any{map[string]any{"system": "ERP", "id": erpID}},
	}}
}

// Encode returns the Avro binary body of r (without the wire-format header).
func Encode(r Record) ([]byte, error) {
	cat, err := catalog.Embedded()
	if err != nil {
		return nil, err
	}
	t, err := cat.Lookup(r.Topic)
	if err != nil {
		return nil, err
	}
	return avro.Marshal(t.Schema, r.Fields)
}

// Golden is a golden customer for mdm.customer.v1 (GoldenRecord): normalised
// attributes as customer-sync publishes them; "" is null.
type Golden struct {
	ID, Name, LegalName, Country, Domain, TaxID, Phone, Postal string
	ERPID, Territory, CreditStatus                             string
	CRMIDs                                                     []string
	Status                                                     string // default ACTIVE
}

// GoldenRecord is an mdm.customer.v1 record of g.
func GoldenRecord(g Golden, at time.Time) Record {
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	st, cs := g.Status, g.CreditStatus
	if st == "" {
		st = "ACTIVE"
	}
	if cs == "" {
		cs = "UNKNOWN"
	}
	members := []any{}
	for _, id := range g.CRMIDs {
		members = append(members, map[string]any{"system": "CRM", "id": id})
	}
	if g.ERPID != "" {
		members = append(members, map[string]any{"system": "ERP", "id": g.ERPID})
	}
	md := Metadata(at)
	md["source_system"] = "CUSTOMER_SYNC"
	return Record{Topic: "mdm.customer.v1", Key: g.ID, Fields: map[string]any{
		"metadata": md, "golden_id": g.ID, "version": int64(1), "status": st, "merged_into": nil,
		"name": g.Name, "legal_name": null(g.LegalName), "parent_golden_id": nil, "domain": null(g.Domain),
		"phone": null(g.Phone), "email": nil, "tax_id": null(g.TaxID), "industry": nil, "owner_id": nil,
		"territory": null(g.Territory), "billing_address": nil, "shipping_address": nil, "payment_terms": nil,
		"credit_status": cs, "credit_limit": nil, "erp_customer_id": null(g.ERPID), "members": members,
		"lineage": []any{}, "erased": false, "country": null(g.Country), "postal_code": null(g.Postal),
		"employees": nil, "territory_rules_version": nil,
	}}
}

// BlockedCredit is an erp.credit.v1 position with credit status BLOCKED.
func BlockedCredit(customer, currency, reason string, asOf time.Time) Record {
	r := CreditAccount(customer, currency, 0, 0, 0, true, asOf)
	r.Fields["credit_status"] = "BLOCKED"
	r.Fields["hold_reason"] = reason
	return r
}

// Cover is a warranty or service-contract coverage of an asset; "" dates
// mean none.
type Cover struct {
	Start, End string // YYYY-MM-DD
	Types      []string
	ContractID string // service contracts
	Response   int    // hours; 0: none promised
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Asset is an erp.asset.v1 record: an installed asset of customer with an
// optional warranty and service contract (a zero Cover is none).
func Asset(serial, sku, customer, status string, warranty, contract Cover, at time.Time) Record {
	types := func(ts []string) []any {
		out := []any{}
		for _, t := range ts {
			out = append(out, t)
		}
		return out
	}
	var w, c any
	if warranty.Start != "" {
		w = map[string]any{"isthmus.erp.v1.WarrantyCoverage": map[string]any{"start_date": date(warranty.Start), "end_date": date(warranty.End),
			"service_types": types(warranty.Types), "provider": "Manufacturer"}}
	}
	if contract.Start != "" {
		var rh any
		if contract.Response > 0 {
			rh = contract.Response
		}
		c = map[string]any{"isthmus.erp.v1.ServiceContractCoverage": map[string]any{"contract_id": contract.ContractID, "start_date": date(contract.Start),
			"end_date": date(contract.End), "service_types": types(contract.Types), "response_hours": rh}}
	}
	return Record{Topic: "erp.asset.v1", Key: serial, Fields: map[string]any{
		"metadata": Metadata(at), "serial": serial, "sku": sku, "product_name": "Product " + sku, "erp_customer_id": customer,
		"status": status, "install_date": date("2025-01-10"), "site": nil, "warranty": w, "service_contract": c,
		"as_of": at.UTC().Truncate(time.Millisecond),
	}}
}

// Deal is a crm.deal.v1 record of a contract's term: dealType NEW, AMEND,
// RENEW or CANCEL (effective: the first day out of service).
func Deal(contractID, account, dealType string, seq int, start, end, effective string, at time.Time) Record {
	var eff any
	if effective != "" {
		eff = date(effective)
	}
	lines := []any{map[string]any{"line_number": 1, "sku": "SUPPORT-PLUS", "description": nil, "quantity": int64(1),
		"unit_price": Money("EUR", 10000), "term_months": 12}}
	if dealType == "CANCEL" {
		lines = []any{}
	}
	return Record{Topic: "crm.deal.v1", Key: contractID, Fields: map[string]any{
		"metadata": Metadata(at), "deal_id": fmt.Sprintf("DL-%s-%d", contractID, seq), "contract_id": contractID,
		"amendment_sequence": seq, "deal_type": dealType, "amendment_kind": nil, "account_id": account, "currency": "EUR",
		"start_date": date(start), "end_date": date(end), "effective_date": eff, "billing_frequency": "MONTHLY",
		"payment_terms": nil, "closed_at": at.UTC().Truncate(time.Millisecond), "lines": lines,
	}}
}
