package billingbridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
)

// Metrics are billing-bridge's business counters.
type Metrics struct {
	reposts    *prometheus.CounterVec
	releases   prometheus.Counter
	decisions  *prometheus.CounterVec
	superseded prometheus.Counter
}

// NewMetrics registers the counters on the process registry (once per
// process: instances in one process share them).
func NewMetrics() *Metrics {
	return &Metrics{
		reposts: metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_billing_journal_reposts_total",
			Help: "Journals reposted into the next open period after an ERP rejection: trigger automatic (PERIOD_CLOSED) or decision (an operator's REPOST).",
		}, []string{"service", "trigger"})),
		releases: metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_billing_journals_released_total",
			Help: "Scheduled journals sent to ERP when their posting period opened (stream time).",
		}, []string{"service"})).WithLabelValues(Name),
		decisions: metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_billing_decisions_total",
			Help: "Operator decisions on billing-bridge exceptions, by action; outcome applied or noop (a repeat, or on a settled exception).",
		}, []string{"service", "action", "outcome"})),
		superseded: metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_billing_invoices_superseded_total",
			Help: "Invoices billing issued on the schedule of an amendment the contract had moved past (re-issued under the later one; nothing raised).",
		}, []string{"service"})).WithLabelValues(Name),
	}
}

func (m *Metrics) supersededInvoice() {
	if m != nil {
		m.superseded.Inc()
	}
}

func (m *Metrics) reposted(r bridge.Repost) {
	if m == nil {
		return
	}
	trigger := "automatic"
	if r.Decision != "" {
		trigger = "decision"
	}
	m.reposts.WithLabelValues(Name, trigger).Inc()
}

func (m *Metrics) released(n int) {
	if m != nil && n > 0 {
		m.releases.Add(float64(n))
	}
}

func (m *Metrics) decided(action string, noop bool) {
	if m == nil {
		return
	}
	outcome := "applied"
	if noop {
		outcome = "noop"
	}
	m.decisions.WithLabelValues(Name, action, outcome).Inc()
}
