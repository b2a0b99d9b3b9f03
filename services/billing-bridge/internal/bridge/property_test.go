package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/schedule"
)

// The property suite generates random contracts with random amendment
// sequences from a model kept by the test itself (not by the code under
// test), delivers them shuffled, duplicated and interleaved with billing
// acknowledgments and ticks, and checks the invariants finance relies on.

var propertyContracts = 10_000

type segModel struct {
	from  contract.Date
	lines []contract.Line
}

// model is the test's own idea of the contract: the oracle.
type model struct {
	start, end contract.Date
	freq       contract.Frequency
	segs       []segModel
	lastChange contract.Date
	canceled   bool
}

var skuPool = []string{"api", "audit", "seat", "sso", "storage", "support"}

func randomLines(r *rand.Rand) []contract.Line {
	n := 1 + r.IntN(4)
	perm := r.Perm(len(skuPool))
	lines := make([]contract.Line, 0, n)
	for _, i := range perm[:n] {
		q := int64(r.IntN(100))
		if r.IntN(10) > 0 {
			q++
		}
		p := int64(r.IntN(1_000_000))
		if r.IntN(20) == 0 {
			p = 0
		}
		lines = append(lines, contract.Line{SKU: skuPool[i], Quantity: q, UnitPrice: p})
	}
	return contract.NormaliseLines(lines)
}

func total(lines []contract.Line) int64 { return contract.PeriodAmount(lines) }

// generate returns a contract's deals in sequence order and the final model.
func generate(r *rand.Rand, id string) ([]contract.Deal, model) {
	freqs := []contract.Frequency{contract.Monthly, contract.Quarterly, contract.Annual}
	m := model{freq: freqs[r.IntN(3)]}
	m.start = contract.NewDate(2020+r.IntN(10), time.Month(1+r.IntN(12)), 1+r.IntN(31))
	if r.IntN(2) == 0 {
		m.end = m.start.AddMonths(1 + r.IntN(36))
	} else {
		m.end = m.start.AddDays(1 + r.IntN(1100))
	}
	lines := randomLines(r)
	m.segs = []segModel{{m.start, lines}}
	m.lastChange = m.start
	at := time.Date(2019, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(1000)) * time.Minute)
	deals := []contract.Deal{{ContractID: id, Seq: 1, Kind: contract.KindNew, CustomerID: "CU-" + id, Currency: "EUR",
		Frequency: m.freq, Start: m.start, End: m.end, Lines: lines, OccurredAt: at}}
	n := r.IntN(6)
	for seq := int64(2); seq < int64(2+n) && !m.canceled; seq++ {
		at = at.Add(time.Duration(1+r.IntN(100)) * time.Hour)
		d := contract.Deal{ContractID: id, Seq: seq, OccurredAt: at}
		cur := slices.Clone(m.segs[len(m.segs)-1].lines)
		switch k := r.IntN(10); {
		case k < 7:
			d.Kind = contract.KindAmend
			d.Effective = m.lastChange.AddDays(r.IntN(int(m.end - m.lastChange)))
			d.Change = []contract.Change{contract.ChangeUpsell, contract.ChangeDownsell, contract.ChangePriceChange}[r.IntN(3)]
			if d.Change == contract.ChangeDownsell && total(cur) == 0 {
				d.Change = contract.ChangeUpsell
			}
			switch d.Change {
			case contract.ChangeUpsell:
				if i := r.IntN(len(cur) + 1); i == len(cur) && len(cur) < len(skuPool) {
					for _, sku := range skuPool {
						if !slices.ContainsFunc(cur, func(l contract.Line) bool { return l.SKU == sku }) {
							cur = append(cur, contract.Line{SKU: sku, Quantity: 1 + int64(r.IntN(50)), UnitPrice: 1 + int64(r.IntN(500_000))})
							break
						}
					}
				} else {
					i = min(i, len(cur)-1)
					if cur[i].UnitPrice > 0 && cur[i].Quantity > 0 {
						cur[i].Quantity += 1 + int64(r.IntN(20))
					} else {
						cur[i].UnitPrice = 1 + int64(r.IntN(1000))
						cur[i].Quantity = max(cur[i].Quantity, 1)
					}
				}
			case contract.ChangeDownsell:
				var paying []int
				for i, l := range cur {
					if l.PeriodAmount() > 0 {
						paying = append(paying, i)
					}
				}
				i := paying[r.IntN(len(paying))]
				if len(cur) > 1 && r.IntN(3) == 0 {
					cur = slices.Delete(cur, i, i+1)
				} else {
					cur[i].Quantity -= 1 + int64(r.IntN(int(cur[i].Quantity)))
				}
			case contract.ChangePriceChange:
				i := r.IntN(len(cur))
				p := int64(r.IntN(1_000_000))
				if p == cur[i].UnitPrice {
					p++
				}
				cur[i].UnitPrice = p
			}
			cur = contract.NormaliseLines(cur)
			d.Lines = cur
			if m.segs[len(m.segs)-1].from == d.Effective {
				m.segs[len(m.segs)-1].lines = cur
			} else {
				m.segs = append(m.segs, segModel{d.Effective, cur})
			}
			m.lastChange = d.Effective
		case k < 9:
			d.Kind = contract.KindRenew
			if r.IntN(2) == 0 {
				d.End = m.end.AddMonths(1 + r.IntN(12))
			} else {
				d.End = m.end.AddDays(1 + r.IntN(400))
			}
			if r.IntN(2) == 0 {
				for i := range cur {
					cur[i].UnitPrice += cur[i].UnitPrice * int64(r.IntN(11)) / 100
				}
				d.Lines = cur
				m.segs = append(m.segs, segModel{m.end, cur})
			}
			m.lastChange = m.end
			m.end = d.End
		default:
			d.Kind = contract.KindCancel
			d.Effective = m.lastChange.AddDays(r.IntN(int(m.end - m.lastChange)))
			m.end = d.Effective
			m.lastChange = d.Effective
			m.canceled = true
		}
		deals = append(deals, d)
	}
	return deals, m
}

