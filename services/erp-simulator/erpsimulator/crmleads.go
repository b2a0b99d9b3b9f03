package erpsimulator

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

var leadUpdates = metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "isthmus_sim_crm_lead_updates_total",
	Help: "customer-sync's answers to the simulated CRM's leads (crm.lead-updates.v1) the CRM read, by outcome (NEW_ACCOUNT, EXISTING_CUSTOMER, REVIEW; undecodable).",
}, []string{"outcome"}))

// leadAnswers is the simulated CRM reading customer-sync's answers to its
// leads (crm.lead-updates.v1, read committed, its own consumer group) and
// handing them to the generator, which converts the leads (traffic.Convert).
// A record it cannot decode is counted and skipped: the CRM side is a
// simulation, not a service with a DLQ.
func leadAnswers(ctx context.Context, kcfg kafka.Config, sd *serde.Serde, gen *traffic.Generator, log *slog.Logger) error {
	cl, err := kcfg.NewClient(
		kgo.ConsumeTopics(kcfg.Topic(contracts.TopicCRMLeadUpdatesV1)),
		kgo.ConsumerGroup(kcfg.TopicPrefix+Name+"-crm"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	return readAll(ctx, cl, log, "lead updates", func(r *kgo.Record) error {
		var u contracts.LeadUpdate
		if err := sd.Decode(ctx, r.Value, &u); err != nil {
			leadUpdates.WithLabelValues("undecodable").Inc()
			return err
		}
		leadUpdates.WithLabelValues(u.Outcome).Inc()
		gen.Convert(&u)
		return nil
	})
}

// readAll polls cl until ctx ends and hands every record to each; fetch
// errors and records each refuses are logged (at most every 30 s) and
// skipped: the CRM side is a simulation, not a service with a DLQ.
func readAll(ctx context.Context, cl *kgo.Client, log *slog.Logger, what string, each func(*kgo.Record) error) error {
	var lastWarn time.Time
	warn := func(msg string, args ...any) {
		if time.Since(lastWarn) > 30*time.Second {
			lastWarn = time.Now()
			log.Warn(msg, args...)
		}
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			warn("reading "+what, "topic", topic, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if err := each(r); err != nil {
				warn(what+": record skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			}
		})
	}
}
