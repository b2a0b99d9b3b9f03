// Package serde encodes and decodes Kafka record values in the Confluent
// wire format: magic byte 0, the schema id as 4 bytes big-endian, then the
// Avro binary body (hamba/avro).
//
// Encoding looks the value's schema up under the topic's subject
// (TopicNameStrategy, "<topic>-value") once, then caches the id. By default
// the schema must already be registered (`isthmus schemas apply` does that
// before services start): a service does not change contracts by deploying.
// AutoRegister lets development tools register on first use instead.
//
// Decoding fetches the writer schema by id once and caches it. When it
// differs from the reader schema (the Go type's Schema()), hamba/avro's
// schema resolution turns data written with any earlier compatible version
// into today's type; the resolved schema is cached per (id, reader schema).
//
// Errors are classified with pkg/errs (reasons errs.Reason*):
//
//	poison ReasonBadMagic            first byte is not 0
//	poison ReasonTruncated           fewer than 5 bytes
//	poison ReasonAvroDecode          body does not decode with the writer schema
//	poison ReasonUnknownSchemaID     the registry does not know the id (404)
//	poison ReasonSchemaIncompatible  the writer schema cannot be resolved into the reader type
//	poison ReasonAvroEncode          the value does not encode with its schema
//	retriable ReasonRegistryUnavailable  registry unreachable or 5xx
//	retriable ReasonSchemaNotRegistered  Encode in lookup-only mode: subject or schema missing
//	retriable ReasonSchemaRejected       AutoRegister refused by the registry (409/422)
//
// Encode-side registry failures are retriable: the record is fine, the
// deployment is not, and dead-lettering would lose good data.
package serde

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/errs"
)

// Record is a value that knows its Avro schema (every generated type in
// pkg/contracts).
type Record interface{ Schema() avro.Schema }

// Option configures a Serde.
type Option interface{ apply(*Serde) }

type optFunc func(*Serde)

func (f optFunc) apply(s *Serde) { f(s) }

// AutoRegister registers a value's schema under its subject on first use
// instead of only looking it up. Default: false (lookup only).
func AutoRegister(on bool) Option { return optFunc(func(s *Serde) { s.autoRegister = on }) }

// Subject is the TopicNameStrategy subject of a topic's values.
func Subject(topic string) string { return topic + "-value" }

// HeaderSize is the length of the wire-format prefix.
const HeaderSize = 5

// Serde encodes and decodes values; it is safe for concurrent use.
type Serde struct {
	cl           *sr.Client
	autoRegister bool
	api          avro.API

	// Read-mostly caches: copy-on-write maps behind atomic pointers, so the
	// hot path is a lock-free map read with no allocation.
	ids      atomic.Pointer[map[string][]schemaID] // topic → ids per schema
	writers  atomic.Pointer[map[uint32]avro.Schema]
	resolved atomic.Pointer[map[uint32][]resolvedSchema] // id → per reader
	mu       sync.Mutex                                  // serialises cache misses

	wpool sync.Pool // *avro.Writer
	rpool sync.Pool // *avro.Reader
}

type schemaID struct {
	schema avro.Schema
	id     uint32
}

// cachedID finds the id of schema under topic: a string-keyed map read
// and, usually, one pointer comparison.
func (s *Serde) cachedID(topic string, schema avro.Schema) (uint32, bool) {
	for _, e := range (*s.ids.Load())[topic] {
		if e.schema == schema {
			return e.id, true
		}
	}
	return 0, false
}

type resolvedSchema struct {
	reader avro.Schema
	schema avro.Schema // reader itself, or the writer resolved into it
}

func (s *Serde) cachedResolved(id uint32, reader avro.Schema) (avro.Schema, bool) {
	for _, e := range (*s.resolved.Load())[id] {
		if e.reader == reader {
			return e.schema, true
		}
	}
	return nil, false
}

// New returns a Serde over a schema registry client.
func New(client *sr.Client, opts ...Option) *Serde {
	s := &Serde{cl: client, api: avro.DefaultConfig}
	for _, o := range opts {
		o.apply(s)
	}
	s.ids.Store(&map[string][]schemaID{})
	s.writers.Store(&map[uint32]avro.Schema{})
	s.resolved.Store(&map[uint32][]resolvedSchema{})
	s.wpool.New = func() any { return avro.NewWriter(nil, 512, avro.WithWriterConfig(s.api)) }
	s.rpool.New = func() any { return avro.NewReader(nil, 0, avro.WithReaderConfig(s.api)) }
	return s
}

