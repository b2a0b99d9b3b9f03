package traffic

import "sort"

// Country is a market the simulated company sells into.
type Country struct {
	Code     string // ISO 3166-1 alpha-2
	Name     string
	Region   string // pricing region: NA, EMEA, APAC, LATAM
	Currency string // ISO 4217 currency of the market
	Site     string // regional warehouse
	Cities   []string
}

// Countries are the markets of both scenarios.
var Countries = []Country{
	{"US", "United States", "NA", "USD", "US01", []string{"Chicago", "Austin", "Boston", "Denver"}},
	{"CA", "Canada", "NA", "USD", "US01", []string{"Toronto", "Vancouver"}},
	{"DE", "Germany", "EMEA", "EUR", "DE01", []string{"Munich", "Hamburg", "Stuttgart"}},
	{"FR", "France", "EMEA", "EUR", "DE01", []string{"Lyon", "Paris"}},
	{"NL", "Netherlands", "EMEA", "EUR", "DE01", []string{"Rotterdam", "Eindhoven"}},
	{"GB", "United Kingdom", "EMEA", "GBP", "DE01", []string{"Leeds", "Bristol", "London"}},
	{"JP", "Japan", "APAC", "JPY", "SG01", []string{"Osaka", "Nagoya"}},
	{"AU", "Australia", "APAC", "AUD", "SG01", []string{"Sydney", "Perth"}},
	{"SG", "Singapore", "APAC", "USD", "SG01", []string{"Singapore"}},
	{"BR", "Brazil", "LATAM", "USD", "BR01", []string{"Sao Paulo", "Curitiba"}},
	{"AR", "Argentina", "LATAM", "USD", "BR01", []string{"Cordoba", "Rosario"}},
	{"MX", "Mexico", "LATAM", "USD", "BR01", []string{"Monterrey", "Puebla"}},
}

// ExportControlled are ship-to countries that the simulated ERP refuses by
// default (see the simulator's ISTHMUS_SIM_EXPORT_RESTRICTED); quotes ship
// a few lines there so the export-control path is exercised.
var ExportControlled = []string{"CU", "IR", "KP", "SY", "RU"}

// CountryByCode returns the market with an ISO code.
func CountryByCode(code string) (Country, bool) {
	for _, c := range Countries {
		if c.Code == code {
			return c, true
		}
	}
	return Country{}, false
}

// PriceList is a (region, currency) pair the price book covers.
type PriceList struct{ Region, Currency string }

// PriceLists are the distinct (region, currency) pairs of Countries, sorted.
func PriceLists() []PriceList {
	seen := map[PriceList]bool{}
	var out []PriceList
	for _, c := range Countries {
		pl := PriceList{c.Region, c.Currency}
		if !seen[pl] {
			seen[pl] = true
			out = append(out, pl)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].Currency < out[j].Currency
	})
	return out
}

// Product is a SKU of one of the scenarios.
type Product struct {
	SKU         string
	Description string
	// BaseUSDCents is the NA list price in US cents (per unit; per month
	// for subscriptions).
	BaseUSDCents int64
	Subscription bool
	// WarrantyMonths > 0 marks a serialised product: tracked unit by unit
	// in the ERP's installed base (erp.asset.v1), under the manufacturer's
	// warranty for that many months from installation; returns name its
	// serial numbers. The simulated ERP installs assets for these SKUs.
	WarrantyMonths int
}

// Serialised tells whether the product is tracked unit by unit.
func (p Product) Serialised() bool { return p.WarrantyMonths > 0 }

