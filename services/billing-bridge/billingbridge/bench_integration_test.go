//go:build integration

package billingbridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// BenchmarkDealsEndToEnd measures deals per second through the real broker:
// a NEW and an AMEND (upsell) per contract, each producing its billing
// command, revenue schedule and journals in a Kafka transaction. Run with
//
//	go test -tags integration -run '^$' -bench DealsEndToEnd -benchtime 2000x ./billingbridge
func BenchmarkDealsEndToEnd(b *testing.B) {
	h := newHarness(b)
	h.startService(nil)
	at := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	// Warm up: the service has joined its group once one deal went through.
	h.in().Value(contracts.TopicCRMDealV1, "WARM", newDeal("WARM", "2025-01-01", 1, 100, at))
	h.waitFor("warm-up", time.Minute, func(r []got) bool { c, _, _, _ := forContract(r, "WARM"); return len(c) == 1 })

	ctx := context.Background()
	in := h.in()
	var recs []*kgo.Record
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("B-%07d", i/2)
		var d *contracts.Deal
		if i%2 == 0 {
			d = newDeal(id, "2025-01-15", 10, 1000, at)
		} else {
			d = amendDeal(id, 1, contract.ChangeUpsell, "2025-06-01", 12, 1000, at)
		}
		recs = append(recs, &kgo.Record{Topic: h.prefix + contracts.TopicCRMDealV1, Key: []byte(id), Value: in.Encode(contracts.TopicCRMDealV1, d)})
	}
	b.ResetTimer()
	start := time.Now()
	for _, r := range recs {
		h.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := h.cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	var journals int
	h.waitFor("every deal's command", 10*time.Minute, func(r []got) bool {
		cmds := 0
		journals = 0
		for _, g := range r {
			switch g.Value.(type) {
			case *contracts.BillingCommand:
				cmds++
			case *contracts.JournalCommand:
				journals++
			}
		}
		return cmds >= b.N+1
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deals/s")
	b.ReportMetric(float64(journals)/float64(b.N), "journals/deal")
	b.Logf("%d deals in %s: %.0f deals/s", b.N, elapsed.Round(time.Millisecond), float64(b.N)/elapsed.Seconds())
}
