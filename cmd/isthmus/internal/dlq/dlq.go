// Package dlq is `isthmus dlq list|show|replay`: inspect the dead-letter
// topics dlq.<service>.v1 and, through the operations API, put fixed
// messages on the retry topic of the service that dead-lettered them.
//
// Replay is idempotent (pkg/deadletter). Every replayed record carries the
// header dlq-replayed-from = "<dlq topic>/<partition>/<offset>" (logical
// topic name) and dlq-replay-count = previous count + 1. Before producing,
// replay reads the retry topic from the moment the message was
// dead-lettered and skips the message when a record with the same key and
// the same dlq-replayed-from is already there; so a message replayed twice
// is put back once. A message that fails again is dead-lettered anew (new
// DLQ offset, replay count carried) and can be replayed again after the
// next fix.
package dlq

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/deadletter"
	"github.com/isthmus/isthmus/pkg/kafka"
)

// verbs are the sub-verbs.
var verbs = cli.Dispatcher{Path: "isthmus dlq", Commands: []cli.Command{
	{Name: "list", Summary: "every dlq.<service>.v1 topic with its message count and newest messages", Run: list},
	{Name: "show", Summary: "<service|topic> --offset N [--partition P]: one message with all its headers (and its value decoded when possible)", Run: show},
	{Name: "replay", Summary: "<service|topic> (--offset N | --all) [--partition P] [--dry-run]: send messages to their service's retry topic (handled again as on their original topic) with provenance headers; a message already replayed is skipped", Run: replay},
}}

// Run dispatches the sub-verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return verbs.Run(ctx, args, stdout, stderr)
}

// Message is one DLQ record as the verbs print it.
type Message struct {
	Topic         string            `json:"topic"`
	Partition     int32             `json:"partition"`
	Offset        int64             `json:"offset"`
	Timestamp     time.Time         `json:"timestamp"`
	Key           string            `json:"key"`
	ValueBytes    int               `json:"value_bytes"`
	Value         string            `json:"value_base64,omitempty"`
	OriginalTopic string            `json:"original_topic"`
	Service       string            `json:"service,omitempty"`
	ErrorClass    string            `json:"error_class,omitempty"`
	ErrorReason   string            `json:"error_reason,omitempty"`
	ErrorMessage  string            `json:"error_message,omitempty"`
	FailedAt      string            `json:"failed_at,omitempty"`
	ReplayCount   int               `json:"replay_count"`
	Headers       []Header          `json:"headers,omitempty"`
	Decoded       any               `json:"decoded,omitempty"`
	DecodeError   string            `json:"decode_error,omitempty"`
	headerMap     map[string]string `json:"-"`
}

// Header is one record header.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func toMessage(kcfg kafka.Config, r *kgo.Record, full bool) Message {
	m := Message{Topic: kcfg.Logical(r.Topic), Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(),
		Key: string(r.Key), ValueBytes: len(r.Value), headerMap: map[string]string{}}
	for _, h := range r.Headers {
		m.headerMap[h.Key] = string(h.Value)
		if full {
			m.Headers = append(m.Headers, Header{h.Key, string(h.Value)})
		}
	}
	if full {
		m.Value = base64.StdEncoding.EncodeToString(r.Value)
	}
	h := m.headerMap
	m.OriginalTopic, m.Service, m.ErrorClass, m.ErrorReason = h[catalog.DLQHeaderTopic], h[catalog.DLQHeaderService], h[catalog.DLQHeaderErrorClass], h[catalog.DLQHeaderErrorReason]
	m.ErrorMessage, m.FailedAt = h[catalog.DLQHeaderErrorMessage], h[catalog.DLQHeaderFailedAt]
	m.ReplayCount, _ = strconv.Atoi(h[catalog.DLQHeaderReplayCount])
	return m
}

// Summary is one DLQ topic in `dlq list`.
type Summary struct {
	Topic    string    `json:"topic"`
	Messages int64     `json:"messages"`
	Newest   []Message `json:"newest"`
}

