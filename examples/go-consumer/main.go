// Command go-consumer is an example analyst consumer of Isthmus streams in Go:
// franz-go for Kafka, the registry's REST API (franz-go's sr client) for
// writer schemas, hamba/avro to decode. It reads one or more topics from the
// beginning to their current end, read_committed, decodes every value with
// the schema id in its Confluent wire-format header, drops duplicates by
// metadata.event_id, keeps the latest value per key (a tombstone deletes it)
// and prints a JSON summary; --dump prints every decoded record as a JSON
// line first, --group-by FIELD counts the current values by a field.
//
// Usage:
//
//	go run . --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 \
//	    [--prefix P] --topic orders.lifecycle.v1 [--group-by state] [--dump]
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "go-consumer:", err)
		os.Exit(1)
	}
}

type options struct {
	bootstrap, registry, prefix, groupBy string
	topics                               []string
	dump                                 bool
	timeout                              time.Duration
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("go-consumer", flag.ContinueOnError)
	fs.StringVar(&o.bootstrap, "bootstrap", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&o.registry, "registry", "http://127.0.0.1:8081", "schema registry URL")
	fs.StringVar(&o.prefix, "prefix", "", "ISTHMUS_TOPIC_PREFIX of the deployment")
	fs.StringVar(&o.groupBy, "group-by", "", "count the current values by this top-level field")
	fs.BoolVar(&o.dump, "dump", false, "print every decoded record as a JSON line")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up reading after this long")
	fs.Func("topic", "topic to read, without the prefix (repeatable)", func(s string) error { o.topics = append(o.topics, s); return nil })
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if len(o.topics) == 0 {
		return o, errors.New("--topic is required")
	}
	return o, nil
}

// Record is one decoded Kafka record.
type Record struct {
	Topic     string         `json:"topic"`
	Partition int32          `json:"partition"`
	Offset    int64          `json:"offset"`
	Key       string         `json:"key"`
	SchemaID  uint32         `json:"schema_id,omitempty"`
	Value     map[string]any `json:"value"` // nil for a tombstone
}

