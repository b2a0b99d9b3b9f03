package deadletter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/kafka"
)

// HeaderReplayedFrom names the DLQ record a replayed record came from:
// "<logical dlq topic>/<partition>/<offset>".
const HeaderReplayedFrom = catalog.DLQHeaderReplayedFrom

// TopicOf turns "quote-to-order" or "dlq.quote-to-order.v1" into the
// logical DLQ topic.
func TopicOf(arg string) (string, error) {
	t := arg
	if !strings.HasPrefix(t, "dlq.") {
		t = catalog.DLQTopic(arg)
	}
	if !IsTopic(t) {
		return "", fmt.Errorf("%q is not a DLQ topic or service name (want dlq.<service>.v1 or <service>)", arg)
	}
	return t, nil
}

// Fetch returns the record at partition/offset of a logical DLQ topic.
func Fetch(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, timeout time.Duration, topic string, partition int32, offset int64) (*kgo.Record, error) {
	spans, err := kafka.Partitions(ctx, kadm.NewClient(cl), kcfg.Topic(topic))
	if err != nil {
		return nil, err
	}
	s, ok := spans[partition]
	if !ok {
		return nil, fmt.Errorf("%s has no partition %d", topic, partition)
	}
	if offset < s.From || offset >= s.To {
		return nil, fmt.Errorf("no message at %s/%d offset %d (partition holds offsets %d..%d)", topic, partition, offset, s.From, s.To-1)
	}
	var found *kgo.Record
	err = kafka.Scan(ctx, kcfg, timeout, kcfg.Topic(topic), map[int32]kafka.Span{partition: {From: offset, To: s.To}}, func(r *kgo.Record) bool {
		if r.Offset == offset {
			found = r
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("no message at %s/%d offset %d (a transaction marker or an aborted record)", topic, partition, offset)
	}
	return found, nil
}

// IsTopic reports whether a logical topic name is a DLQ topic dlq.<service>.v<N>.
func IsTopic(logical string) bool {
	_, ok := catalog.DLQService(logical)
	return ok
}