func list(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	fs := opsenv.NewFlagSet("dlq list", "Usage: isthmus dlq list [--newest N] [flags]\nLists every dead-letter topic dlq.<service>.v1 with its message count and newest messages.", stderr)
	env.Flags(fs)
	newest := fs.Int("newest", 3, "how many of the newest messages to show per topic")
	pos, err := env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", pos[0])
	}
	cl, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	sums, err := List(ctx, cl, env.Kafka(), env.Timeout, *newest, stderr)
	if err != nil {
		return env.ClusterErr(err)
	}
	if env.JSON() {
		return opsenv.WriteJSON(stdout, sums)
	}
	if len(sums) == 0 {
		fmt.Fprintln(stdout, "no dead-letter topics")
		return nil
	}
	for _, s := range sums {
		fmt.Fprintf(stdout, "%-34s %6d message(s)\n", s.Topic, s.Messages)
		for _, m := range s.Newest {
			fmt.Fprintf(stdout, "  %d/%-8d %s  from %s  key=%s  %s/%s: %s\n", m.Partition, m.Offset, m.Timestamp.Format(time.RFC3339),
				m.OriginalTopic, m.Key, m.ErrorClass, m.ErrorReason, clip(m.ErrorMessage, 100))
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// List counts the messages of every DLQ topic of the cluster (under the
// configured prefix) and returns the newest ones.
func List(ctx context.Context, cl *kgo.Client, kcfg kafka.Config, timeout time.Duration, newest int, progress io.Writer) ([]Summary, error) {
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, td := range tds.Sorted() {
		if !strings.HasPrefix(td.Topic, kcfg.TopicPrefix) {
			continue
		}
		if deadletter.IsTopic(kcfg.Logical(td.Topic)) {
			names = append(names, td.Topic)
		}
	}
	var out []Summary
	for _, t := range names {
		spans, err := kafka.Partitions(ctx, adm, t)
		if err != nil {
			return nil, err
		}
		s := Summary{Topic: kcfg.Logical(t), Newest: []Message{}}
		var recent []Message
		start := time.Now()
		err = kafka.Scan(ctx, kcfg, timeout, t, spans, func(r *kgo.Record) bool {
			s.Messages++
			recent = append(recent, toMessage(kcfg, r, false))
			if len(recent) > 4*newest+64 {
				recent = keepNewest(recent, newest)
			}
			if s.Messages%10000 == 0 && progress != nil {
				fmt.Fprintf(progress, "… %s: %d messages read (%s)\n", s.Topic, s.Messages, time.Since(start).Round(time.Second))
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		s.Newest = keepNewest(recent, newest)
		out = append(out, s)
	}
	return out, nil
}

func keepNewest(ms []Message, n int) []Message {
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Timestamp.After(ms[j].Timestamp) })
	if len(ms) > n {
		ms = ms[:n]
	}
	return append([]Message{}, ms...)
}

func show(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	fs := opsenv.NewFlagSet("dlq show", "Usage: isthmus dlq show <service|dlq topic> --offset N [--partition P] [flags]\nShows one dead-lettered message with every header and, when the registry knows its schema, its decoded value.", stderr)
	env.Flags(fs)
	offset := fs.Int64("offset", -1, "offset of the message (required)")
	partition := fs.Int("partition", 0, "partition of the message")
	pos, err := env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("want exactly one DLQ topic or service name (see --help)")
	}
	topic, err := deadletter.TopicOf(pos[0])
	if err != nil {
		return err
	}
	if *offset < 0 {
		return errors.New("--offset is required (see isthmus dlq list for offsets)")
	}
	cl, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := deadletter.Fetch(ctx, cl, env.Kafka(), env.Timeout, topic, int32(*partition), *offset)
	if err != nil {
		return env.ClusterErr(err)
	}
	m := toMessage(env.Kafka(), r, true)
	decode(ctx, &env, &m, r.Value)
	if env.JSON() {
		return opsenv.WriteJSON(stdout, m)
	}
	fmt.Fprintf(stdout, "%s/%d offset %d  (%s)\n", m.Topic, m.Partition, m.Offset, m.Timestamp.Format(time.RFC3339Nano))
	fmt.Fprintf(stdout, "key:    %s\nvalue:  %d bytes\n", m.Key, m.ValueBytes)
	fmt.Fprintln(stdout, "headers:")
	for _, h := range m.Headers {
		fmt.Fprintf(stdout, "  %-24s %s\n", h.Key, h.Value)
	}
	switch {
	case m.Decoded != nil:
		fmt.Fprintln(stdout, "decoded value:")
		_ = opsenv.WriteJSON(stdout, m.Decoded)
	case m.DecodeError != "":
		fmt.Fprintf(stdout, "value does not decode: %s\n", m.DecodeError)
	}
	return nil
}

func decode(ctx context.Context, env *opsenv.Env, m *Message, value []byte) {
	v, err := contracts.NewValue(m.OriginalTopic)
	if err != nil {
		m.DecodeError = err.Error()
		return
	}
	sd, err := env.Serde()
	if err != nil {
		m.DecodeError = err.Error()
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sd.Decode(dctx, value, v); err != nil {
		m.DecodeError = err.Error()
		return
	}
	m.Decoded = v
}