// Encode returns v in the wire format for topic (the physical topic name,
// prefix included), under the subject "<topic>-value".
func (s *Serde) Encode(ctx context.Context, topic string, v Record) ([]byte, error) {
	return s.EncodeGeneric(ctx, topic, v.Schema(), v)
}

// EncodeGeneric is Encode for a value that does not know its schema: a
// generated type or hamba/avro's generic form (map[string]any records, a
// union as a one-entry map keyed by its branch name, time.Time for
// timestamps and dates, *big.Rat for decimals).
func (s *Serde) EncodeGeneric(ctx context.Context, topic string, schema avro.Schema, v any) ([]byte, error) {
	id, ok := s.cachedID(topic, schema)
	if !ok {
		var err error
		if id, err = s.lookupID(ctx, topic, schema); err != nil {
			return nil, err
		}
	}
	w := s.wpool.Get().(*avro.Writer)
	defer s.wpool.Put(w)
	w.Reset(nil)
	w.Error = nil
	var hdr [HeaderSize]byte
	binary.BigEndian.PutUint32(hdr[1:], id)
	_, _ = w.Write(hdr[:])
	w.WriteVal(schema, v)
	if w.Error != nil {
		return nil, errs.Poison(errs.ReasonAvroEncode, fmt.Errorf("encode %s for %s: %w", schemaName(schema), topic, w.Error))
	}
	out := make([]byte, len(w.Buffer()))
	copy(out, w.Buffer())
	return out, nil
}

// SchemaText is the registered text of a schema: its full JSON form with
// docs, defaults, aliases and custom properties.
func SchemaText(schema avro.Schema) (string, error) {
	b, err := json.Marshal(schema)
	if err != nil {
		return "", fmt.Errorf("render schema %s: %w", schemaName(schema), err)
	}
	return string(b), nil
}

