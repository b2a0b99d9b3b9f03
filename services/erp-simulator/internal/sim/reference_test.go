package sim

import (
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
)

// The credit positions follow only the customers the simulator answered:
// a customer the legacy ERP adapter published on erp.customer.v1 (a flow
// not NEW) and its invoices are not the simulator's to evolve.
func TestReferenceLearnsOnlyItsOwnCustomers(t *testing.T) {
	k := simKit(t, Settings{Modes: flowmode.Fixed{}})
	k.SendValue(contracts.TopicERPCustomerCommandsV1, "G-1", &contracts.CustomerCommand{Metadata: meta("cc1"), CommandID: "CC-1", Action: contracts.CustomerCommandActionCreate,
		GoldenID: "G-1", Name: "Acme", BillingAddress: &contracts.Address{Line1: "1 Main", City: "Munich", Country: "DE"}})
	ours := values[contracts.Customer](t, k, k.Tick(t0.Add(time.Second)).On(contracts.TopicERPCustomerV1))[0]
	legacy := *ours
	legacy.ERPCustomerID = "L-0042"
	legacy.Metadata.EventID = "legacy-bridge-event"
	r := &Reference{credit: map[string]*creditPos{}}
	for _, v := range []contracts.Value{ours, &legacy,
		&contracts.Invoice{ERPCustomerID: ours.ERPCustomerID, Total: contracts.Money{AmountMinor: 100, Currency: ours.CreditLimit.Currency}},
		&contracts.Invoice{ERPCustomerID: legacy.ERPCustomerID, Total: contracts.Money{AmountMinor: 100, Currency: ours.CreditLimit.Currency}}} {
		r.learn(v)
	}
	if c := r.credit[ours.ERPCustomerID]; c == nil || c.limit != ours.CreditLimit.AmountMinor || c.ar != 100 {
		t.Errorf("own customer: credit position %+v", c)
	}
	if c, ok := r.credit[legacy.ERPCustomerID]; ok {
		t.Errorf("legacy path's customer learnt: %+v", c)
	}
}
