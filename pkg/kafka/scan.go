package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Span is a half-open offset range [From, To) of one partition.
type Span struct{ From, To int64 }

// Partitions returns the [start, end) offsets of every partition of a
// physical topic; missing topics are an error naming the topic.
func Partitions(ctx context.Context, adm *kadm.Client, topic string) (map[int32]Span, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	return spansFrom(ctx, adm, topic, starts)
}

// PartitionsSince is Partitions from the first record of each partition
// whose timestamp is at or after since (an empty span when there is none).
func PartitionsSince(ctx context.Context, adm *kadm.Client, topic string, since time.Time) (map[int32]Span, error) {
	starts, err := adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err != nil {
		return nil, err
	}
	return spansFrom(ctx, adm, topic, starts)
}

// spansFrom pairs the listed start offsets of topic with its end offsets.
func spansFrom(ctx context.Context, adm *kadm.Client, topic string, starts kadm.ListedOffsets) (map[int32]Span, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]Span{}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				ferr = fmt.Errorf("topic %s does not exist", topic)
			} else if ferr == nil {
				ferr = fmt.Errorf("%s/%d: %w", topic, o.Partition, o.Err)
			}
			return
		}
		from := o.Offset
		if s, ok := starts.Lookup(topic, o.Partition); ok && s.Err == nil && s.Offset >= 0 && s.Offset < from {
			from = s.Offset
		}
		out[o.Partition] = Span{From: from, To: o.Offset}
	})
	if ferr != nil {
		return nil, ferr
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	return out, nil
}

// Scan reads the committed records of the given partition ranges of a
// physical topic in offset order per partition and calls fn for each;
// fn returning false stops the scan. Control records (transaction markers)
// are skipped but used to see the end of the range.
func Scan(ctx context.Context, kcfg Config, timeout time.Duration, topic string, spans map[int32]Span, fn func(*kgo.Record) bool) error {
	offs := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	for p, s := range spans {
		if s.To > s.From {
			offs[p] = kgo.NewOffset().At(s.From)
			want[p] = s.To
		}
	}
	if len(offs) == 0 {
		return nil
	}
	cl, err := kcfg.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.RetryTimeout(timeout),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	idle := time.Now()
	for len(want) > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				return fmt.Errorf("read %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		n := 0
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			n++
			end, ok := want[r.Partition]
			if !ok || stop {
				return
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if r.Offset >= end || r.Attrs.IsControl() {
				return
			}
			if !fn(r) {
				stop = true
			}
		})
		if stop {
			return nil
		}
		if n > 0 {
			idle = time.Now()
		} else if time.Since(idle) > min(timeout, 5*time.Second) {
			// Aborted records at the end of a partition are never
			// delivered under read_committed; nothing more will come.
			return nil
		}
	}
	return nil
}
