package reconciler

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/services/reconciler/internal/match"
	"github.com/isthmus/isthmus/services/reconciler/internal/parity"
	"github.com/isthmus/isthmus/services/reconciler/internal/readmodel"
)

// gauges exports the reconciliation state. SLA and break numbers come from
// the matcher's partition stats (kept in state, so they are exact and
// survive restarts; each replica exports its own partitions, so sum them);
// exception numbers come from the dashboard's read model.
type gauges struct {
	mu    sync.Mutex
	parts map[int32]partStats
	model *readmodel.Model
	stale time.Duration

	openBreaks, breaches, openExp, pendingValidation, invoicesLate, openExceptions, exceptionAge *prometheus.Desc
}

type partStats struct {
	at    time.Time
	stats *match.Stats
}

var theGauges = newGauges()

var registerOnce sync.Once

func newGauges() *gauges {
	return &gauges{
		parts:             map[int32]partStats{},
		openBreaks:        prometheus.NewDesc("isthmus_recon_open_breaks", "Open reconciliation breaks by kind.", []string{"kind"}, nil),
		breaches:          prometheus.NewDesc("isthmus_recon_sla_breaches_total", "SLA and amount breaches detected, by kind.", []string{"kind"}, nil),
		openExp:           prometheus.NewDesc("isthmus_recon_open_expectations", "Open expectations (pending or breached) by kind.", []string{"kind"}, nil),
		pendingValidation: prometheus.NewDesc("isthmus_orders_pending_validation", "Accepted quotes whose order has not been submitted to ERP yet.", nil, nil),
		invoicesLate:      prometheus.NewDesc("isthmus_invoices_not_posted_within_sla", "Shipped orders without a posted invoice past their SLA.", nil, nil),
		openExceptions:    prometheus.NewDesc("isthmus_open_exceptions", "Open operational exceptions by queue.", []string{"queue"}, nil),
		exceptionAge:      prometheus.NewDesc("isthmus_open_exceptions_oldest_age_seconds", "Age of the oldest open exception by queue.", []string{"queue"}, nil),
	}
}

func (g *gauges) set(part int32, s *match.Stats, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.parts[part] = partStats{at: now, stats: s}
}

func (g *gauges) setModel(m *readmodel.Model, tick time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.model, g.stale = m, max(10*tick, 30*time.Second)
	g.parts = map[int32]partStats{}
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.openBreaks, g.breaches, g.openExp, g.pendingValidation, g.invoicesLate, g.openExceptions, g.exceptionAge} {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	open, breaks, breaches := map[string]int64{}, map[string]int64{}, map[string]int64{}
	now := time.Now()
	for p, ps := range g.parts {
		if now.Sub(ps.at) > g.stale {
			delete(g.parts, p) // revoked: another replica exports it now
			continue
		}
		for k, n := range ps.stats.Open {
			open[k] += n
		}
		for k, n := range ps.stats.Breaks {
			breaks[k] += n
		}
		for k, n := range ps.stats.Breaches {
			breaches[k] += n
		}
	}
	model := g.model
	g.mu.Unlock()
	for _, k := range readmodel.BreakKinds {
		ch <- prometheus.MustNewConstMetric(g.openBreaks, prometheus.GaugeValue, float64(breaks[k]), k)
		ch <- prometheus.MustNewConstMetric(g.breaches, prometheus.CounterValue, float64(breaches[k]), k)
		ch <- prometheus.MustNewConstMetric(g.openExp, prometheus.GaugeValue, float64(open[k]), k)
	}
	ch <- prometheus.MustNewConstMetric(g.pendingValidation, prometheus.GaugeValue, float64(open[contracts.BreakKindOrderNotSubmitted]))
	ch <- prometheus.MustNewConstMetric(g.invoicesLate, prometheus.GaugeValue, float64(breaks[contracts.BreakKindInvoiceNotPosted]))
	if model != nil {
		for _, q := range model.Queues(now) {
			ch <- prometheus.MustNewConstMetric(g.openExceptions, prometheus.GaugeValue, float64(q.Open), q.Queue)
			ch <- prometheus.MustNewConstMetric(g.exceptionAge, prometheus.GaugeValue, q.OldestAgeSeconds, q.Queue)
		}
	}
}

func registerGauges() {
	registerOnce.Do(func() {
		metrics.Register(metrics.Registry, prometheus.Collector(theGauges))
		metrics.Register(metrics.Registry, prometheus.Collector(theParityGauges))
	})
}

// parityGauges exports the parity check's numbers from each partition's
// stats (kept in its state: exact across restarts; each replica exports
// its own partitions, so sum them).
type parityGauges struct {
	mu    sync.Mutex
	parts map[int32]parityPart
	stale time.Duration

	entities, published, waiting *prometheus.Desc
}

type parityPart struct {
	at    time.Time
	stats *parity.Stats
}

var theParityGauges = &parityGauges{
	parts:     map[int32]parityPart{},
	stale:     time.Minute,
	entities:  prometheus.NewDesc("isthmus_recon_parity_entities", "Entities of a flow in SHADOW kept by the parity check, by their latest verdict.", []string{"flow", "verdict"}, nil),
	published: prometheus.NewDesc("isthmus_recon_parity_verdicts_total", "Parity verdicts published on recon.parity.v1, by flow and verdict.", []string{"flow", "verdict"}, nil),
	waiting:   prometheus.NewDesc("isthmus_recon_parity_waiting", "Entities whose answer from one ERP path waits for the other path's.", []string{"flow"}, nil),
}

// parityVerdicts are the verdicts exported (every one, zero included).
var parityVerdicts = []string{contracts.ParityVerdictMatch, contracts.ParityVerdictDifferent, contracts.ParityVerdictMissingNew, contracts.ParityVerdictMissingLegacy}

func (g *parityGauges) set(part int32, s *parity.Stats, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.parts[part] = parityPart{at: now, stats: s}
}

func (g *parityGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.entities
	ch <- g.published
	ch <- g.waiting
}

func (g *parityGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	latest, published, waiting := map[string]map[string]int64{}, map[string]map[string]int64{}, map[string]int64{}
	now := time.Now()
	for p, ps := range g.parts {
		if now.Sub(ps.at) > g.stale {
			delete(g.parts, p) // revoked: another replica exports it now
			continue
		}
		for _, pair := range []struct{ from, to map[string]map[string]int64 }{{ps.stats.Latest, latest}, {ps.stats.Published, published}} {
			for f, vs := range pair.from {
				if pair.to[f] == nil {
					pair.to[f] = map[string]int64{}
				}
				for v, n := range vs {
					pair.to[f][v] += n
				}
			}
		}
		for f, n := range ps.stats.Waiting {
			waiting[f] += n
		}
	}
	g.mu.Unlock()
	for _, f := range flowmode.Flows {
		for _, v := range parityVerdicts {
			ch <- prometheus.MustNewConstMetric(g.entities, prometheus.GaugeValue, float64(latest[f][v]), f, v)
			ch <- prometheus.MustNewConstMetric(g.published, prometheus.CounterValue, float64(published[f][v]), f, v)
		}
		ch <- prometheus.MustNewConstMetric(g.waiting, prometheus.GaugeValue, float64(waiting[f]), f)
	}
}
