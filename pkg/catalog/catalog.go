// Package catalog loads and validates the topic catalog (schemas/topics.yaml)
// and the Avro schemas it names. It is the one place that knows, for every
// topic: its key, its value record and standalone schema, partitions,
// cleanup policy, retention, compatibility mode, owner and PII fields.
//
// Topic value schemas refer to shared named types (schemas/common/*.avsc:
// EventMetadata, Money, Address, ...) by full name; the loader inlines them
// so every topic has a standalone schema (Topic.SchemaJSON) that keeps docs
// and the "pii" field property, ready to register under "<topic>-value".
//
// Binaries use Embedded, a copy of schemas/ compiled into this package
// (refreshed by `make generate-contracts`, checked by
// `make check-generated-contracts`).
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"gopkg.in/yaml.v3"

	"github.com/isthmus/isthmus/pkg/compat"
)

// FileName is the catalog file inside a schemas directory.
const FileName = "topics.yaml"

// CleanupPolicy is a topic's cleanup.policy.
type CleanupPolicy string

// Cleanup policies.
const (
	CleanupDelete        CleanupPolicy = "delete"
	CleanupCompact       CleanupPolicy = "compact"
	CleanupCompactDelete CleanupPolicy = "compact,delete"
)

// ValueFormat says how a topic's values are encoded.
type ValueFormat string

// Value formats.
const (
	// FormatAvro: Confluent wire format with the topic's registered schema.
	FormatAvro ValueFormat = "avro"
	// FormatRaw: opaque bytes (DLQ topics keep the original message bytes).
	FormatRaw ValueFormat = "raw"
)

// Topic is one catalog entry.
type Topic struct {
	Name        string
	Description string
	Owner       string
	Producers   []string // who writes; defaults to [Owner]
	Consumers   []string
	Public      bool
	Key         string // what the record key is
	// KeyFields are the value fields the key is made of, in order, joined
	// with "|" (dotted paths; a null trailing part is left out). Empty when
	// the key is not a plain function of the value (then producers set it).
	KeyFields     []string
	ValueFormat   ValueFormat
	ValueFile     string // schema file, relative to the schemas directory
	Record        string // full name of the value record
	Partitions    int32
	CleanupPolicy CleanupPolicy
	// Retention is retention.ms as a duration; Infinite (-1) when unlimited.
	Retention     time.Duration
	Compatibility compat.Mode
	PII           []string // dotted paths of the "pii" fields in the value
	Configs       map[string]string

	// Schema is the parsed standalone value schema (nil for raw topics).
	Schema avro.Schema
	// SchemaJSON is the standalone value schema as JSON, with docs and
	// custom properties, in the authors' key order (empty for raw topics).
	SchemaJSON string
}

// Infinite is the Retention of a topic that keeps data forever.
const Infinite time.Duration = -1

// Subject is the schema-registry subject of the value (TopicNameStrategy).
func (t *Topic) Subject() string { return t.Name + "-value" }

// IsAvro reports whether values are Avro (and have a schema).
func (t *Topic) IsAvro() bool { return t.ValueFormat == FormatAvro }

// IsDLQ reports whether the topic is a dead-letter queue.
func (t *Topic) IsDLQ() bool {
	_, ok := DLQService(t.Name)
	return ok
}

// RetentionMS is retention.ms (-1 for infinite).
func (t *Topic) RetentionMS() int64 {
	if t.Retention == Infinite {
		return -1
	}
	return t.Retention.Milliseconds()
}

// BrokerConfigs returns the topic configs to set on the broker:
// cleanup.policy, retention.ms and the catalog's extra configs.
func (t *Topic) BrokerConfigs() map[string]string {
	out := map[string]string{
		"cleanup.policy": string(t.CleanupPolicy),
		"retention.ms":   fmt.Sprint(t.RetentionMS()),
	}
	for k, v := range t.Configs {
		out[k] = v
	}
	return out
}

