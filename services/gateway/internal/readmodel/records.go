package readmodel

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/gateway/internal/credit"
	"github.com/isthmus/isthmus/services/gateway/internal/entitlement"
	"github.com/isthmus/isthmus/services/gateway/internal/inventory"
	"github.com/isthmus/isthmus/services/gateway/internal/pricing"
)

// The Avro shapes below carry only the fields the gateway uses; hamba/avro skips the
// others. Their schemas are the catalog's, so pkg/serde resolves any compatible
// writer version into them. (When pkg/contracts' generated types land, these can be
// replaced by them; the conversion functions stay the same.)

type avroMoney struct {
	AmountMinor int64  `avro:"amount_minor"`
	Currency    string `avro:"currency"`
}

type avroMetadata struct {
	OccurredAt time.Time `avro:"occurred_at"`
}

type avroTier struct {
	MinQuantity int64     `avro:"min_quantity"`
	UnitPrice   avroMoney `avro:"unit_price"`
}

type avroPriceBookEntry struct {
	Metadata         avroMetadata `avro:"metadata"`
	PriceBookID      string       `avro:"price_book_id"`
	PriceBookVersion int64        `avro:"price_book_version"`
	SKU              string       `avro:"sku"`
	Region           string       `avro:"region"`
	Currency         string       `avro:"currency"`
	ERPCustomerID    *string      `avro:"erp_customer_id"`
	ListPrice        avroMoney    `avro:"list_price"`
	VolumeTiers      []avroTier   `avro:"volume_tiers"`
	DiscountBps      int32        `avro:"discount_bps"`
	TaxRateBps       int32        `avro:"tax_rate_bps"`
	ValidFrom        *time.Time   `avro:"valid_from"`
	ValidTo          *time.Time   `avro:"valid_to"`
	Active           bool         `avro:"active"`
}

type avroCreditAccount struct {
	ERPCustomerID string    `avro:"erp_customer_id"`
	CreditLimit   avroMoney `avro:"credit_limit"`
	ARBalance     avroMoney `avro:"ar_balance"`
	OpenOrders    avroMoney `avro:"open_orders"`
	Hold          bool      `avro:"hold"`
	HoldReason    *string   `avro:"hold_reason"`
	CreditStatus  string    `avro:"credit_status"`
	AsOf          time.Time `avro:"as_of"`
}

type avroInventoryLevel struct {
	SKU       string    `avro:"sku"`
	Site      string    `avro:"site"`
	OnHand    int64     `avro:"on_hand"`
	Allocated int64     `avro:"allocated"`
	OnOrder   int64     `avro:"on_order"`
	AsOf      time.Time `avro:"as_of"`
}

type avroCustomer struct {
	Metadata        avroMetadata `avro:"metadata"`
	Op              string       `avro:"op"`
	ERPCustomerID   string       `avro:"erp_customer_id"`
	CRMAccountID    *string      `avro:"crm_account_id"`
	TaxExempt       bool         `avro:"tax_exempt"`
	Currency        *string      `avro:"currency"`
	SourceUpdatedAt time.Time    `avro:"source_updated_at"`
}

type avroSystemRef struct {
	System string `avro:"system"`
	ID     string `avro:"id"`
}

type avroXref struct {
	Metadata   avroMetadata    `avro:"metadata"`
	System     string          `avro:"system"`
	SystemID   string          `avro:"system_id"`
	GoldenID   string          `avro:"golden_id"`
	Status     string          `avro:"status"`
	MergedInto *string         `avro:"merged_into"`
	OtherIDs   []avroSystemRef `avro:"other_ids"`
}

var (
	schemaOnce sync.Once
	schemaMap  map[Model]avro.Schema
)

func topicSchema(m Model) avro.Schema {
	schemaOnce.Do(func() {
		cat, err := catalog.Embedded()
		if err != nil {
			return
		}
		schemaMap = map[Model]avro.Schema{}
		for _, mm := range append(append([]Model{Golden}, Models...), ServiceModels...) {
			s, err := schemaOf(cat, mm)
			if err != nil {
				return
			}
			schemaMap[mm] = s
		}
	})
	return schemaMap[m] // NewBuilder fails first when the catalog is broken
}

