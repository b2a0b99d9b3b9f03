//go:build integration

package serde

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
)

// env is the real infrastructure: a Kafka broker, a schema registry and the
// Python venv with confluent-kafka (scripts/interop/venv.sh).
type env struct {
	brokers  []string
	registry string
	python   string
	scripts  string
	cl       *sr.Client
	kafka    *kgo.Client
	adm      *kadm.Client
	prefix   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{registry: os.Getenv("ISTHMUS_SCHEMA_REGISTRY_URL"), python: os.Getenv("ISTHMUS_PYTHON")}
	for _, b := range strings.Split(os.Getenv("ISTHMUS_KAFKA_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			e.brokers = append(e.brokers, b)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if e.python == "" {
		e.python = filepath.Join(root, ".venv", "bin", "python")
	}
	e.scripts = filepath.Join(root, "scripts", "interop")
	switch {
	case len(e.brokers) == 0:
		t.Fatal("ISTHMUS_KAFKA_BROKERS is not set (make infra-up)")
	case e.registry == "":
		t.Fatal("ISTHMUS_SCHEMA_REGISTRY_URL is not set (make infra-up)")
	}
	if _, err := os.Stat(e.python); err != nil {
		t.Fatalf("python peer %s: %v (run scripts/interop/venv.sh or set ISTHMUS_PYTHON)", e.python, err)
	}
	if e.cl, err = sr.NewClient(sr.URLs(e.registry)); err != nil {
		t.Fatal(err)
	}
	if e.kafka, err = kgo.NewClient(kgo.SeedBrokers(e.brokers...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.kafka.Close)
	e.adm = kadm.NewClient(e.kafka)
	e.prefix = fmt.Sprintf("interop-%d.", time.Now().UnixNano())
	return e
}

func (e *env) createTopic(t *testing.T, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := e.adm.CreateTopic(ctx, 1, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.adm.DeleteTopics(ctx, topic)
	})
}

func (e *env) registerText(t *testing.T, subject, text string) int {
	t.Helper()
	id, err := e.cl.RegisterSchema(context.Background(), subject, sr.Schema{Schema: text}, -1, -1)
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return id
}

func (e *env) produce(t *testing.T, topic, key string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.kafka.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// consume reads n records of topic, read_committed, from the start.
func (e *env) consume(t *testing.T, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %d of %d records before timeout", topic, len(out), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func (e *env) python3(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(e.python, append([]string{filepath.Join(e.scripts, script), "--bootstrap", strings.Join(e.brokers, ","), "--registry", e.registry}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	return stdout.String()
}

// jsonValue turns a hamba/avro generic value into the JSON conventions of
// scripts/interop/avro_json.py.
func jsonValue(schema avro.Schema, v any) any {
	if r, ok := schema.(*avro.RefSchema); ok {
		schema = r.Schema()
	}
	if v == nil {
		return nil
	}
	if u, ok := schema.(*avro.UnionSchema); ok {
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for name, inner := range m {
				for _, b := range u.Types() {
					if branchName(b) == name {
						return jsonValue(b, inner)
					}
				}
			}
		}
		for _, b := range u.Types() {
			if b.Type() != avro.Null {
				return jsonValue(b, v)
			}
		}
	}
	if l, ok := schema.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		switch l.Logical().Type() {
		case avro.TimestampMillis, avro.TimestampMicros:
			return v.(time.Time).UnixMilli()
		case avro.Date:
			return v.(time.Time).Format("2006-01-02")
		case avro.Decimal:
			return v.(*big.Rat).FloatString(l.Logical().(*avro.DecimalLogicalSchema).Scale())
		}
	}
	switch s := schema.(type) {
	case *avro.RecordSchema:
		m := v.(map[string]any)
		out := map[string]any{}
		for _, f := range s.Fields() {
			out[f.Name()] = jsonValue(f.Type(), m[f.Name()])
		}
		return out
	case *avro.ArraySchema:
		var out []any
		for _, x := range v.([]any) {
			out = append(out, jsonValue(s.Items(), x))
		}
		return out
	case *avro.MapSchema:
		out := map[string]any{}
		for k, x := range v.(map[string]any) {
			out[k] = jsonValue(s.Values(), x)
		}
		return out
	case *avro.FixedSchema:
		switch b := v.(type) {
		case []byte:
			return base64.StdEncoding.EncodeToString(b)
		default:
			return fmt.Sprint(b)
		}
	case *avro.PrimitiveSchema:
		if s.Type() == avro.Bytes {
			return base64.StdEncoding.EncodeToString(v.([]byte))
		}
	}
	return v
}

// expectedJSON is what the Python peer should print for an Avro body,
// normalised through encoding/json.
func expectedJSON(t *testing.T, schema avro.Schema, body []byte) any {
	t.Helper()
	var generic any
	if err := avro.Unmarshal(schema, body, &generic); err != nil {
		t.Fatal(err)
	}
	return normJSON(t, jsonValue(schema, generic))
}

func normJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPythonProducesCRMRecord: Confluent's AvroSerializer (no registration,
// latest version) writes a crm.account.v1 record; serde decodes it into the
// generated type field for field.
func TestPythonProducesCRMRecord(t *testing.T) {
	e := newEnv(t)
	cat := catalog.MustEmbedded()
	logical := contracts.TopicCRMAccountV1
	topic := e.prefix + logical
	e.createTopic(t, topic)
	id := e.registerText(t, Subject(topic), cat.MustTopic(logical).SchemaJSON)

	want := &contracts.Account{}
	if err := fillSample(want, 7); err != nil {
		t.Fatal(err)
	}
	body, err := avro.Marshal(want.Schema(), want)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "account.json")
	b, _ := json.Marshal(expectedJSON(t, want.Schema(), body))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e.python3(t, "produce_avro.py", "--topic", topic, "--key", want.AccountID, "--value-file", file)

	rec := e.consume(t, topic, 1)[0]
	if gotID, err := ID(rec.Value); err != nil || int(gotID) != id {
		t.Fatalf("payload schema id %d (%v), registered %d", gotID, err, id)
	}
	got := &contracts.Account{}
	if err := New(e.cl).Decode(context.Background(), rec.Value, got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Python-produced record decoded by Go (-want +got):\n%s", diff)
	}
	if string(rec.Key) != want.AccountID {
		t.Fatalf("key %q, want %q", rec.Key, want.AccountID)
	}
}

// TestGoProducesEveryPublicTopic: serde writes one record per public topic;
// Confluent's AvroDeserializer reads each and prints the same values.
func TestGoProducesEveryPublicTopic(t *testing.T) {
	e := newEnv(t)
	cat := catalog.MustEmbedded()
	s := New(e.cl)
	ctx := context.Background()
	expected := map[string]any{}
	var topics []string
	for i, tp := range cat.Topics() {
		if !tp.Public || !tp.IsAvro() {
			continue
		}
		topic := e.prefix + tp.Name
		e.createTopic(t, topic)
		e.registerText(t, Subject(topic), tp.SchemaJSON)
		v, err := contracts.NewValue(tp.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := fillSample(v, i+1); err != nil {
			t.Fatal(err)
		}
		data, err := s.Encode(ctx, topic, v)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		e.produce(t, topic, fmt.Sprintf("key-%d", i), data)
		expected[topic] = expectedJSON(t, v.Schema(), data[HeaderSize:])
		topics = append(topics, topic)
	}
	if len(topics) == 0 {
		t.Fatal("the catalog has no public Avro topic")
	}
	args := []string{"--count", fmt.Sprint(len(topics)), "--timeout", "120"}
	for _, tp := range topics {
		args = append(args, "--topic", tp)
	}
	out := e.python3(t, "consume_avro.py", args...)
	got := map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Topic string          `json:"topic"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("consume_avro output %q: %v", sc.Text(), err)
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(line.Value))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		got[line.Topic] = v
	}
	for _, tp := range topics {
		if diff := cmp.Diff(expected[tp], got[tp]); diff != "" {
			t.Errorf("%s as read by Confluent's AvroDeserializer (-go +python):\n%s", tp, diff)
		}
	}
}

// TestVersionOneDecodesAfterVersionTwo: a record written with version 1 of
// a subject still decodes into today's type after a compatible version 2 is
// registered, with a fresh Serde (nothing cached).
func TestVersionOneDecodesAfterVersionTwo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	topic := e.prefix + "evolve.v1"
	e.createTopic(t, topic)
	text1, _ := SchemaText(schemaV1)
	text2, _ := SchemaText(schemaV2)
	e.registerText(t, Subject(topic), text1)
	data, err := New(e.cl).Encode(ctx, topic, sample())
	if err != nil {
		t.Fatal(err)
	}
	e.produce(t, topic, "acc-42", data)
	e.registerText(t, Subject(topic), text2)
	if vs, err := e.cl.SubjectVersions(ctx, Subject(topic)); err != nil || len(vs) != 2 {
		t.Fatalf("versions %v %v", vs, err)
	}
	rec := e.consume(t, topic, 1)[0]
	var got AccountV2
	if err := New(e.cl).Decode(ctx, rec.Value, &got); err != nil {
		t.Fatal(err)
	}
	in := sample()
	want := AccountV2{ID: in.ID, Name: in.Name, Tier: in.Tier, CreditLimitMinor: in.CreditLimitMinor, Currency: in.Currency, Tags: in.Tags, TaxID: in.TaxID, Region: "EMEA"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("version 1 record as version 2 (-want +got):\n%s", diff)
	}
}

// TestRegistryRefusesIncompatibleWith409: the registry answers an
// incompatible registration with 409 and Confluent's error body.
func TestRegistryRefusesIncompatibleWith409(t *testing.T) {
	e := newEnv(t)
	subject := e.prefix + "refuse-value"
	text1, _ := SchemaText(schemaV1)
	e.registerText(t, subject, text1)
	bad := strings.Replace(text1, `{"name":"currency","type":"string"}`, `{"name":"currency","type":"int"}`, 1)
	if bad == text1 {
		t.Fatalf("could not break %s", text1)
	}
	body, _ := json.Marshal(map[string]string{"schema": bad})
	resp, err := http.Post(strings.TrimRight(e.registry, "/")+"/subjects/"+subject+"/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusConflict || got["error_code"] != float64(409) {
		t.Fatalf("status %d body %v", resp.StatusCode, got)
	}
	if msg, _ := got["message"].(string); !strings.Contains(msg, "incompatible") {
		t.Fatalf("message %q", msg)
	}
}