func schemaName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func (s *Serde) lookupID(ctx context.Context, topic string, schema avro.Schema) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.cachedID(topic, schema); ok {
		return id, nil
	}
	text, err := SchemaText(schema)
	if err != nil {
		return 0, errs.Poison(errs.ReasonAvroEncode, err)
	}
	subject := Subject(topic)
	var id int
	if s.autoRegister {
		id, err = s.cl.RegisterSchema(ctx, subject, sr.Schema{Schema: text, Type: sr.TypeAvro}, -1, -1)
		if err != nil {
			if re := responseError(err); re != nil && re.StatusCode < 500 {
				return 0, errs.Retriable(errs.ReasonSchemaRejected, fmt.Errorf("register %s under %s: %w", schemaName(schema), subject, err))
			}
			return 0, errs.Retriable(errs.ReasonRegistryUnavailable, fmt.Errorf("register %s under %s: %w", schemaName(schema), subject, err))
		}
	} else {
		ss, err := s.cl.LookupSchema(ctx, subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
		if err != nil {
			if re := responseError(err); re != nil && re.StatusCode == http.StatusNotFound {
				return 0, errs.Retriable(errs.ReasonSchemaNotRegistered, fmt.Errorf("schema %s is not registered under %s (run `isthmus schemas apply`): %w", schemaName(schema), subject, err))
			}
			return 0, errs.Retriable(errs.ReasonRegistryUnavailable, fmt.Errorf("look up %s under %s: %w", schemaName(schema), subject, err))
		}
		id = ss.ID
	}
	if id <= 0 || uint64(id) > uint64(^uint32(0)) {
		return 0, errs.Retriablef(errs.ReasonRegistryUnavailable, "registry returned invalid schema id %d for %s", id, subject)
	}
	old := *s.ids.Load()
	next := make(map[string][]schemaID, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[topic] = append(append([]schemaID(nil), old[topic]...), schemaID{schema, uint32(id)})
	s.ids.Store(&next)
	return uint32(id), nil
}

func responseError(err error) *sr.ResponseError {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// ID returns the schema id of a wire-format payload.
func ID(data []byte) (uint32, error) {
	if len(data) < HeaderSize {
		return 0, errs.Poisonf(errs.ReasonTruncated, "wire format: %d bytes, need at least %d", len(data), HeaderSize)
	}
	if data[0] != 0 {
		return 0, errs.Poisonf(errs.ReasonBadMagic, "wire format: magic byte %#x, want 0", data[0])
	}
	return binary.BigEndian.Uint32(data[1:HeaderSize]), nil
}

// Decode reads a wire-format payload into v (a pointer to a generated type),
// resolving the writer schema into v's schema when they differ.
func (s *Serde) Decode(ctx context.Context, data []byte, v Record) error {
	id, err := ID(data)
	if err != nil {
		return err
	}
	reader := v.Schema()
	schema, ok := s.cachedResolved(id, reader)
	if !ok {
		if schema, err = s.resolve(ctx, id, reader); err != nil {
			return err
		}
	}
	// A pooled Reader rather than api.Unmarshal: Unmarshal reports a body
	// that ends early (io.EOF) as success.
	r := s.rpool.Get().(*avro.Reader)
	defer s.rpool.Put(r)
	r.Reset(data[HeaderSize:])
	r.Error = nil
	r.ReadVal(schema, v)
	if err := r.Error; err != nil {
		r.Error = nil
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("body ends early: %w", err)
		}
		return errs.Poison(errs.ReasonAvroDecode, fmt.Errorf("decode schema id %d into %T: %w", id, v, err))
	}
	return nil
}

// WriterSchema returns the schema registered under id, fetched once.
func (s *Serde) WriterSchema(ctx context.Context, id uint32) (avro.Schema, error) {
	if w, ok := (*s.writers.Load())[id]; ok {
		return w, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writerLocked(ctx, id)
}

func (s *Serde) writerLocked(ctx context.Context, id uint32) (avro.Schema, error) {
	if w, ok := (*s.writers.Load())[id]; ok {
		return w, nil
	}
	got, err := s.cl.SchemaByID(ctx, int(id))
	if err != nil {
		// Only the registry's own "schema not found" (40403) is the
		// record's fault; any other 404 is a misrouted or broken registry.
		if re := responseError(err); re != nil && re.StatusCode == http.StatusNotFound && re.ErrorCode == 40403 {
			return nil, errs.Poison(errs.ReasonUnknownSchemaID, fmt.Errorf("schema id %d: %w", id, err))
		}
		return nil, errs.Retriable(errs.ReasonRegistryUnavailable, fmt.Errorf("fetch schema id %d: %w", id, err))
	}
	if got.Type != sr.TypeAvro {
		return nil, errs.Poisonf(errs.ReasonUnknownSchemaID, "schema id %d is %s, not AVRO", id, got.Type)
	}
	w, err := avro.ParseWithCache(got.Schema, "", &avro.SchemaCache{})
	if err != nil {
		return nil, errs.Poison(errs.ReasonUnknownSchemaID, fmt.Errorf("schema id %d does not parse: %w", id, err))
	}
	old := *s.writers.Load()
	next := make(map[uint32]avro.Schema, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[id] = w
	s.writers.Store(&next)
	return w, nil
}

func (s *Serde) resolve(ctx context.Context, id uint32, reader avro.Schema) (avro.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.cachedResolved(id, reader); ok {
		return r, nil
	}
	writer, err := s.writerLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	schema := reader
	if writer.Fingerprint() != reader.Fingerprint() {
		// A fresh SchemaCompatibility per pair: its cache is keyed by the
		// canonical form, which ignores defaults.
		if schema, err = avro.NewSchemaCompatibility().Resolve(reader, writer); err != nil {
			return nil, errs.Poison(errs.ReasonSchemaIncompatible, fmt.Errorf("schema id %d (%s) cannot be read as %s: %w", id, schemaName(writer), schemaName(reader), err))
		}
	}
	old := *s.resolved.Load()
	next := make(map[uint32][]resolvedSchema, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[id] = append(append([]resolvedSchema(nil), old[id]...), resolvedSchema{reader, schema})
	s.resolved.Store(&next)
	return schema, nil
}