func (*avroPriceBookEntry) Schema() avro.Schema { return topicSchema(PriceBook) }
func (*avroCreditAccount) Schema() avro.Schema  { return topicSchema(Credit) }
func (*avroInventoryLevel) Schema() avro.Schema { return topicSchema(Inventory) }
func (*avroCustomer) Schema() avro.Schema       { return topicSchema(Customer) }
func (*avroXref) Schema() avro.Schema           { return topicSchema(Xref) }

// CustomerInfo is the part of the ERP customer master the gateway needs.
type CustomerInfo struct {
	ERPCustomerID string    `json:"erp_customer_id"`
	CRMAccountID  string    `json:"crm_account_id,omitempty"`
	TaxExempt     bool      `json:"tax_exempt"`
	Currency      string    `json:"currency,omitempty"`
	AsOf          time.Time `json:"as_of"`
}

// XrefInfo maps one system's customer id to the ERP customer ids of the same golden
// customer.
type XrefInfo struct {
	GoldenID string    `json:"golden_id"`
	Status   string    `json:"status"`
	ERPIDs   []string  `json:"erp_ids,omitempty"`
	AsOf     time.Time `json:"as_of"`
}

// XrefField is the xref model field of a system's id: "CRM:001A...".
func XrefField(system, id string) string { return system + ":" + id }

// shape is how one model's records decode and become model changes.
type shape struct {
	schema avro.Schema
	newRec func() any
	change func(key string, rec any) (field string, value any, del bool, err error)
}

// schemaOf returns the catalog's value schema of a topic.
func schemaOf(cat *catalog.Catalog, m Model) (avro.Schema, error) {
	t, err := cat.Lookup(string(m))
	if err != nil {
		return nil, err
	}
	if t.Schema == nil {
		return nil, fmt.Errorf("topic %s has no Avro schema in the catalog", m)
	}
	return t.Schema, nil
}

func shapes(cat *catalog.Catalog) (map[Model]shape, error) {
	out := map[Model]shape{
		PriceBook: {newRec: func() any { return new(avroPriceBookEntry) }, change: priceBookChange},
		Credit:    {newRec: func() any { return new(avroCreditAccount) }, change: creditChange},
		Inventory: {newRec: func() any { return new(avroInventoryLevel) }, change: inventoryChange},
		Customer:  {newRec: func() any { return new(avroCustomer) }, change: customerChange},
		Xref:      {newRec: func() any { return new(avroXref) }, change: xrefChange},
		Golden:    {newRec: func() any { return new(contracts.GoldenCustomer) }, change: goldenChange},
		Asset:     {newRec: func() any { return new(contracts.Asset) }, change: assetChange},
		Contract:  {newRec: func() any { return new(contracts.Deal) }, change: contractChange},
	}
	for m, sh := range out {
		s, err := schemaOf(cat, m)
		if err != nil {
			return nil, err
		}
		sh.schema = s
		out[m] = sh
	}
	return out, nil
}

func currencyOf(code string, ms ...avroMoney) error {
	for _, m := range ms {
		if m.Currency != code {
			return fmt.Errorf("amount in %s, record in %s", m.Currency, code)
		}
	}
	return nil
}

func priceBookChange(_ string, rec any) (string, any, bool, error) {
	r := rec.(*avroPriceBookEntry)
	cust := ""
	if r.ERPCustomerID != nil {
		cust = *r.ERPCustomerID
	}
	e := pricing.Entry{
		PriceBookID: r.PriceBookID, Version: r.PriceBookVersion, SKU: r.SKU, Region: r.Region,
		Currency: r.Currency, CustomerID: cust, ListPrice: r.ListPrice.AmountMinor,
		DiscountBps: r.DiscountBps, TaxRateBps: r.TaxRateBps, Active: r.Active, AsOf: r.Metadata.OccurredAt.UTC(),
	}
	moneys := []avroMoney{r.ListPrice}
	for _, t := range r.VolumeTiers {
		e.Tiers = append(e.Tiers, pricing.Tier{MinQuantity: t.MinQuantity, UnitPrice: t.UnitPrice.AmountMinor})
		moneys = append(moneys, t.UnitPrice)
	}
	if err := currencyOf(r.Currency, moneys...); err != nil {
		return "", nil, false, err
	}
	if r.ValidFrom != nil {
		e.ValidFrom = r.ValidFrom.UTC()
	}
	if r.ValidTo != nil {
		e.ValidTo = r.ValidTo.UTC()
	}
	return pricing.Key(r.SKU, r.Region, r.Currency, cust), e, false, nil
}

