package readmodel

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
)

// Feed consumes topics into a Model with plain (non-transactional, no
// consumer group) read_committed clients: breaks and exceptions from the
// start of the topics, the timeline topics from Lookback ago.
type Feed struct {
	Kafka    kafka.Config
	Serde    *serde.Serde
	Model    *Model
	Log      *slog.Logger
	Lookback time.Duration
	// Timeline are the topics indexed from Lookback ago; States are read
	// from their start (breaks, exceptions).
	Timeline, States []string
}

// Run feeds the model until ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() {
		errc <- f.consume(ctx, f.States, kgo.NewOffset().AtStart())
	}()
	go func() {
		errc <- f.consume(ctx, f.Timeline, kgo.NewOffset().AfterMilli(time.Now().Add(-f.Lookback).UnixMilli()))
	}()
	err := errors.Join(<-errc, <-errc)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (f *Feed) consume(ctx context.Context, topics []string, start kgo.Offset) error {
	if len(topics) == 0 {
		return nil
	}
	physical := make([]string, len(topics))
	for i, t := range topics {
		physical[i] = f.Kafka.Topic(t)
	}
	cl, err := f.Kafka.NewClient(
		kgo.ConsumeTopics(physical...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(start),
		kgo.MetadataMinAge(2*time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			f.Log.Warn("dashboard feed fetch error", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				return
			}
			logical := f.Kafka.Logical(r.Topic)
			v, err := contracts.NewValue(logical)
			if err == nil {
				err = f.Serde.Decode(ctx, r.Value, v)
			}
			if err != nil {
				f.Model.DecodeError()
				f.Log.Debug("dashboard feed cannot decode", "topic", r.Topic, "offset", r.Offset, "err", err)
				return
			}
			f.Model.Add(logical, r.Partition, r.Offset, string(r.Key), r.Timestamp, v)
		})
	}
	return nil
}
