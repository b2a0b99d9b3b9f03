// Package produce is `isthmus produce --topic T [--file F|-] [--dry-run]
// [--format json|avro-json]`: JSON lines in, Avro records out.
//
// Every non-blank line is one record value, in plain JSON shaped like the
// record or in the Avro JSON encoding (pkg/serde.ParseJSON). A line is
// checked against the topic's value schema from the catalog and keyed from
// the catalog's key_fields; a bad line is reported with its line number
// and is not produced. The good lines are encoded in the Confluent wire
// format with the schema id the registry has for that schema (the schema
// must be registered: `isthmus schemas apply`) and produced in one Kafka
// transaction (unless --transactional=false), so read_committed consumers
// see all of them or none. The default partitioner of franz-go hashes keys
// with murmur2 like Kafka's Java client, so every record lands on the
// partition its key maps to.
//
// --dry-run validates only: no cluster, no registry, nothing produced.
// --strict produces nothing when any line is bad.
package produce

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// LineError is one rejected input line.
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// Summary is what a run did.
type Summary struct {
	Topic    string      `json:"topic"`
	DryRun   bool        `json:"dry_run"`
	Lines    int         `json:"lines"`
	Valid    int         `json:"valid"`
	Produced int         `json:"produced"`
	Invalid  []LineError `json:"invalid"`
}

// Record is one valid line: its key and generic value.
type Record struct {
	Line          int
	Key           string
	Value         any
	CorrelationID string
}

// Options of one run.
type Options struct {
	Topic         string
	File          string
	Format        serde.JSONFormat
	DryRun        bool
	Strict        bool
	Transactional bool
}