// exactValue is the contract value in exact rational arithmetic (each day
// earns A/L of its period), and the number of pieces whose rounding may
// differ from it by less than one minor unit each.
func exactValue(m model) (*big.Rat, int64) {
	k, _ := m.freq.Months()
	sum, pieces := new(big.Rat), int64(0)
	for i := 0; ; i++ {
		p0, p1 := m.start.AddMonths(i*k), m.start.AddMonths((i+1)*k)
		if p0 >= m.end {
			return sum, pieces
		}
		for j, s := range m.segs {
			to := m.end
			if j+1 < len(m.segs) {
				to = min(to, m.segs[j+1].from)
			}
			lo, hi := max(p0, s.from), min(p1, to)
			if lo >= hi {
				continue
			}
			for _, l := range s.lines {
				sum.Add(sum, big.NewRat(l.PeriodAmount()*int64(hi-lo), int64(p1-p0)))
				pieces++
			}
		}
	}
}

// input is one recorded input, replayed for the determinism checks.
type input struct {
	Deal *contract.Deal `json:"deal,omitempty"`
	Bill *BillingEvent  `json:"bill,omitempty"`
	Jrnl *JournalEvent  `json:"journal,omitempty"`
	Tick *time.Time     `json:"tick,omitempty"`
}

const sla = 48 * time.Hour

func step(b *Bridge, s *State, in input) (Outputs, error) {
	switch {
	case in.Deal != nil:
		return b.ApplyDeal(s, *in.Deal)
	case in.Bill != nil:
		return b.ApplyBilling(s, *in.Bill)
	case in.Jrnl != nil:
		return b.ApplyJournal(s, *in.Jrnl)
	default:
		// The handler's tick: held amendments past the SLA, then the
		// journals whose period opened.
		out := b.Tick(s, *in.Tick, sla)
		rel := b.Release(s, contract.DateOf(*in.Tick))
		out.Journals = rel.Journals
		return out, nil
	}
}

// deliver builds the delivery order: in sequence, with adjacent swaps
// (out-of-order amendments, amendments before NEW) and re-sends.
func deliver(r *rand.Rand, deals []contract.Deal) []contract.Deal {
	order := slices.Clone(deals)
	for range 2 {
		if len(order) > 1 && r.IntN(4) == 0 {
			i := r.IntN(len(order) - 1)
			order[i], order[i+1] = order[i+1], order[i]
		}
	}
	if r.IntN(8) == 0 {
		dup := order[r.IntN(len(order))]
		dup.OccurredAt = dup.OccurredAt.Add(time.Minute)
		dup.Lines = slices.Clone(dup.Lines)
		slices.Reverse(dup.Lines) // same content, other order
		order = slices.Insert(order, r.IntN(len(order))+1, dup)
	}
	return order
}

