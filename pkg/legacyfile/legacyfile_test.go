package legacyfile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/legacyfile"
)

func s(v string) *string { return &v }

var created = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

func orderCommand() contracts.OrderCommand {
	date := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	usd := func(n int64) contracts.Money { return contracts.Money{AmountMinor: n, Currency: "USD"} }
	return contracts.OrderCommand{
		Metadata: contracts.EventMetadata{CorrelationID: "corr-1"}, CommandID: "cmd-1", Action: contracts.OrderCommandActionCreate, OrderID: "Q-1.v2",
		QuoteID: "Q-1", QuoteVersion: 2, Attempt: 1, Revision: 2, ERPCustomerID: "C100", Currency: "USD", Region: "NA", PaymentTerms: s("NET30"),
		CustomerPo: s("PO, \"quoted\" 7"), RequestedDeliveryDate: &date, Total: usd(2500), Overrides: []string{"EXPORT_CONTROL"},
		Lines: []contracts.OrderLine{
			{LineNumber: 1, SKU: "SKU-A", Quantity: 2, ListPrice: usd(1000), UnitPrice: usd(900), DiscountBps: 1000, LineTotal: usd(1800), ShipToCountry: "US"},
			{LineNumber: 2, SKU: "SKU-B", Quantity: 1, ListPrice: usd(700), UnitPrice: usd(700), LineTotal: usd(700), ShipToCountry: "CA"},
		},
	}
}

