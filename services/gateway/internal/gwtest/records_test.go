package gwtest

import (
	"testing"
	"time"
)

func TestRecordsEncode(t *testing.T) {
	at := time.Now()
	for _, r := range []Record{
		PriceEntry("W", "NA", "USD", "", 1000, 1, 0, 825, at, Tier{10, 900}),
		PriceEntry("W", "NA", "USD", "C1", 1000, 1, 1250, 825, at),
		CreditAccount("C1", "USD", 100000, 1, 2, false, at),
		InventoryLevel("W", "S1", 10, 2, at),
		Customer("C1", "CRM1", false, at),
		Xref("CRM1", "C1", at),
	} {
		if _, err := Encode(r); err != nil {
			t.Errorf("%s: %v", r.Topic, err)
		}
	}
}
