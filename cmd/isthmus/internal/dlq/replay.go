package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/kafka"
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
	Target      string `json:"target"` // logical original topic
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

// ReplayRecord is the record a DLQ record is replayed as: original key,
// value and headers, the failure headers removed, dlq-replay-count + 1 and
// dlq-replayed-from set.
func ReplayRecord(kcfg kafka.Config, dlqTopic string, r *kgo.Record) (*kgo.Record, int, error) {
	var target string
	count := 0
	out := &kgo.Record{Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		switch {
		case h.Key == catalog.DLQHeaderTopic:
			target = string(h.Value)
		case h.Key == catalog.DLQHeaderReplayCount:
			count, _ = strconv.Atoi(string(h.Value))
		case h.Key == HeaderReplayedFrom, failureHeaders[h.Key]:
		default:
			out.Headers = append(out.Headers, h)
		}
	}
	if target == "" {
		return nil, 0, fmt.Errorf("%s/%d offset %d has no %s header: not a dead-lettered message", dlqTopic, r.Partition, r.Offset, catalog.DLQHeaderTopic)
	}
	if strings.HasPrefix(target, "dlq.") {
		return nil, 0, fmt.Errorf("%s/%d offset %d names DLQ topic %s as its origin; refusing to replay into a DLQ", dlqTopic, r.Partition, r.Offset, target)
	}
	out.Topic = kcfg.Topic(target)
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: catalog.DLQHeaderReplayCount, Value: []byte(strconv.Itoa(count + 1))},
		kgo.RecordHeader{Key: HeaderReplayedFrom, Value: []byte(source(dlqTopic, r))})
	return out, count + 1, nil
}

func source(dlqTopic string, r *kgo.Record) string {
	return fmt.Sprintf("%s/%d/%d", dlqTopic, r.Partition, r.Offset)
}

// Replay puts the selected DLQ messages back on their original topics.
// Messages already replayed (a record with the same key and
// dlq-replayed-from on the target since the message was dead-lettered) are
// skipped, so running it twice replays once.
func Replay(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, o ReplayOptions) ([]Outcome, error) {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	adm := kadm.NewClient(cl)
	phys := kcfg.Topic(o.Topic)
	spans, err := opsenv.Partitions(ctx, adm, phys)
	if err != nil {
		return nil, err
	}
	var recs []*kgo.Record
	if o.All {
		err = opsenv.Scan(ctx, kcfg, o.Timeout, phys, spans, func(r *kgo.Record) bool { recs = append(recs, r); return true })
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
		rec, count, err := ReplayRecord(kcfg, o.Topic, r)
		if err != nil {
			out = append(out, Outcome{Source: src, Key: string(r.Key), Action: "skipped", Reason: err.Error()})
			continue
		}
		oc := Outcome{Source: src, Key: string(r.Key), Target: kcfg.Logical(rec.Topic), ReplayCount: count}
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
// target topic, from just before r was dead-lettered to the end.
func alreadyReplayed(ctx context.Context, adm *kadm.Client, kcfg kafka.Config, timeout time.Duration, target string, r *kgo.Record, src string) (*kgo.Record, error) {
	since := r.Timestamp.Add(-time.Minute).UnixMilli()
	starts, err := adm.ListOffsetsAfterMilli(ctx, since, target)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, target)
	if err != nil {
		return nil, err
	}
	spans := map[int32]opsenv.Span{}
	var ferr error
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			ferr = fmt.Errorf("topic %s: %w", target, e.Err)
			return
		}
		from := e.Offset
		if s, ok := starts.Lookup(target, e.Partition); ok && s.Err == nil && s.Offset >= 0 && s.Offset < from {
			from = s.Offset
		}
		spans[e.Partition] = opsenv.Span{From: from, To: e.Offset}
	})
	if ferr != nil {
		return nil, ferr
	}
	var found *kgo.Record
	err = opsenv.Scan(ctx, kcfg, timeout, target, spans, func(t *kgo.Record) bool {
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

func replay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	fs := opsenv.NewFlagSet("dlq replay", `Usage: isthmus dlq replay <service|dlq topic> (--offset N | --all) [--partition P] [--dry-run] [flags]
Puts dead-lettered messages back on their original topic (header dlq-original-topic) with their
original key, value and headers, dlq-replay-count + 1 and dlq-replayed-from=<dlq topic>/<partition>/<offset>.
A message that was already replayed is skipped, so running the command twice replays once.
Fix the cause first (deploy the fix, correct the master data), then replay.`, stderr)
	env.Flags(fs)
	offset := fs.Int64("offset", -1, "offset of the message to replay")
	partition := fs.Int("partition", 0, "partition of the message")
	all := fs.Bool("all", false, "replay every message of the DLQ topic")
	dry := fs.Bool("dry-run", false, "print what would be replayed without producing")
	pos, err := env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("want exactly one DLQ topic or service name (see --help)")
	}
	topic, err := TopicOf(pos[0])
	if err != nil {
		return err
	}
	if (*offset >= 0) == *all {
		return errors.New("give exactly one of --offset N and --all")
	}
	cl, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	outs, err := Replay(ctx, cl, env.Kafka(), ReplayOptions{Topic: topic, Partition: int32(*partition), Offset: *offset, All: *all, DryRun: *dry, Timeout: env.Timeout, Progress: stderr})
	if env.JSON() {
		if outs == nil {
			outs = []Outcome{}
		}
		if werr := opsenv.WriteJSON(stdout, outs); werr != nil {
			return werr
		}
	} else {
		counts := map[string]int{}
		for _, o := range outs {
			counts[o.Action]++
			switch o.Action {
			case "replayed":
				fmt.Fprintf(stdout, "replayed          %s -> %s/%d offset %d (replay %d)\n", o.Source, o.Target, o.Partition, o.Offset, o.ReplayCount)
			case "would-replay":
				fmt.Fprintf(stdout, "would replay      %s -> %s key=%s (replay %d)\n", o.Source, o.Target, o.Key, o.ReplayCount)
			default:
				fmt.Fprintf(stdout, "%-17s %s: %s\n", o.Action, o.Source, o.Reason)
			}
		}
		fmt.Fprintf(stdout, "%d replayed, %d would replay, %d already replayed, %d skipped\n", counts["replayed"], counts["would-replay"], counts["already-replayed"], counts["skipped"])
	}
	if err != nil {
		return env.ClusterErr(err)
	}
	return nil
}