// Every kind survives a write and a read: the values, with the quoting
// of commas, quotes and line breaks, and the correlation echoed.
func TestRoundTrip(t *testing.T) {
	cmd := orderCommand()
	b, err := legacyfile.Encode(&legacyfile.File{Kind: legacyfile.KindOrders, Batch: "p0-000001", Created: created, Sender: "isthmus", Rows: legacyfile.OrderRows(&cmd, "SHADOW")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := legacyfile.Parse("ORDERS_p0-000001.csv", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	orders := legacyfile.Orders(f)
	want := cmd
	want.Metadata = contracts.EventMetadata{}
	if len(orders) != 1 || orders[0].Ref != (legacyfile.Ref{Correlation: "corr-1", Route: "SHADOW"}) {
		t.Fatalf("orders %+v", orders)
	}
	if d := cmp.Diff(want, orders[0].Command); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}

	cc := contracts.CustomerCommand{Metadata: contracts.EventMetadata{CorrelationID: "corr-2"}, CommandID: "cc-1", Action: contracts.CustomerCommandActionCreate,
		GoldenID: "G-1", CRMAccountID: s("A-1"), Name: "Acme\nWest", TaxID: s("DE123"), ChangedFields: []string{},
		BillingAddress: &contracts.Address{Line1: "1 Main St", City: "Berlin", PostalCode: s("10115"), Country: "DE"}}
	b, err = legacyfile.Encode(&legacyfile.File{Kind: legacyfile.KindCustomerRequests, Batch: "b1", Created: created, Sender: "isthmus", Rows: []legacyfile.Row{legacyfile.CustomerRequestRow(&cc, "LEGACY")}})
	if err != nil {
		t.Fatal(err)
	}
	f, err = legacyfile.Parse("CUSTREQ_b1.csv", b)
	if err != nil {
		t.Fatal(err)
	}
	got, corr := legacyfile.CustomerRequest(f.Rows[0])
	cc.Metadata = contracts.EventMetadata{}
	if d := cmp.Diff(cc, got); d != "" || corr != (legacyfile.Ref{Correlation: "corr-2", Route: "LEGACY"}) {
		t.Errorf("customer request %+v (-want +got):\n%s", corr, d)
	}

	cust := contracts.Customer{Op: contracts.ChangeOperationUpsert, ERPCustomerID: "L000123", GoldenID: s("G-1"), CommandID: s("cc-1"), Name: "Acme",
		Currency: s("EUR"), PaymentTerms: s("NET30"), CreditStatus: contracts.CreditStatusActive, CreditLimit: &contracts.Money{AmountMinor: 5000000, Currency: "EUR"},
		BillingAddress: &contracts.Address{Line1: "1 Main St", City: "Berlin", Country: "DE"}, SourceUpdatedAt: created}
	b, err = legacyfile.Encode(&legacyfile.File{Kind: legacyfile.KindCustomers, Batch: "m1", Created: created, Sender: "LEGACY", Rows: []legacyfile.Row{legacyfile.CustomerRow(&cust, legacyfile.Ref{Correlation: "corr-2", Route: "LEGACY"})}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "T,1,5000000") {
		t.Errorf("CUSTMAS control total is the credit limits' sum:\n%s", b)
	}
	f, err = legacyfile.Parse("CUSTMAS_m1.csv", b)
	if err != nil {
		t.Fatal(err)
	}
	gotCust, _ := legacyfile.Customer(f.Rows[0])
	if d := cmp.Diff(cust, gotCust); d != "" {
		t.Errorf("customer (-want +got):\n%s", d)
	}

	one := 1
	st := contracts.OrderStatus{OrderID: "Q-1.v2", CommandID: s("cmd-1"), ERPOrderID: s("4500001"), Status: contracts.ErpOrderStatePartiallyRejected,
		Total: &contracts.Money{AmountMinor: 1800, Currency: "USD"},
		Lines: []contracts.OrderLineStatus{
			{LineNumber: 1, SKU: "SKU-A", Status: contracts.LineStatusAccepted, QuantityConfirmed: 2},
			{LineNumber: 2, SKU: "SKU-B", Status: contracts.LineStatusRejected, RejectionReason: s(contracts.RejectionReasonExportControl), ERPMessage: s("licence")},
		},
		Messages: []contracts.ERPMessage{{Code: "V1-1", Text: "partly", LineNumber: &one}}}
	b, err = legacyfile.Encode(&legacyfile.File{Kind: legacyfile.KindOrderStatus, Batch: "s1", Created: created, Sender: "LEGACY", Rows: legacyfile.OrderStatusRows(&st, legacyfile.Ref{Correlation: "corr-1"}, created)})
	if err != nil {
		t.Fatal(err)
	}
	f, err = legacyfile.Parse("ORDSTAT_s1.csv", b)
	if err != nil {
		t.Fatal(err)
	}
	sts := legacyfile.OrderStatuses(f)
	if len(sts) != 1 || sts[0].Ref.Correlation != "corr-1" || !sts[0].ChangedAt.Equal(created) {
		t.Fatalf("statuses %+v", sts)
	}
	if d := cmp.Diff(st, sts[0].Status); d != "" {
		t.Errorf("status (-want +got):\n%s", d)
	}
}

// The bad-file corpus: each file is refused whole with its reason and the
// line at fault.
func TestBadFiles(t *testing.T) {
	cmd := orderCommand()
	good, err := legacyfile.Encode(&legacyfile.File{Kind: legacyfile.KindOrders, Batch: "b7", Created: created, Sender: "isthmus", Rows: legacyfile.OrderRows(&cmd, "SHADOW")})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
	with := func(i int, l string) []byte {
		c := append([]string(nil), lines...)
		c[i] = l
		return join(c...)
	}
	last := len(lines) - 1
	for _, c := range []struct {
		name, file string
		data       []byte
		reason     string
		line       int
	}{
		{"bad name", "orders-b7.txt", good, legacyfile.ReasonBadName, 0},
		{"unknown kind", "INVOICES_b7.csv", good, legacyfile.ReasonUnknownKind, 0},
		{"empty", "ORDERS_b7.csv", []byte("\n  \n"), legacyfile.ReasonEmpty, 0},
		{"not utf-8", "ORDERS_b7.csv", with(1, "O,cmd-1,CREATE,Q-1,\xff\xfe"), legacyfile.ReasonNotUTF8, 2},
		{"no header", "ORDERS_b7.csv", join(lines[1:]...), legacyfile.ReasonMissingHeader, 1},
		{"batch mismatch", "ORDERS_b8.csv", good, legacyfile.ReasonBatchMismatch, 1},
		{"malformed quoting", "ORDERS_b7.csv", with(2, `L,Q-1.v2,1,"SKU-A,2`), legacyfile.ReasonMalformedLine, 3},
		{"too few fields", "ORDERS_b7.csv", with(2, "L,Q-1.v2,1,SKU-A"), legacyfile.ReasonMalformedLine, 3},
		{"unknown record", "ORDERS_b7.csv", with(2, "Z,1,2"), legacyfile.ReasonUnknownRecord, 3},
		{"not an integer", "ORDERS_b7.csv", with(2, "L,Q-1.v2,1,SKU-A,two,1000,900,1000,1800,US"), legacyfile.ReasonInvalidValue, 3},
		{"unknown action", "ORDERS_b7.csv", []byte(strings.Replace(string(good), ",CREATE,", ",UPSERT,", 1)), legacyfile.ReasonInvalidValue, 2},
		{"truncated", "ORDERS_b7.csv", join(lines[:last]...), legacyfile.ReasonMissingTrailer, 0},
		{"record count", "ORDERS_b7.csv", with(last, "T,2,2500"), legacyfile.ReasonRecordCount, last + 1},
		{"control total", "ORDERS_b7.csv", with(last, "T,3,2499"), legacyfile.ReasonControlTotal, last + 1},
		{"after trailer", "ORDERS_b7.csv", join(append(append([]string(nil), lines...), lines[2])...), legacyfile.ReasonAfterTrailer, last + 2},
		{"orphan line", "ORDERS_b7.csv", with(2, "L,Q-9,1,SKU-A,2,1000,900,1000,1800,US"), legacyfile.ReasonOrphanLine, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := legacyfile.Parse(c.file, c.data)
			var e *legacyfile.Error
			if err == nil || legacyfile.ReasonOf(err) != c.reason {
				t.Fatalf("got %v, want reason %s", err, c.reason)
			}
			e = err.(*legacyfile.Error)
			if e.Line != c.line {
				t.Errorf("line %d, want %d (%v)", e.Line, c.line, err)
			}
		})
	}
}
