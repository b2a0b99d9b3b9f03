package readmodel

import (
	"sort"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
)

// ParityEntity is the latest parity verdict of one entity of a flow in
// SHADOW (recon.parity.v1).
type ParityEntity struct {
	Flow        string                       `json:"flow"`
	EntityID    string                       `json:"entity_id"`
	Verdict     string                       `json:"verdict"`
	Differences []contracts.ParityDifference `json:"differences"`
	DecidedAt   time.Time                    `json:"decided_at"`
}

// ParityDifference is one differing field of one entity.
type ParityDifference struct {
	EntityID  string    `json:"entity_id"`
	Field     string    `json:"field"`
	Legacy    *string   `json:"legacy"`
	New       *string   `json:"new"`
	DecidedAt time.Time `json:"decided_at"`
}

// ParityStat is a flow's parity over the dashboard's lookback: entities by
// their latest verdict, and the newest differences.
type ParityStat struct {
	Flow string `json:"flow"`
	flowmode.Tally
	LastDifferences []ParityDifference `json:"last_differences"`
}

// MaxParityDifferences bounds ParityStat.LastDifferences.
const MaxParityDifferences = 20

func (m *Model) putParity(p *contracts.ParityResult) {
	key := flowmode.ResultKey(p.Flow, p.EntityID)
	if old, ok := m.parity[key]; ok && old.DecidedAt.After(p.DecidedAt) {
		return
	}
	m.parity[key] = &ParityEntity{Flow: p.Flow, EntityID: p.EntityID, Verdict: p.Verdict, Differences: p.Differences, DecidedAt: p.DecidedAt.UTC()}
	if len(m.parity) > m.lim.MaxItems {
		evict(m.parity, m.lim.MaxItems*9/10, func(e *ParityEntity) (bool, time.Time) {
			return e.Verdict == contracts.ParityVerdictMatch, e.DecidedAt
		})
	}
}

// Parity is every routed flow's parity (each listed, in flowmode.Flows
// order).
func (m *Model) Parity() []ParityStat {
	m.mu.RLock()
	defer m.mu.RUnlock()
	stats := map[string]*ParityStat{}
	out := make([]ParityStat, 0, len(flowmode.Flows))
	for _, f := range flowmode.Flows {
		stats[f] = &ParityStat{Flow: f}
	}
	flows := map[string][]ParityDifference{}
	for _, e := range m.parity {
		s := stats[e.Flow]
		if s == nil {
			continue
		}
		s.Add(e.Verdict)
		if e.Verdict == contracts.ParityVerdictDifferent {
			for _, d := range e.Differences {
				flows[e.Flow] = append(flows[e.Flow], ParityDifference{EntityID: e.EntityID, Field: d.Field, Legacy: d.Legacy, New: d.New, DecidedAt: e.DecidedAt})
			}
		}
	}
	for _, f := range flowmode.Flows {
		s := stats[f]
		d := flows[f]
		sort.Slice(d, func(i, j int) bool {
			if !d[i].DecidedAt.Equal(d[j].DecidedAt) {
				return d[i].DecidedAt.After(d[j].DecidedAt)
			}
			if d[i].EntityID != d[j].EntityID {
				return d[i].EntityID < d[j].EntityID
			}
			return d[i].Field < d[j].Field
		})
		if len(d) > MaxParityDifferences {
			d = d[:MaxParityDifferences]
		}
		s.LastDifferences = append([]ParityDifference{}, d...)
		out = append(out, *s)
	}
	return out
}