// TopicSummary is what one topic held.
type TopicSummary struct {
	Records    int            `json:"records"`
	Tombstones int            `json:"tombstones"`
	Duplicates int            `json:"duplicates"`
	Keys       int            `json:"current_keys"`
	GroupBy    map[string]int `json:"group_by,omitempty"`
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	rc, err := sr.NewClient(sr.URLs(o.registry))
	if err != nil {
		return err
	}
	dec := newDecoder(rc)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	enc := json.NewEncoder(out)
	summary := map[string]*TopicSummary{}
	for _, t := range o.topics {
		recs, err := readAll(ctx, strings.Split(o.bootstrap, ","), o.prefix+t, dec)
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		if o.dump {
			for _, r := range recs {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
		summary[t] = summarize(recs, o.groupBy)
	}
	return enc.Encode(map[string]any{"topics": summary})
}

// summarize drops duplicates by metadata.event_id and keeps the latest value
// per key: records of one key are on one partition, in offset order.
func summarize(recs []Record, groupBy string) *TopicSummary {
	s := &TopicSummary{}
	seen := map[string]bool{}
	current := map[string]map[string]any{}
	for _, r := range recs {
		s.Records++
		if r.Value == nil {
			s.Tombstones++
			delete(current, r.Key)
			continue
		}
		if md, ok := r.Value["metadata"].(map[string]any); ok {
			id, _ := md["event_id"].(string)
			if seen[id] {
				s.Duplicates++
				continue
			}
			seen[id] = true
		}
		current[r.Key] = r.Value
	}
	s.Keys = len(current)
	if groupBy != "" {
		s.GroupBy = map[string]int{}
		for _, v := range current {
			s.GroupBy[fmt.Sprint(v[groupBy])]++
		}
	}
	return s
}

// readAll reads a topic from the start to the end offsets it had when
// reading began, read_committed, sorted by partition and offset.
func readAll(ctx context.Context, brokers []string, topic string, dec *decoder) ([]Record, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset > 0 {
			want[lo.Partition] = lo.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []Record
	last := map[int32]int64{}
	done := func(slack int64) bool {
		for p, end := range want {
			if l, ok := last[p]; !ok || l+1+slack < end {
				return false
			}
		}
		return true
	}
	for idle := 0; !done(0); {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read to the end: %w", err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = err
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		recs := fs.Records()
		for _, r := range recs {
			rec, err := dec.record(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("partition %d offset %d: %w", r.Partition, r.Offset, err)
			}
			out = append(out, rec)
			last[r.Partition] = r.Offset
		}
		if len(recs) > 0 {
			idle = 0
			continue
		}
		// Nothing more within 3 s: what is left below an end offset can
		// only be a transaction marker (or an aborted transaction).
		if idle++; done(1) || idle >= 2 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

// decoder decodes Confluent wire-format values with their writer schema.
type decoder struct {
	rc      *sr.Client
	schemas map[uint32]avro.Schema
}

func newDecoder(rc *sr.Client) *decoder { return &decoder{rc: rc, schemas: map[uint32]avro.Schema{}} }

func (d *decoder) record(ctx context.Context, r *kgo.Record) (Record, error) {
	out := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key)}
	if r.Value == nil {
		return out, nil
	}
	if len(r.Value) < 5 || r.Value[0] != 0 {
		return out, errors.New("not the Confluent wire format (magic byte 0 + 4-byte schema id)")
	}
	id := binary.BigEndian.Uint32(r.Value[1:5])
	schema, ok := d.schemas[id]
	if !ok {
		got, err := d.rc.SchemaByID(ctx, int(id))
		if err != nil {
			return out, fmt.Errorf("schema id %d: %w", id, err)
		}
		if schema, err = avro.Parse(got.Schema); err != nil {
			return out, fmt.Errorf("schema id %d: %w", id, err)
		}
		d.schemas[id] = schema
	}
	var v any
	if err := avro.Unmarshal(schema, r.Value[5:], &v); err != nil {
		return out, fmt.Errorf("decode with schema id %d: %w", id, err)
	}
	m, ok := plain(schema, v).(map[string]any)
	if !ok {
		return out, fmt.Errorf("schema id %d is not a record", id)
	}
	out.SchemaID, out.Value = id, m
	return out, nil
}

// plain turns hamba/avro's generic value into plain JSON-friendly values:
// unions unwrapped, timestamps as RFC 3339 strings, dates as YYYY-MM-DD.
func plain(s avro.Schema, v any) any {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if v == nil {
		return nil
	}
	switch s := s.(type) {
	case *avro.UnionSchema:
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for name, inner := range m {
				for _, b := range s.Types() {
					if n, ok := b.(avro.NamedSchema); ok && n.FullName() == name {
						return plain(b, inner)
					}
				}
			}
		}
		for _, b := range s.Types() {
			if b.Type() != avro.Null {
				return plain(b, v)
			}
		}
	case *avro.RecordSchema:
		m, _ := v.(map[string]any)
		out := make(map[string]any, len(m))
		for _, f := range s.Fields() {
			out[f.Name()] = plain(f.Type(), m[f.Name()])
		}
		return out
	case *avro.ArraySchema:
		arr, _ := v.([]any)
		out := make([]any, len(arr))
		for i, x := range arr {
			out[i] = plain(s.Items(), x)
		}
		return out
	case *avro.MapSchema:
		m, _ := v.(map[string]any)
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = plain(s.Values(), x)
		}
		return out
	case *avro.PrimitiveSchema:
		if t, ok := v.(time.Time); ok {
			if l := s.Logical(); l != nil && l.Type() == avro.Date {
				return t.Format(time.DateOnly)
			}
			return t.UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}
