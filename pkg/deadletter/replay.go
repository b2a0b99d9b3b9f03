// Package deadletter puts fixed dead letters back: a record of
// dlq.<service>.v1 is replayed to that service's own retry topic
// (processor.RetryTopic), never to the shared source topic, with the origin
// headers that make the service handle it as if read from its original
// topic, partition and offset.
//
// Replay is idempotent. Every replayed record carries the header
// dlq-replayed-from = "<dlq topic>/<partition>/<offset>" (logical topic
// name) and dlq-replay-count = previous count + 1. Before producing, Replay
// reads the retry topic from the moment the message was dead-lettered and
// skips the message when a record with the same key and the same
// dlq-replayed-from is already there; so a message replayed twice is put
// back once. A message that fails again is dead-lettered anew (new DLQ
// offset, replay count carried) and can be replayed again after the next
// fix.
package deadletter

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
)

// ReplayOptions select what Replay puts back.
type ReplayOptions struct {
	Topic     string // logical DLQ topic
	Partition int32
	Offset    int64 // ignored with All
	All       bool  // every message of every partition
	DryRun    bool
	Timeout   time.Duration
	Progress  io.Writer // optional
}

// Outcome is what happened to one DLQ message.
type Outcome struct {
	Source      string `json:"source"` // <dlq topic>/<partition>/<offset>
	Key         string `json:"key"`
	Target      string `json:"target"` // logical retry topic of the owning service
	Origin      string `json:"origin"` // logical topic the message was first consumed from
	Action      string `json:"action"` // replayed, would-replay, already-replayed, skipped
	Reason      string `json:"reason,omitempty"`
	ReplayCount int    `json:"replay_count,omitempty"`
	Partition   int32  `json:"target_partition,omitempty"`
	Offset      int64  `json:"target_offset,omitempty"`
}

// headers of a DLQ record that describe the failure, not the message:
// they are dropped on replay (a new failure writes them again).
var failureHeaders = map[string]bool{
	catalog.DLQHeaderTopic: true, catalog.DLQHeaderPartition: true, catalog.DLQHeaderOffset: true,
	catalog.DLQHeaderTimestamp: true, catalog.DLQHeaderService: true, catalog.DLQHeaderFailedAt: true,
	catalog.DLQHeaderErrorClass: true, catalog.DLQHeaderErrorReason: true, catalog.DLQHeaderErrorMessage: true,
}

// ServiceOf returns the service of a logical DLQ topic dlq.<service>.v1.
func ServiceOf(dlqTopic string) (string, error) {
	service, ok := catalog.DLQService(dlqTopic)
	if !ok {
		return "", fmt.Errorf("%q is not a DLQ topic (want dlq.<service>.v1)", dlqTopic)
	}
	return service, nil
}

// ReplayRecord is the record a DLQ record is replayed as, on the retry
// topic of the service that dead-lettered it: original key, value and
// headers, the failure headers removed, the origin headers (topic,
// partition, offset and event id where it was first consumed) set,
// dlq-replay-count + 1 and dlq-replayed-from set. It returns the logical
// original topic too.
func ReplayRecord(kcfg kafka.Config, dlqTopic string, r *kgo.Record) (rec *kgo.Record, origin string, count int, err error) {
	service, err := ServiceOf(dlqTopic)
	if err != nil {
		return nil, "", 0, err
	}
	var partition, offset string
	out := &kgo.Record{Key: r.Key, Value: r.Value, Topic: kcfg.Topic(processor.RetryTopic(service))}
	for _, h := range r.Headers {
		switch {
		case h.Key == catalog.DLQHeaderTopic:
			origin = string(h.Value)
		case h.Key == catalog.DLQHeaderPartition:
			partition = string(h.Value)
		case h.Key == catalog.DLQHeaderOffset:
			offset = string(h.Value)
		case h.Key == catalog.DLQHeaderReplayCount:
			count, _ = strconv.Atoi(string(h.Value))
		case h.Key == HeaderReplayedFrom, failureHeaders[h.Key],
			h.Key == processor.HeaderOriginTopic, h.Key == processor.HeaderOriginPartition, h.Key == processor.HeaderOriginOffset, h.Key == processor.HeaderEventID:
		default:
			out.Headers = append(out.Headers, h)
		}
	}
	at := fmt.Sprintf("%s/%d offset %d", dlqTopic, r.Partition, r.Offset)
	if origin == "" {
		return nil, "", 0, fmt.Errorf("%s has no %s header: not a dead-lettered message", at, catalog.DLQHeaderTopic)
	}
	if IsTopic(origin) {
		return nil, "", 0, fmt.Errorf("%s names DLQ topic %s as its origin; refusing to replay a DLQ", at, origin)
	}
	if _, err := strconv.ParseInt(partition, 10, 32); err != nil {
		return nil, "", 0, fmt.Errorf("%s: %s header %q is not a partition", at, catalog.DLQHeaderPartition, partition)
	}
	if _, err := strconv.ParseInt(offset, 10, 64); err != nil {
		return nil, "", 0, fmt.Errorf("%s: %s header %q is not an offset", at, catalog.DLQHeaderOffset, offset)
	}
	physical := kcfg.Topic(origin)
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: processor.HeaderOriginTopic, Value: []byte(physical)},
		kgo.RecordHeader{Key: processor.HeaderOriginPartition, Value: []byte(partition)},
		kgo.RecordHeader{Key: processor.HeaderOriginOffset, Value: []byte(offset)},
		// The id the record had where it was first consumed: its outputs
		// are the ones it would have had then.
		kgo.RecordHeader{Key: processor.HeaderEventID, Value: []byte(event.ID(physical, partition, offset))},
		kgo.RecordHeader{Key: catalog.DLQHeaderReplayCount, Value: []byte(strconv.Itoa(count + 1))},
		kgo.RecordHeader{Key: HeaderReplayedFrom, Value: []byte(source(dlqTopic, r))})
	return out, origin, count + 1, nil
}

