package sim

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// An answer is either emitted as built (a tick's next step) or queued as a
// timer first, its value kept as JSON in StoreTimers and read back into its
// contract type. Both must give the same Avro bytes, so a queued answer is
// the answer that was built: here for every kind of answer the simulator
// gives, as a consumer reads it (every list empty, not nil), with every
// empty list nil (as the simulator builds some), and with its times in
// another zone and below the millisecond. (A path result carries a map,
// whose entries Avro writes in Go's map order: there the values read back
// are compared.)
func TestQueuedAnswerEncodesLikeItsValue(t *testing.T) {
	k := simKit(t, Settings{})
	answers := everyAnswer(t, k)
	codec := processor.JSON[timer]()
	variants := []struct {
		name   string
		change func(reflect.Value) int
	}{
		{"lists empty", func(reflect.Value) int { return 1 }},
		{"empty lists nil", nilLists},
		{"times elsewhere, in nanoseconds", func(v reflect.Value) int { return times(v) }},
	}
	for _, vr := range variants {
		changed := 0
		for _, o := range answers {
			v, err := contracts.NewValue(o.Topic)
			if err != nil {
				t.Fatal(err)
			}
			k.Decode(o, v)
			changed += vr.change(reflect.ValueOf(v))
			b, err := codec.Encode(timer{Kind: "emit", ID: o.Key, Records: []pending{record(o.Topic, o.Key, v)}})
			if err != nil {
				t.Fatalf("%s %s/%s: queue: %v", vr.name, o.Topic, o.Key, err)
			}
			queued, err := codec.Decode(b)
			if err != nil {
				t.Fatalf("%s %s/%s: read back: %v", vr.name, o.Topic, o.Key, err)
			}
			got, want := k.Encode(o.Topic, queued.Records[0].Value), k.Encode(o.Topic, v)
			if bytes.Equal(got, want) {
				continue
			}
			// Avro writes a map's entries in Go's map order: for an answer
			// with a map, what a consumer reads back must be the same.
			if carriesMap(reflect.ValueOf(v)) {
				g, w := readBack(t, k, o.Topic, got), readBack(t, k, o.Topic, want)
				if reflect.DeepEqual(g, w) {
					continue
				}
			}
			t.Errorf("%s %s/%s: queued answer encodes to\n%x\nits value to\n%x", vr.name, o.Topic, o.Key, got, want)
		}
		if changed == 0 {
			t.Errorf("%s: no answer has such a field; the variant tests nothing", vr.name)
		}
	}
}

