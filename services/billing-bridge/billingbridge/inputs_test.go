package billingbridge_test

import (
	"fmt"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/adapter"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// Inputs and sums shared by the handler's unit tests and the integration
// tests.

// meta is the metadata of a test input.
func meta(name string, at time.Time) contracts.EventMetadata {
	return event.Metadata(event.ID("bbit", name), "corr-"+name, "", contracts.SourceSystemCRM, at)
}

func day(s string) contract.Date {
	d, err := contract.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// newDeal is a NEW monthly deal: qty seats at price per month, one year from start.
func newDeal(id string, start string, qty, price int64, at time.Time) *contracts.Deal {
	d := contract.Deal{ContractID: id, Seq: 1, Kind: contract.KindNew, CustomerID: "ACC-" + id, Currency: "EUR",
		Frequency: contract.Monthly, Start: day(start), End: day(start).AddMonths(12), OccurredAt: at,
		Lines: []contract.Line{{SKU: "seat", Quantity: qty, UnitPrice: price}}}
	return adapter.DealRecord(d, meta(id+"/0", at), "DEAL-"+id)
}

// amendDeal is an AMEND (Avro sequence seq) to qty seats at price per month.
func amendDeal(id string, seq int, change contract.Change, eff string, qty, price int64, at time.Time) *contracts.Deal {
	d := contract.Deal{ContractID: id, Seq: adapter.DomainSeq(seq), Kind: contract.KindAmend, Change: change, Currency: "EUR",
		Frequency: contract.Monthly, Effective: day(eff), OccurredAt: at,
		Lines: []contract.Line{{SKU: "seat", Quantity: qty, UnitPrice: price}}}
	return adapter.DealRecord(d, meta(fmt.Sprintf("%s/%d", id, seq), at), "DEAL-"+id)
}

func cancelDeal(id string, seq int, eff string, at time.Time) *contracts.Deal {
	d := contract.Deal{ContractID: id, Seq: adapter.DomainSeq(seq), Kind: contract.KindCancel, Currency: "EUR",
		Frequency: contract.Monthly, Effective: day(eff), OccurredAt: at}
	return adapter.DealRecord(d, meta(fmt.Sprintf("%s/%d", id, seq), at), "DEAL-"+id)
}

func scheduleTotal(c *contracts.BillingCommand) int64 {
	var n int64
	for _, s := range c.InvoiceSchedule {
		n += s.Amount.AmountMinor
	}
	return n
}

func journalAmount(j *contracts.JournalCommand) (dr, cr int64) {
	for _, l := range j.Lines {
		dr += l.Debit.AmountMinor
		cr += l.Credit.AmountMinor
	}
	return
}
