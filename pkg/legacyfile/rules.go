package legacyfile

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// required are the columns a record must fill, per record type and kind.
var required = map[string]map[string][]string{
	KindCustomerRequests: {"C": {"command_id", "action", "golden_id", "name"}},
	KindCustomers:        {"M": {"erp_customer_id", "op", "name", "updated_at"}},
	KindOrders:           {"O": {"command_id", "action", "order_id", "currency"}, "L": {"order_id", "line_number", "sku", "quantity"}},
	KindOrderStatus:      {"S": {"order_id", "status", "changed_at"}, "L": {"order_id", "line_number", "sku", "status"}, "X": {"order_id", "code"}},
}

// enums are the columns holding a contract enum's symbol, per kind and
// record type.
func enums(kind, typ, col string) []string {
	switch {
	case kind == KindCustomerRequests && col == "action":
		return contracts.EnumSymbols(&contracts.CustomerCommand{}, "action")
	case kind == KindOrders && col == "action":
		return contracts.EnumSymbols(&contracts.OrderCommand{}, "action")
	case col == "op":
		return contracts.EnumSymbols(&contracts.Customer{}, "op")
	case col == "credit_status":
		return contracts.EnumSymbols(&contracts.Customer{}, "credit_status")
	case kind == KindOrderStatus && typ == "S" && col == "status":
		return contracts.EnumSymbols(&contracts.OrderStatus{}, "status")
	case kind == KindOrderStatus && typ == "L" && col == "status":
		return contracts.EnumSymbols(&contracts.OrderLineStatus{}, "status")
	case col == "rejection_reason":
		return contracts.EnumSymbols(&contracts.OrderLineStatus{}, "rejection_reason")
	}
	return nil
}

var integers = []string{"quote_version", "attempt", "revision", "total_minor", "line_number", "quantity", "list_price_minor", "unit_price_minor",
	"discount_bps", "line_total_minor", "quantity_confirmed", "quantity_shipped", "credit_limit_minor"}

var currencyRE = func(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// checkRow applies the field rules to one record.
func checkRow(kind string, r Row) error {
	cols := Layouts[kind][r.Type]
	for _, c := range required[kind][r.Type] {
		if strings.TrimSpace(r.Field(kind, c)) == "" {
			return fail(ReasonInvalidValue, r.Line, "%s record: %s is empty", r.Type, c)
		}
	}
	for i, c := range cols {
		v := r.Fields[i]
		if v == "" {
			continue
		}
		switch {
		case slices.Contains(integers, c):
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return fail(ReasonInvalidValue, r.Line, "%s record: %s %q is not an integer", r.Type, c, v)
			}
		case c == "currency":
			if !currencyRE(v) {
				return fail(ReasonInvalidValue, r.Line, "%s record: currency %q is not an ISO-4217 code", r.Type, v)
			}
		case c == "requested_delivery_date":
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				return fail(ReasonInvalidValue, r.Line, "%s record: %s %q is not a date (YYYY-MM-DD)", r.Type, c, v)
			}
		case c == "updated_at" || c == "changed_at":
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return fail(ReasonInvalidValue, r.Line, "%s record: %s %q is not an RFC 3339 time", r.Type, c, v)
			}
		case c == "tax_exempt":
			if v != "true" && v != "false" {
				return fail(ReasonInvalidValue, r.Line, "%s record: tax_exempt %q is not true or false", r.Type, v)
			}
		}
		if syms := enums(kind, r.Type, c); syms != nil && !slices.Contains(syms, v) {
			return fail(ReasonInvalidValue, r.Line, "%s record: %s %q is not one of %s", r.Type, c, v, strings.Join(syms, ", "))
		}
	}
	return nil
}

// checkLines checks that each line and message row follows the order row
// it belongs to.
func checkLines(f *File) error {
	head := map[string]string{KindOrders: "O", KindOrderStatus: "S"}[f.Kind]
	if head == "" {
		return nil
	}
	current := ""
	for _, r := range f.Rows {
		if r.Type == head {
			current = r.Field(f.Kind, "order_id")
			continue
		}
		if id := r.Field(f.Kind, "order_id"); id != current {
			return fail(ReasonOrphanLine, r.Line, "%s record of order %q does not follow its %s record (current order %q)", r.Type, id, head, current)
		}
	}
	return nil
}