// everyAnswer runs commands that get every kind of answer (order status,
// invoice, asset, customer, credit, journal, billing event, service order
// status, return status, path result) and returns the answers.
func everyAnswer(t *testing.T, k *processortest.Kit) []processortest.Output {
	t.Helper()
	day := t0.Truncate(24 * time.Hour)
	for _, c := range []struct {
		topic, key string
		v          contracts.Value
	}{
		{contracts.TopicERPOrderCommandsV1, "O-1", &contracts.OrderCommand{Metadata: meta("o1"), CommandID: "CMD-1", Action: contracts.OrderCommandActionCreate, OrderID: "O-1",
			QuoteID: "Q-1", QuoteVersion: 1, Attempt: 1, ERPCustomerID: "1000001", Currency: "USD", Region: "NA", Total: usd(2500),
			Lines: []contracts.OrderLine{
				{LineNumber: 10, SKU: "PUMP-100", Quantity: 2, ListPrice: usd(1000), UnitPrice: usd(1000), LineTotal: usd(2000), ShipToCountry: "US"},
				{LineNumber: 20, SKU: "CTRL-PLC", Quantity: 1, ListPrice: usd(500), UnitPrice: usd(500), LineTotal: usd(500), ShipToCountry: "IR"},
			}}},
		{contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("c1"), CommandID: "CC-1", Action: contracts.CustomerCommandActionCreate,
			GoldenID: "G-1", Name: "Acme", BillingAddress: &contracts.Address{Line1: "1 Main", City: "Munich", Country: "DE"}}},
		{contracts.TopicERPJournalCommandsV1, "J-1", &contracts.JournalCommand{Metadata: meta("j1"), Kind: contracts.JournalKindInvoice, JournalCommandID: "J-1",
			ContractID: "C-1", PostingDate: day, Currency: "USD", Lines: []contracts.JournalLine{{LineNumber: 1, Account: "1200-ar", Debit: usd(100), Credit: usd(0)}}}},
		{contracts.TopicBillingCommandsV1, "C-1", &contracts.BillingCommand{Metadata: meta("b1"), CommandID: "B-1", ContractID: "C-1", Action: contracts.BillingActionProvision,
			AccountID: "ACC-1", Currency: "USD", StartDate: day, EndDate: day.AddDate(1, 0, -1), EffectiveDate: day, BillingFrequency: contracts.BillingFrequencyMonthly,
			AmendmentSequence: 1, Lines: []contracts.SubscriptionLine{},
			InvoiceSchedule: []contracts.ScheduledInvoice{{Sequence: 1, InvoiceDate: day, PeriodStart: day, PeriodEnd: day.AddDate(0, 1, -1), Amount: usd(1000)}}}},
		{contracts.TopicERPServiceOrderCommandsV1, "SO-1", &contracts.ServiceOrderCommand{Metadata: meta("so1"), CommandID: "SO-1-create", Action: contracts.ServiceOrderActionCreate,
			ServiceOrderID: "SO-1", CaseID: "CASE-1", ERPCustomerID: "1000001", Serial: "SN-1", SKU: "PUMP-100", ServiceType: contracts.ServiceTypeRepair,
			Coverage: contracts.CoverageWarranty, Priority: contracts.SeverityHigh}},
		{contracts.TopicERPWarrantyClaimCommandsV1, "SO-9", &contracts.WarrantyClaimCommand{Metadata: meta("cl1"), CommandID: "CL-1", ClaimID: "SO-9/claim",
			ServiceOrderID: "SO-9", CaseID: "CASE-9", Serial: "SN-9", SKU: "PUMP-100", Parts: []contracts.PartUsed{}, LabourCost: usd(0), Amount: usd(100)}},
		{contracts.TopicERPReturnCommandsV1, "R-1", &contracts.ReturnCommand{Metadata: meta("r1"), CommandID: "R1-create", Action: contracts.ReturnActionCreate,
			ReturnID: "R-1", ERPCustomerID: "1000001", Currency: "USD", Lines: []contracts.ReturnLine{{LineNumber: 1, SKU: "KIT-SEAL", Quantity: 2, Serials: []string{}, UnitPrice: usd(49)}}}},
	} {
		if res := k.SendValue(c.topic, c.key, c.v); res.Err != nil || len(res.DeadLetters("erp-simulator")) != 0 {
			t.Fatalf("%s: %v %+v", c.topic, res.Err, res.Outputs)
		}
	}
	var out []processortest.Output
	kinds := map[string]bool{}
	for i := 1; i <= 10; i++ {
		for _, o := range k.Tick(t0.Add(time.Duration(i) * time.Second)).Outputs {
			if o.Topic == TopicAssets {
				continue // the simulator's own JSON, not an answer
			}
			out = append(out, o)
			kinds[o.Topic] = true
		}
	}
	for _, topic := range []string{contracts.TopicERPOrderStatusV1, contracts.TopicERPInvoiceV1, contracts.TopicERPAssetV1, contracts.TopicERPCustomerV1, contracts.TopicERPCreditV1,
		contracts.TopicERPJournalV1, contracts.TopicBillingEventsV1, contracts.TopicERPServiceOrderStatusV1, contracts.TopicERPReturnStatusV1, contracts.TopicERPPathResultsV1} {
		if !kinds[topic] {
			t.Fatalf("no answer on %s", topic)
		}
	}
	return out
}

// readBack is what a consumer of topic reads from b.
func readBack(t *testing.T, k *processortest.Kit, topic string, b []byte) contracts.Value {
	t.Helper()
	v, err := contracts.NewValue(topic)
	if err != nil {
		t.Fatal(err)
	}
	k.Decode(processortest.Output{Topic: topic, Value: b}, v)
	return v
}

// carriesMap tells whether a map with more than one entry is reachable
// from v.
func carriesMap(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Map:
		return v.Len() > 1
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && carriesMap(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if carriesMap(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if carriesMap(v.Index(i)) {
				return true
			}
		}
	}
	return false
}

// nilLists sets every empty slice reachable from v to nil; it returns how
// many it changed.
func nilLists(v reflect.Value) int {
	return change(v, func(v reflect.Value) bool {
		if v.Kind() != reflect.Slice || v.IsNil() || v.Len() > 0 {
			return false
		}
		v.Set(reflect.Zero(v.Type()))
		return true
	})
}

var elsewhere = time.FixedZone("UTC-3:30", -(3*60+30)*60)

// times moves every time reachable from v to another zone and adds
// nanoseconds below the millisecond; it returns how many it changed.
func times(v reflect.Value) int {
	return change(v, func(v reflect.Value) bool {
		t, ok := v.Interface().(time.Time)
		if ok {
			v.Set(reflect.ValueOf(t.Add(123456 * time.Nanosecond).In(elsewhere)))
		}
		return ok
	})
}

// change calls fn on v and on every settable value reachable from it
// (through pointers, struct fields and slice elements) until fn changes
// it, and returns how many fn changed.
func change(v reflect.Value, fn func(reflect.Value) bool) int {
	if v.CanSet() && fn(v) {
		return 1
	}
	n := 0
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			n += change(v.Elem(), fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			n += change(v.Field(i), fn)
		}
	case reflect.Slice:
		for i := range v.Len() {
			n += change(v.Index(i), fn)
		}
	}
	return n
}