func source(dlqTopic string, r *kgo.Record) string {
	return fmt.Sprintf("%s/%d/%d", dlqTopic, r.Partition, r.Offset)
}

// Replay puts the selected DLQ messages on their service's retry topic.
// Messages already replayed (a record with the same key and
// dlq-replayed-from on the target since the message was dead-lettered) are
// skipped, so running it twice replays once.
func Replay(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, o ReplayOptions) ([]Outcome, error) {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	adm := kadm.NewClient(cl)
	phys := kcfg.Topic(o.Topic)
	service, err := ServiceOf(o.Topic)
	if err != nil {
		return nil, err
	}
	retry := kcfg.Topic(processor.RetryTopic(service))
	if _, err := kafka.Partitions(ctx, adm, retry); err != nil {
		return nil, fmt.Errorf("%w: only a service running a processor consumes a retry topic; start %s once to create it", err, service)
	}
	spans, err := kafka.Partitions(ctx, adm, phys)
	if err != nil {
		return nil, err
	}
	var recs []*kgo.Record
	if o.All {
		err = kafka.Scan(ctx, kcfg, o.Timeout, phys, spans, func(r *kgo.Record) bool { recs = append(recs, r); return true })
		if err != nil {
			return nil, err
		}
	} else {
		r, err := Fetch(ctx, cl, kcfg, o.Timeout, o.Topic, o.Partition, o.Offset)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	var out []Outcome
	done := map[string]bool{} // replayed in this run
	for i, r := range recs {
		if o.Progress != nil && len(recs) > 20 && i%20 == 0 {
			fmt.Fprintf(o.Progress, "… %d/%d messages\n", i, len(recs))
		}
		src := source(o.Topic, r)
		rec, origin, count, err := ReplayRecord(kcfg, o.Topic, r)
		if err != nil {
			out = append(out, Outcome{Source: src, Key: string(r.Key), Action: "skipped", Reason: err.Error()})
			continue
		}
		oc := Outcome{Source: src, Key: string(r.Key), Target: kcfg.Logical(rec.Topic), Origin: origin, ReplayCount: count}
		if done[src] {
			oc.Action, oc.Reason = "already-replayed", "replayed earlier in this run"
			out = append(out, oc)
			continue
		}
		found, err := alreadyReplayed(ctx, adm, kcfg, o.Timeout, rec.Topic, r, src)
		if err != nil {
			return out, fmt.Errorf("check %s for an earlier replay of %s: %w", kcfg.Logical(rec.Topic), src, err)
		}
		if found != nil {
			oc.Action, oc.Partition, oc.Offset = "already-replayed", found.Partition, found.Offset
			oc.Reason = fmt.Sprintf("%s/%d offset %d carries %s=%s", kcfg.Logical(found.Topic), found.Partition, found.Offset, HeaderReplayedFrom, src)
			out = append(out, oc)
			continue
		}
		if o.DryRun {
			oc.Action = "would-replay"
			out = append(out, oc)
			continue
		}
		res := cl.ProduceSync(ctx, rec)
		if err := res.FirstErr(); err != nil {
			return out, fmt.Errorf("produce %s to %s: %w", src, kcfg.Logical(rec.Topic), err)
		}
		done[src] = true
		oc.Action, oc.Partition, oc.Offset = "replayed", res[0].Record.Partition, res[0].Record.Offset
		out = append(out, oc)
	}
	return out, nil
}

// alreadyReplayed looks for a replay of the DLQ record r on the physical
// retry topic, from just before r was dead-lettered to the end.
func alreadyReplayed(ctx context.Context, adm *kadm.Client, kcfg kafka.Config, timeout time.Duration, target string, r *kgo.Record, src string) (*kgo.Record, error) {
	spans, err := kafka.PartitionsSince(ctx, adm, target, r.Timestamp.Add(-time.Minute))
	if err != nil {
		return nil, err
	}
	var found *kgo.Record
	err = kafka.Scan(ctx, kcfg, timeout, target, spans, func(t *kgo.Record) bool {
		if string(t.Key) != string(r.Key) {
			return true
		}
		for _, h := range t.Headers {
			if h.Key == HeaderReplayedFrom && string(h.Value) == src {
				found = t
				return false
			}
		}
		return true
	})
	return found, err
}