func TestProperties(t *testing.T) {
	b := New()
	var (
		mu       sync.Mutex
		failures []string
		stats    = map[string]int{}
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	// Contracts are independent and each has its own seeded generator, so
	// the result does not depend on how they are spread over the workers.
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			local := map[string]int{}
			for {
				i := int(next.Add(1)) - 1
				if i >= propertyContracts {
					break
				}
				if err := propertyCase(b, i, local); err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					next.Store(int64(propertyContracts)) // stop early
				}
			}
			mu.Lock()
			for k, v := range local {
				stats[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(failures)
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d contracts: %v", propertyContracts, stats)
}

// propertyCase generates contract i, runs it and checks every property.
func propertyCase(b *Bridge, i int, stats map[string]int) error {
	r := rand.New(rand.NewPCG(20250101, uint64(i)))
	id := fmt.Sprintf("P-%05d", i)
	deals, m := generate(r, id)
	order := deliver(r, deals)
	s := NewState(id)
	var inputs []input
	var outs []Outputs
	run := func(in input) error {
		out, err := step(b, s, in)
		if err != nil {
			return fmt.Errorf("%s: input %d %+v: %w", id, len(inputs), in, err)
		}
		inputs = append(inputs, in)
		outs = append(outs, out)
		stats[string(out.Status)]++
		return checkStep(id, s, out)
	}
	for _, d := range order {
		if s.Terms != nil && r.IntN(5) < 2 {
			// The billing system issues what is due by some date.
			cutoff := s.Terms.Start.AddDays(r.IntN(int(s.Terms.End-s.Terms.Start) + 1))
			for _, doc := range s.Docs {
				if !doc.Issued && doc.Date <= cutoff {
					if err := run(input{Bill: &BillingEvent{ContractID: id, Kind: InvoiceIssued, DocumentID: doc.ID,
						InvoiceNumber: "INV-" + doc.ID, Amount: doc.Amount, Currency: "EUR"}}); err != nil {
						return err
					}
					stats["issued"]++
				}
			}
		}
		if r.IntN(4) == 0 {
			now := d.OccurredAt.Add(time.Duration(r.IntN(96)) * time.Hour)
			if err := run(input{Tick: &now}); err != nil {
				return err
			}
		}
		if err := run(input{Deal: &d}); err != nil {
			return err
		}
	}
	if s.LastSeq() != int64(len(deals)) || len(s.Held) != 0 {
		return fmt.Errorf("%s: applied %d of %d, held %d", id, s.LastSeq(), len(deals), len(s.Held))
	}
	stats["deals"] += len(deals)
	// Time passes until every period has opened: the scheduled journals go.
	end := allOpen.Time()
	if err := run(input{Tick: &end}); err != nil {
		return err
	}
	if err := checkFinal(id, m, s, outs); err != nil {
		return err
	}
	return checkReplay(b, id, inputs, outs, s, i%10 == 0)
}

func checkStep(id string, s *State, out Outputs) error {
	for _, j := range out.Journals {
		if err := j.Check(); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if j.Currency != "EUR" {
			return fmt.Errorf("%s: journal %s in %s", id, j.ID, j.Currency)
		}
	}
	var rec int64
	for _, e := range s.Revenue {
		if e.Deferred < 0 {
			return fmt.Errorf("%s: deferred %d at end of %s", id, e.Deferred, e.Month)
		}
		rec += e.Recognised
	}
	if billed := docTotal(s.Docs); billed != rec {
		return fmt.Errorf("%s: billed %d, recognised %d", id, billed, rec)
	}
	if n := len(s.Revenue); n > 0 && s.Revenue[n-1].Deferred != 0 {
		return fmt.Errorf("%s: deferred %d at the end", id, s.Revenue[n-1].Deferred)
	}
	return nil
}

func checkFinal(id string, m model, s *State, outs []Outputs) error {
	value := recognised(s)
	exact, pieces := exactValue(m)
	diff := new(big.Rat).Sub(new(big.Rat).SetInt64(value), exact)
	if diff.Abs(diff).Cmp(new(big.Rat).SetInt64(max(pieces, 1))) >= 0 {
		return fmt.Errorf("%s: value %d, exact %s over %d pieces", id, value, exact.FloatString(2), pieces)
	}
	if s.Terms.Start != m.start || s.Terms.End != m.end {
		return fmt.Errorf("%s: term [%s, %s), model [%s, %s)", id, s.Terms.Start, s.Terms.End, m.start, m.end)
	}
	var journals []journal.Journal
	var lastSchedule []schedule.Doc
	for _, o := range outs {
		journals = append(journals, o.Journals...)
		for _, c := range o.Commands {
			if c.Kind == InvoiceSchedule {
				lastSchedule = c.Schedule
			}
		}
	}
	if got := docTotal(lastSchedule); got != value {
		return fmt.Errorf("%s: last invoice schedule sums to %d, contract value %d", id, got, value)
	}
	seen := make(map[string]bool, len(journals))
	for _, j := range journals {
		if seen[j.ID] {
			return fmt.Errorf("%s: journal id %s twice", id, j.ID)
		}
		seen[j.ID] = true
	}
	// Replay the ledger in posting-date order.
	slices.SortStableFunc(journals, func(a, b journal.Journal) int { return int(a.Date - b.Date) })
	a := journal.DefaultAccounts
	var ar, deferred, rev int64
	for i, j := range journals {
		ar += j.Effect(a.Receivable)
		deferred -= j.Effect(a.Deferred)
		rev -= j.Effect(a.Revenue)
		if (i+1 == len(journals) || journals[i+1].Date != j.Date) && deferred < 0 {
			return fmt.Errorf("%s: ledger deferred revenue %d on %s", id, deferred, j.Date)
		}
	}
	if deferred != 0 || rev != value || ar != value {
		return fmt.Errorf("%s: ledger ends AR %d deferred %d revenue %d, value %d", id, ar, deferred, rev, value)
	}
	return nil
}

// checkReplay replays the recorded inputs on fresh state and requires the
// same outputs and state. For every tenth contract (bytes) the comparison is
// on the marshalled bytes, and a second replay puts the state through
// Marshal/Unmarshal (a changelog restore) before a random third of the
// inputs; for the others it compares the values (reflect.DeepEqual), which
// keeps 10,000 contracts within a few seconds.
func checkReplay(b *Bridge, id string, inputs []input, want []Outputs, final *State, bytesToo bool) error {
	if !bytesToo {
		s := NewState(id)
		for i, in := range inputs {
			out, err := step(b, s, in)
			if err != nil {
				return fmt.Errorf("%s replay: %w", id, err)
			}
			if !reflect.DeepEqual(out, want[i]) {
				return fmt.Errorf("%s replay input %d: outputs differ\n got %+v\nwant %+v", id, i, out, want[i])
			}
		}
		if !reflect.DeepEqual(s, final) {
			return fmt.Errorf("%s replay: state differs", id)
		}
		return nil
	}
	wantState, err := final.Marshal()
	if err != nil {
		return err
	}
	wantOut := make([][]byte, len(want))
	for i, o := range want {
		if wantOut[i], err = json.Marshal(o); err != nil {
			return err
		}
	}
	r := rand.New(rand.NewPCG(uint64(len(id)), uint64(len(inputs))))
	for _, restore := range []bool{false, true} {
		s := NewState(id)
		for i, in := range inputs {
			if restore && r.IntN(3) == 0 {
				raw, err := s.Marshal()
				if err != nil {
					return err
				}
				if s, err = Unmarshal(raw); err != nil {
					return err
				}
			}
			out, err := step(b, s, in)
			if err != nil {
				return fmt.Errorf("%s replay: %w", id, err)
			}
			got, _ := json.Marshal(out)
			if !bytes.Equal(got, wantOut[i]) {
				return fmt.Errorf("%s replay (restore=%v) input %d: outputs differ\n got %s\nwant %s", id, restore, i, got, wantOut[i])
			}
		}
		got, err := s.Marshal()
		if err != nil {
			return err
		}
		if !bytes.Equal(got, wantState) {
			return fmt.Errorf("%s replay (restore=%v): state differs\n got %s\nwant %s", id, restore, got, wantState)
		}
	}
	return nil
}

func init() {
	if v := os.Getenv("BB_PROPERTY_N"); v != "" {
		propertyContracts, _ = strconv.Atoi(v)
	}
}
