package bridge

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkDeals measures deals processed per second: NEW and AMEND (and the
// occasional RENEW or CANCEL) from the property generator, each producing
// its billing commands, invoice schedule, revenue entries and journals, with
// the contract state marshalled after every deal as the changelog store
// would. Run: go test -bench Deals -run '^$' ./internal/bridge
func BenchmarkDeals(b *testing.B) {
	const contracts = 512
	var deals [][]input
	r := rand.New(rand.NewPCG(1, 2))
	for i := range contracts {
		ds, _ := generate(r, fmt.Sprintf("B-%04d", i))
		var ins []input
		for _, d := range ds {
			ins = append(ins, input{Deal: &d})
		}
		deals = append(deals, ins)
	}
	br := New()
	b.ReportAllocs()
	b.ResetTimer()
	var n, journals, docs int
	for i := 0; b.Loop(); i++ {
		ins := deals[i%contracts]
		s := NewState(ins[0].Deal.ContractID)
		for _, in := range ins {
			out, err := br.ApplyDeal(s, *in.Deal)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Marshal(); err != nil {
				b.Fatal(err)
			}
			n++
			journals += len(out.Journals)
			docs += len(s.Docs)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "deals/s")
	b.ReportMetric(float64(journals)/float64(n), "journals/deal")
	b.ReportMetric(float64(docs)/float64(n), "docs/deal")
}