// Run is the verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	fs := opsenv.NewFlagSet("produce", `Usage: isthmus produce --topic T [--file F|-] [--format json|avro-json] [--dry-run] [--strict] [flags]
Reads JSON lines (one record value per line) and produces them to a catalog topic, Avro-encoded in the
Confluent wire format with the topic's registered value schema and keyed from the catalog's key fields,
in one transaction. A bad line is reported as "line N: <reason>" and not produced; the exit status is 1
when any line was bad. --dry-run checks every line against the schema offline and produces nothing.`, stderr)
	env.Flags(fs)
	var o Options
	var format string
	fs.StringVar(&o.Topic, "topic", "", "catalog topic to produce to, without the prefix (required)")
	fs.StringVar(&o.File, "file", "-", "JSON lines file; - reads standard input")
	fs.StringVar(&format, "format", string(serde.JSONPlain), "json: plain JSON shaped like the record; avro-json: the Avro JSON encoding (unions wrapped)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "validate every line, produce nothing, need no cluster")
	fs.BoolVar(&o.Strict, "strict", false, "produce nothing when any line is bad")
	fs.BoolVar(&o.Transactional, "transactional", true, "produce in one transaction (false: idempotent producer only, for principals without transactional ACLs)")
	pos, err := env.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q (see --help)", cli.ErrUsage, pos[0])
	}
	if o.Topic == "" {
		return fmt.Errorf("%w: --topic is required (see --help)", cli.ErrUsage)
	}
	if o.Format, err = serde.ParseJSONFormat(format); err != nil {
		return fmt.Errorf("%w: --%v", cli.ErrUsage, err)
	}
	cat, err := catalog.Embedded()
	if err != nil {
		return err
	}
	topic, err := cat.Lookup(o.Topic)
	if err != nil {
		return fmt.Errorf("%w: --topic: %v", cli.ErrUsage, err)
	}
	if !topic.IsAvro() {
		return fmt.Errorf("%w: --topic %s carries raw bytes, not Avro records", cli.ErrUsage, topic.Name)
	}
	if len(topic.KeyFields) == 0 {
		return fmt.Errorf("%w: --topic %s: the catalog names no key fields (key: %s); produce it with the owning service", cli.ErrUsage, topic.Name, topic.Key)
	}
	in, err := open(o.File)
	if err != nil {
		return err
	}
	defer in.Close()

	recs, sum, err := Validate(topic, in, o.Format)
	if err != nil {
		return err
	}
	sum.DryRun = o.DryRun
	for _, e := range sum.Invalid {
		fmt.Fprintf(stderr, "line %d: %s\n", e.Line, e.Error)
	}
	if !o.DryRun && len(recs) > 0 && !(o.Strict && len(sum.Invalid) > 0) {
		if sum.Produced, err = send(ctx, &env, topic, recs, o.Transactional); err != nil {
			return err
		}
	}
	if env.JSON() {
		if err := opsenv.WriteJSON(stdout, sum); err != nil {
			return err
		}
	} else {
		verb := "produced"
		if o.DryRun {
			verb = "would produce"
		}
		n := sum.Produced
		if o.DryRun {
			n = sum.Valid
		}
		fmt.Fprintf(stdout, "%s: %d lines, %d valid, %d invalid; %s %d\n", topic.Name, sum.Lines, sum.Valid, len(sum.Invalid), verb, n)
	}
	if len(sum.Invalid) > 0 {
		lines := make([]string, 0, len(sum.Invalid))
		for _, e := range sum.Invalid {
			lines = append(lines, fmt.Sprint(e.Line))
		}
		return fmt.Errorf("%d of %d lines invalid (lines %s), not produced", len(sum.Invalid), sum.Lines, strings.Join(lines, ","))
	}
	return nil
}

func open(file string) (io.ReadCloser, error) {
	if file == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	return f, nil
}

// Validate reads JSON lines from r and checks each against the topic's
// value schema: the valid records, keyed, and a summary with every bad
// line. The error is only for a reader that fails.
func Validate(topic *catalog.Topic, r io.Reader, format serde.JSONFormat) ([]Record, Summary, error) {
	sum := Summary{Topic: topic.Name, Invalid: []LineError{}}
	var recs []Record
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, sum, fmt.Errorf("read line %d: %w", n, err)
		}
		if text := strings.TrimSpace(line); text != "" {
			sum.Lines++
			rec, verr := check(topic, []byte(text), format)
			if verr != nil {
				sum.Invalid = append(sum.Invalid, LineError{Line: n, Error: verr.Error()})
			} else {
				rec.Line = n
				recs = append(recs, rec)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	sum.Valid = len(recs)
	return recs, sum, nil
}

func check(topic *catalog.Topic, line []byte, format serde.JSONFormat) (Record, error) {
	v, err := serde.ParseJSON(topic.Schema, line, format)
	if err != nil {
		return Record{}, err
	}
	m, _ := v.(map[string]any)
	key, err := topic.KeyOf(m)
	if err != nil {
		return Record{}, err
	}
	// What the wire will carry must encode: catches what the JSON mapping
	// cannot (none known), before anything is sent.
	if _, err := avro.Marshal(topic.Schema, v); err != nil {
		return Record{}, fmt.Errorf("does not encode: %w", err)
	}
	rec := Record{Key: key, Value: v}
	if md, ok := m["metadata"].(map[string]any); ok {
		rec.CorrelationID, _ = md["correlation_id"].(string)
	}
	return rec, nil
}

// send encodes and produces the records, in one transaction when asked;
// on any failure nothing is committed and the error says so.
func send(ctx context.Context, env *opsenv.Env, topic *catalog.Topic, recs []Record, transactional bool) (int, error) {
	sd, err := env.Serde()
	if err != nil {
		return 0, err
	}
	phys := env.Kafka().Topic(topic.Name)
	out := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		b, err := sd.EncodeGeneric(ctx, phys, topic.Schema, r.Value)
		if err != nil {
			return 0, fmt.Errorf("line %d: %w (nothing produced)", r.Line, err)
		}
		kr := &kgo.Record{Topic: phys, Key: []byte(r.Key), Value: b}
		if r.CorrelationID != "" {
			kr.Headers = []kgo.RecordHeader{{Key: tracing.HeaderCorrelationID, Value: []byte(r.CorrelationID)}}
		}
		out = append(out, kr)
	}
	opts := []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
	if transactional {
		opts = append(opts, kgo.TransactionalID("isthmus-produce-"+topic.Name+"-"+randomID()), kgo.TransactionTimeout(time.Minute))
	}
	cl, err := env.Connect(ctx, opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if transactional {
		if err := cl.BeginTransaction(); err != nil {
			return 0, fmt.Errorf("begin transaction: %w", err)
		}
	}
	if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		if transactional {
			_ = cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort)
			return 0, fmt.Errorf("produce to %s: %w (transaction aborted, nothing produced)", phys, err)
		}
		return 0, fmt.Errorf("produce to %s: %w (some records may have been written)", phys, err)
	}
	if transactional {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return 0, fmt.Errorf("commit transaction: %w (nothing produced)", err)
		}
	}
	return len(out), nil
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
