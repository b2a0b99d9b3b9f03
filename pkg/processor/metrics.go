package processor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/metrics"
)

// runtimeMetrics are the processor metrics; one set per registry, shared by
// every processor of the process and told apart by the service label.
type runtimeMetrics struct {
	recordsIn      *prometheus.CounterVec
	recordsOut     *prometheus.CounterVec
	failures       *prometheus.CounterVec
	retries        *prometheus.CounterVec
	dlq            *prometheus.CounterVec
	aborts         *prometheus.CounterVec
	handlerSeconds *prometheus.HistogramVec
	commitSeconds  *prometheus.HistogramVec
	restoreSeconds *prometheus.HistogramVec
	lag            *prometheus.GaugeVec
	purges         *prometheus.CounterVec
	forwarded      *prometheus.CounterVec
	batchRecords   *prometheus.HistogramVec
	restored       *prometheus.CounterVec
}

func newRuntimeMetrics(reg prometheus.Registerer) *runtimeMetrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "isthmus", Subsystem: "processor", Name: name, Help: help}, labels))
	}
	h := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "isthmus", Subsystem: "processor", Name: name, Help: help, Buckets: buckets}, []string{"service"}))
	}
	return &runtimeMetrics{
		recordsIn:      c("records_in_total", "Input records processed (committed or not).", "service", "topic"),
		recordsOut:     c("records_out_total", "Output records committed.", "service", "topic"),
		failures:       c("failures_total", "Handler failures by error class (retriable, poison, business, unknown, panic).", "service", "class"),
		retries:        c("retries_total", "Handler retries after a retriable error.", "service"),
		dlq:            c("dlq_total", "Records sent to the service's dead-letter topic.", "service"),
		aborts:         c("aborts_total", "Transactions aborted (rebalance, retriable failure, broker error).", "service"),
		handlerSeconds: h("handler_seconds", "Handler latency per record.", prometheus.ExponentialBuckets(0.0001, 4, 9)),
		commitSeconds:  h("commit_seconds", "Transaction commit latency.", prometheus.ExponentialBuckets(0.001, 3, 9)),
		restoreSeconds: h("restore_seconds", "State restore time per partition.", prometheus.ExponentialBuckets(0.01, 4, 8)),
		batchRecords:   h("batch_records", "Input records per committed transaction.", prometheus.ExponentialBuckets(1, 4, 9)),
		forwarded:      c("forwarded_total", "Input records that arrived on another partition than their key's (murmur2) and were forwarded to it.", "service", "topic"),
		purges:         c("internal_purges_total", "Purges of internal-topic records the group has committed past.", "service"),
		restored:       c("restored_records_total", "Changelog records read to restore state.", "service"),
		lag: metrics.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "isthmus", Subsystem: "processor", Name: "consumer_lag",
			Help: "Records between the last processed offset and the high watermark."}, []string{"service", "topic", "partition"})),
	}
}

// measures are the per-record series of one processor, resolved once (a
// label lookup per record costs a hash of the label values).
type measures struct {
	handlerSeconds prometheus.Observer
	recordsIn      map[string]prometheus.Counter // logical input topic
}

func newMeasures(m *runtimeMetrics, service string, topics []string) *measures {
	ms := &measures{handlerSeconds: m.handlerSeconds.WithLabelValues(service), recordsIn: map[string]prometheus.Counter{}}
	for _, t := range topics {
		ms.recordsIn[t] = m.recordsIn.WithLabelValues(service, t)
	}
	return ms
}