func creditChange(_ string, rec any) (string, any, bool, error) {
	r := rec.(*avroCreditAccount)
	if err := currencyOf(r.CreditLimit.Currency, r.ARBalance, r.OpenOrders); err != nil {
		return "", nil, false, err
	}
	a := credit.Account{
		CustomerID: r.ERPCustomerID, Currency: r.CreditLimit.Currency, Limit: r.CreditLimit.AmountMinor,
		AR: r.ARBalance.AmountMinor, OpenOrders: r.OpenOrders.AmountMinor, Hold: r.Hold,
		Status: r.CreditStatus, AsOf: r.AsOf.UTC(),
	}
	if r.HoldReason != nil {
		a.HoldReason = *r.HoldReason
	}
	return r.ERPCustomerID, a, false, nil
}

func inventoryChange(_ string, rec any) (string, any, bool, error) {
	r := rec.(*avroInventoryLevel)
	l := inventory.Level{SKU: r.SKU, Site: r.Site, OnHand: r.OnHand, Allocated: r.Allocated, OnOrder: r.OnOrder, AsOf: r.AsOf.UTC()}
	return inventory.Key(r.SKU, r.Site), l, false, nil
}

func customerChange(_ string, rec any) (string, any, bool, error) {
	r := rec.(*avroCustomer)
	if r.Op == "DELETE" || r.Op == "ERASE" {
		return r.ERPCustomerID, nil, true, nil
	}
	c := CustomerInfo{ERPCustomerID: r.ERPCustomerID, TaxExempt: r.TaxExempt, AsOf: r.SourceUpdatedAt.UTC()}
	if r.CRMAccountID != nil {
		c.CRMAccountID = *r.CRMAccountID
	}
	if r.Currency != nil {
		c.Currency = *r.Currency
	}
	return r.ERPCustomerID, c, false, nil
}

func xrefChange(_ string, rec any) (string, any, bool, error) {
	r := rec.(*avroXref)
	field := XrefField(r.System, r.SystemID)
	if r.Status == "RETIRED" {
		return field, nil, true, nil
	}
	x := XrefInfo{GoldenID: r.GoldenID, Status: r.Status, AsOf: r.Metadata.OccurredAt.UTC()}
	for _, o := range r.OtherIDs {
		if o.System == "ERP" {
			x.ERPIDs = append(x.ERPIDs, o.ID)
		}
	}
	if r.System == "ERP" {
		x.ERPIDs = append([]string{r.SystemID}, x.ERPIDs...)
	}
	return field, x, false, nil
}

// encodeValue is the JSON a model stores for a domain value.
func encodeValue(v any) ([]byte, error) { return json.Marshal(v) }

// decodeValue is the domain value of a model's stored JSON: *pricing.Entry,
// *credit.Account, *inventory.Level, *CustomerInfo or *XrefInfo.
func decodeValue(m Model, raw []byte) (any, error) {
	switch m {
	case PriceBook:
		return decodeAs[pricing.Entry](raw)
	case Credit:
		return decodeAs[credit.Account](raw)
	case Inventory:
		return decodeAs[inventory.Level](raw)
	case Customer:
		return decodeAs[CustomerInfo](raw)
	case Xref:
		return decodeAs[XrefInfo](raw)
	case Golden:
		return DecodeGolden(raw)
	case Asset:
		return decodeAs[entitlement.Asset](raw)
	case Contract:
		return decodeAs[entitlement.Contract](raw)
	}
	return nil, fmt.Errorf("unknown model %s", m)
}

func decodeAs[T any](raw []byte) (any, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// tombstoneField is the field a tombstone deletes: the record key, which for every
// model is the field name (sku|region|currency[|customer], customer id, sku|site,
// SYSTEM:id).
func tombstoneField(_ Model, key string) string { return strings.TrimSpace(key) }