// Catalog is the loaded, validated topic catalog.
type Catalog struct {
	topics []*Topic // sorted by name
	byName map[string]*Topic
	// types are the shared named types by full name, as standalone JSON.
	types map[string]string
}

// Topics returns every topic, sorted by name.
func (c *Catalog) Topics() []*Topic { return append([]*Topic(nil), c.topics...) }

// Names returns every topic name, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, len(c.topics))
	for i, t := range c.topics {
		out[i] = t.Name
	}
	return out
}

// Topic looks a topic up by its logical name (no prefix).
func (c *Catalog) Topic(name string) (*Topic, bool) {
	t, ok := c.byName[name]
	return t, ok
}

// MustTopic is Topic for names known at compile time; it panics on an
// unknown name.
func (c *Catalog) MustTopic(name string) *Topic {
	t, ok := c.byName[name]
	if !ok {
		panic(fmt.Sprintf("catalog: unknown topic %q", name))
	}
	return t
}

// Lookup is Topic with an error naming the unknown topic.
func (c *Catalog) Lookup(name string) (*Topic, error) {
	if t, ok := c.byName[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("unknown topic %q (not in the catalog)", name)
}

// TypeNames returns the full names of the shared named types, sorted.
func (c *Catalog) TypeNames() []string {
	out := make([]string, 0, len(c.types))
	for n := range c.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TypeJSON returns the standalone JSON of a shared named type.
func (c *Catalog) TypeJSON(fullName string) (string, bool) {
	s, ok := c.types[fullName]
	return s, ok
}

// PIIFields returns the names (last path element) of every field marked
// "pii" in any topic, sorted and unique: what logs must mask.
func (c *Catalog) PIIFields() []string {
	set := map[string]bool{}
	for _, t := range c.topics {
		for _, p := range t.PII {
			set[p[strings.LastIndex(p, ".")+1:]] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Load reads and validates the catalog in dir (a schemas directory).
func Load(dir string) (*Catalog, error) {
	if _, err := os.Stat(path.Join(dir, FileName)); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c, err := LoadFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	return c, nil
}

// yamlCatalog is the file format.
type yamlCatalog struct {
	TypesDir string      `yaml:"types_dir"`
	Topics   []yamlTopic `yaml:"topics"`
}

type yamlTopic struct {
	Name          string            `yaml:"name"`
	Description   string            `yaml:"description"`
	Owner         string            `yaml:"owner"`
	Producers     []string          `yaml:"producers"`
	Consumers     []string          `yaml:"consumers"`
	Public        bool              `yaml:"public"`
	Key           string            `yaml:"key"`
	KeyFields     []string          `yaml:"key_fields"`
	ValueFormat   string            `yaml:"value_format"`
	Value         string            `yaml:"value"`
	Record        string            `yaml:"record"`
	Partitions    int32             `yaml:"partitions"`
	CleanupPolicy string            `yaml:"cleanup_policy"`
	Retention     string            `yaml:"retention"`
	Compatibility string            `yaml:"compatibility"`
	PII           []string          `yaml:"pii"`
	Configs       map[string]string `yaml:"configs"`
}

var topicName = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*\.v[0-9]+$`)

// LoadFS reads and validates the catalog at the root of fsys.
func LoadFS(fsys fs.FS) (*Catalog, error) {
	raw, err := fs.ReadFile(fsys, FileName)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	var yc yamlCatalog
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&yc); err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", FileName, err)
	}

	res, types, err := loadTypes(fsys, yc.TypesDir)
	if err != nil {
		return nil, err
	}
	c := &Catalog{byName: map[string]*Topic{}, types: types}

	var errs []error
	for i, yt := range yc.Topics {
		t, err := buildTopic(fsys, res, yt)
		if err != nil {
			name := yt.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			errs = append(errs, fmt.Errorf("catalog: topic %s: %w", name, err))
			continue
		}
		if _, dup := c.byName[t.Name]; dup {
			errs = append(errs, fmt.Errorf("catalog: topic %s: listed twice", t.Name))
			continue
		}
		c.byName[t.Name] = t
		c.topics = append(c.topics, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(c.topics) == 0 {
		return nil, fmt.Errorf("catalog: %s lists no topics", FileName)
	}
	sort.Slice(c.topics, func(i, j int) bool { return c.topics[i].Name < c.topics[j].Name })
	return c, nil
}

// loadTypes reads every shared named type in dir.
func loadTypes(fsys fs.FS, dir string) (*resolver, map[string]string, error) {
	res := &resolver{shared: map[string]*sharedType{}}
	types := map[string]string{}
	if dir == "" {
		return res, types, nil
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: types_dir: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".avsc") {
			continue
		}
		file := path.Join(dir, e.Name())
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, nil, fmt.Errorf("catalog: %w", err)
		}
		doc, err := decodeJSON(data)
		if err != nil {
			return nil, nil, fmt.Errorf("catalog: %s: invalid JSON: %w", file, err)
		}
		o, ok := doc.(*object)
		if !ok || !namedTypes[o.str("type")] {
			return nil, nil, fmt.Errorf("catalog: %s: a shared type must be a record, enum or fixed", file)
		}
		full, _ := nameOf(o, "")
		if !strings.Contains(full, ".") {
			return nil, nil, fmt.Errorf("catalog: %s: shared type %q needs a namespace", file, full)
		}
		if prev, dup := res.shared[full]; dup {
			return nil, nil, fmt.Errorf("catalog: %s: type %s already defined in %s", file, full, prev.file)
		}
		res.shared[full] = &sharedType{fullName: full, file: file, node: o}
	}
	// Every shared type must be standalone after resolution.
	for full, st := range res.shared {
		js, err := res.resolve(st.node)
		if err != nil {
			return nil, nil, fmt.Errorf("catalog: %s: %w", st.file, err)
		}
		s, err := avro.ParseWithCache(js, "", &avro.SchemaCache{})
		if err != nil {
			return nil, nil, fmt.Errorf("catalog: %s: %w", st.file, err)
		}
		if err := lintSchema(s, nil); err != nil {
			return nil, nil, fmt.Errorf("catalog: %s: %w", st.file, err)
		}
		types[full] = js
	}
	return res, types, nil
}

func buildTopic(fsys fs.FS, res *resolver, yt yamlTopic) (*Topic, error) {
	if !topicName.MatchString(yt.Name) {
		return nil, fmt.Errorf("invalid name %q: want lower-case dotted words ending in .v<N>", yt.Name)
	}
	t := &Topic{
		Name:        yt.Name,
		Description: strings.TrimSpace(yt.Description),
		Owner:       yt.Owner,
		Producers:   yt.Producers,
		Consumers:   yt.Consumers,
		Public:      yt.Public,
		Key:         yt.Key,
		ValueFile:   yt.Value,
		Record:      yt.Record,
		Partitions:  yt.Partitions,
		Configs:     yt.Configs,
		PII:         append([]string{}, yt.PII...),
	}
	switch {
	case t.Description == "":
		return nil, errors.New("description is required")
	case t.Owner == "":
		return nil, errors.New("owner is required")
	case t.Key == "":
		return nil, errors.New("key (what the record key is) is required")
	case t.Partitions <= 0:
		return nil, fmt.Errorf("partitions must be > 0, got %d", t.Partitions)
	}
	if len(t.Producers) == 0 {
		t.Producers = []string{t.Owner}
	}
	if t.Consumers == nil {
		t.Consumers = []string{}
	}

	switch CleanupPolicy(yt.CleanupPolicy) {
	case CleanupDelete, CleanupCompact, CleanupCompactDelete:
		t.CleanupPolicy = CleanupPolicy(yt.CleanupPolicy)
	default:
		return nil, fmt.Errorf("cleanup_policy %q: want delete, compact or compact,delete", yt.CleanupPolicy)
	}
	switch yt.Retention {
	case "":
		return nil, errors.New("retention is required (a duration such as 168h, or infinite)")
	case "infinite":
		t.Retention = Infinite
	default:
		d, err := time.ParseDuration(yt.Retention)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("retention %q: want a positive duration such as 168h, or infinite", yt.Retention)
		}
		t.Retention = d
	}

	switch ValueFormat(yt.ValueFormat) {
	case "", FormatAvro:
		t.ValueFormat = FormatAvro
	case FormatRaw:
		t.ValueFormat = FormatRaw
		if yt.Value != "" || yt.Record != "" || yt.Compatibility != "" || len(yt.PII) > 0 || len(yt.KeyFields) > 0 {
			return nil, errors.New("a raw topic has no value schema, record, compatibility, pii or key_fields")
		}
		return t, nil
	default:
		return nil, fmt.Errorf("value_format %q: want avro or raw", yt.ValueFormat)
	}

	mode, err := compat.ParseMode(yt.Compatibility)
	if err != nil {
		return nil, fmt.Errorf("compatibility: %w", err)
	}
	t.Compatibility = mode
	if yt.Value == "" || yt.Record == "" {
		return nil, errors.New("value (schema file) and record (full name) are required for avro topics")
	}
	data, err := fs.ReadFile(fsys, yt.Value)
	if err != nil {
		return nil, fmt.Errorf("value schema: %w", err)
	}
	doc, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %w", yt.Value, err)
	}
	js, err := res.resolve(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", yt.Value, err)
	}
	s, err := avro.ParseWithCache(js, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", yt.Value, err)
	}
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("%s: value schema must be a record, got %s", yt.Value, s.Type())
	}
	if rec.FullName() != yt.Record {
		return nil, fmt.Errorf("%s: defines %s, catalog says record %s", yt.Value, rec.FullName(), yt.Record)
	}
	if err := checkMetadata(rec); err != nil {
		return nil, fmt.Errorf("%s: %w", yt.Value, err)
	}
	var pii []string
	if err := lintSchema(rec, &pii); err != nil {
		return nil, fmt.Errorf("%s: %w", yt.Value, err)
	}
	if err := samePaths(pii, t.PII); err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	if err := checkKeyFields(rec, yt.KeyFields); err != nil {
		return nil, fmt.Errorf("key_fields: %w", err)
	}
	t.KeyFields = append([]string(nil), yt.KeyFields...)
	sort.Strings(t.PII)
	t.Schema = rec
	t.SchemaJSON = js
	return t, nil
}

// MetadataType is the full name of the metadata record every event carries.
const MetadataType = "isthmus.common.v1.EventMetadata"

func checkMetadata(rec *avro.RecordSchema) error {
	for _, f := range rec.Fields() {
		if f.Name() != "metadata" {
			continue
		}
		if n, ok := deref(f.Type()).(avro.NamedSchema); ok && n.FullName() == MetadataType {
			return nil
		}
		return fmt.Errorf("field metadata must be %s", MetadataType)
	}
	return fmt.Errorf("record %s has no field metadata (%s)", rec.FullName(), MetadataType)
}

func samePaths(fromSchema, fromCatalog []string) error {
	s := map[string]bool{}
	for _, p := range fromSchema {
		s[p] = true
	}
	c := map[string]bool{}
	for _, p := range fromCatalog {
		if c[p] {
			return fmt.Errorf("%s listed twice", p)
		}
		c[p] = true
	}
	var missing, extra []string
	for p := range s {
		if !c[p] {
			missing = append(missing, p)
		}
	}
	for p := range c {
		if !s[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	var msgs []string
	if len(missing) > 0 {
		msgs = append(msgs, fmt.Sprintf("fields marked \"pii\": true in the schema but not listed: %s", strings.Join(missing, ", ")))
	}
	if len(extra) > 0 {
		msgs = append(msgs, fmt.Sprintf("listed but not marked \"pii\": true in the schema: %s", strings.Join(extra, ", ")))
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}