// Products: hardware of the global manufacturer and plans of the SaaS
// company (SKU, description, NA list price, subscription, warranty months of
// serialised products).
var Products = []Product{
	{"PUMP-100", "Centrifugal pump 100 l/min", 125000, false, 24},
	{"PUMP-250", "Centrifugal pump 250 l/min", 289000, false, 24},
	{"VALVE-2IN", "Ball valve 2 in, stainless", 18900, false, 0},
	{"MOTOR-5KW", "Induction motor 5 kW", 74500, false, 24},
	{"CTRL-PLC", "Programmable logic controller", 152000, false, 12},
	{"SENSOR-PT", "Pressure transmitter", 32900, false, 12},
	{"KIT-SEAL", "Seal kit", 4900, false, 0},
	{"SEAT-PRO", "Professional seat (per user, monthly)", 4900, true, 0},
	{"SEAT-ENT", "Enterprise seat (per user, monthly)", 9900, true, 0},
	{"ADDON-SSO", "Single sign-on add-on (monthly)", 50000, true, 0},
	{"STORAGE-1TB", "Extra storage 1 TB (monthly)", 2500, true, 0},
}

// ProductBySKU returns a product.
func ProductBySKU(sku string) (Product, bool) {
	for _, p := range Products {
		if p.SKU == sku {
			return p, true
		}
	}
	return Product{}, false
}

func productsOf(subscription bool) []Product {
	var out []Product
	for _, p := range Products {
		if p.Subscription == subscription {
			out = append(out, p)
		}
	}
	return out
}

// fx converts US cents into minor units of a currency as a rational
// num/den (JPY has no minor unit: 1 USD cent is 1.5 yen).
var fx = map[string][2]int64{
	"USD": {1, 1},
	"EUR": {92, 100},
	"GBP": {79, 100},
	"JPY": {150, 100},
	"AUD": {152, 100},
}

// regionUpliftBps is the regional list price uplift in basis points.
var regionUpliftBps = map[string]int64{"NA": 0, "EMEA": 500, "APAC": 800, "LATAM": 1200}

// TaxRateBps is the sales tax / VAT rate the price book carries per region.
var TaxRateBps = map[string]int{"NA": 725, "EMEA": 2000, "APAC": 1000, "LATAM": 1600}

// ListPrice is the exact list price of a SKU for a region and currency in
// minor units, rounded to a whole unit of the currency (10 yen for JPY);
// ok is false for an unknown SKU, region or currency.
func ListPrice(sku, region, currency string) (int64, bool) {
	p, ok := ProductBySKU(sku)
	if !ok {
		return 0, false
	}
	f, ok := fx[currency]
	if !ok {
		return 0, false
	}
	up, ok := regionUpliftBps[region]
	if !ok {
		return 0, false
	}
	v := p.BaseUSDCents * (10000 + up) / 10000
	v = v * f[0] / f[1]
	unit := int64(100)
	if currency == "JPY" {
		unit = 10
	}
	v = (v + unit/2) / unit * unit
	if v < unit {
		v = unit
	}
	return v, true
}

// Tier is a volume price: from MinQuantity units on, the unit price is
// the list price less DiscountBps.
type Tier struct {
	MinQuantity int64
	DiscountBps int64
}

// Tiers are the volume tiers of every hardware price list entry.
var Tiers = []Tier{{10, 500}, {50, 1000}, {100, 1500}}

// TierPrice is the unit price for quantity under the volume tiers
// (subscriptions have no tiers).
func TierPrice(sku, region, currency string, quantity int64) (int64, bool) {
	list, ok := ListPrice(sku, region, currency)
	if !ok {
		return 0, false
	}
	if p, _ := ProductBySKU(sku); p.Subscription {
		return list, true
	}
	price := list
	for _, t := range Tiers {
		if quantity >= t.MinQuantity {
			price = DiscountedPrice(list, t.DiscountBps)
		}
	}
	return price, true
}

// DiscountedPrice is price less bps basis points, rounded half up.
func DiscountedPrice(price, bps int64) int64 {
	return (price*(10000-bps) + 5000) / 10000
}

// Sites are the warehouses inventory is kept in: MAIN (quote-to-order's
// default availability site) and one per region.
func Sites() []string {
	seen := map[string]bool{"MAIN": true}
	out := []string{"MAIN"}
	for _, c := range Countries {
		if !seen[c.Site] {
			seen[c.Site] = true
			out = append(out, c.Site)
		}
	}
	return out
}
