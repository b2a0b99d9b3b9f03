// Package schemaregistry is a development schema registry: it speaks the
// subset of the Confluent Schema Registry REST API that serializers,
// deserializers and operators use (subjects, versions, schemas by id,
// config, compatibility, mode) and, unlike franz-go's srfake, enforces each
// subject's compatibility mode with pkg/compat, refusing an incompatible
// registration with HTTP 409 and Confluent's error body.
//
// Schema ids are global and stable: the same schema (compared after JSON
// normalisation, so whitespace and key order do not matter) gets the same id
// in every subject. Only AVRO schemas without references are accepted.
// State is in memory, optionally persisted to a JSON file after every change.
package schemaregistry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/compat"
)

// Option configures a Registry.
type Option interface{ apply(*Registry) }

type optFunc func(*Registry)

func (f optFunc) apply(r *Registry) { f(r) }

// DataFile persists the registry to path (JSON) after every change and loads
// it at start when it exists. Default: in memory only.
func DataFile(path string) Option { return optFunc(func(r *Registry) { r.dataFile = path }) }

// BasicAuth requires HTTP basic authentication. Default: no authentication.
func BasicAuth(user, password string) Option {
	return optFunc(func(r *Registry) { r.user, r.password = user, password })
}

// BearerToken requires "Authorization: Bearer <token>". Default: no
// authentication. With BasicAuth too, either is accepted.
func BearerToken(token string) Option { return optFunc(func(r *Registry) { r.token = token }) }

// DefaultCompatibility sets the global compatibility level. Default: BACKWARD,
// as in Confluent's registry.
func DefaultCompatibility(m compat.Mode) Option { return optFunc(func(r *Registry) { r.global = m }) }

// Logger receives one line per refused registration and persistence
// failures. Default: discard.
func Logger(l *slog.Logger) Option { return optFunc(func(r *Registry) { r.log = l }) }

// Registry is the in-memory registry; it is an http.Handler.
type Registry struct {
	dataFile       string
	user, password string
	token          string
	log            *slog.Logger
	checker        *compat.Checker
	mux            *http.ServeMux

	mu       sync.Mutex
	global   compat.Mode
	nextID   int
	schemas  map[int]*schemaRec
	byKey    map[string]int
	subjects map[string]*subjectRec
}

type schemaRec struct {
	id     int
	text   string
	parsed avro.Schema
}

type versionRec struct {
	Version int  `json:"version"`
	ID      int  `json:"id"`
	Deleted bool `json:"deleted,omitempty"`
}

type subjectRec struct {
	Versions      []versionRec `json:"versions"`
	Compatibility compat.Mode  `json:"compatibility,omitempty"`
}

func (s *subjectRec) live() []versionRec {
	var out []versionRec
	for _, v := range s.Versions {
		if !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

func (s *subjectRec) find(version int, deleted bool) (versionRec, bool) {
	for _, v := range s.Versions {
		if v.Version == version && (deleted || !v.Deleted) {
			return v, true
		}
	}
	return versionRec{}, false
}

// New returns a registry, loading the data file when one is configured and
// present.
func New(opts ...Option) (*Registry, error) {
	r := &Registry{
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		checker:  compat.NewChecker(),
		global:   compat.Backward,
		nextID:   1,
		schemas:  map[int]*schemaRec{},
		byKey:    map[string]int{},
		subjects: map[string]*subjectRec{},
	}
	for _, o := range opts {
		o.apply(r)
	}
	if _, err := compat.ParseMode(string(r.global)); err != nil {
		return nil, err
	}
	if r.dataFile != "" {
		if err := r.load(); err != nil {
			return nil, err
		}
	}
	r.routes()
	return r, nil
}

// identity is what makes two registrations "the same schema": the parsed
// schema rendered in hamba/avro's full JSON form (names fully qualified,
// docs, defaults, aliases and custom properties kept), with object keys
// sorted. Whitespace, key order and namespace spelling do not matter;
// anything a reader could observe does.
func identity(parsed avro.Schema, text string) string {
	full, err := json.Marshal(parsed)
	if err != nil {
		full = []byte(text)
	}
	var v any
	if err := json.Unmarshal(full, &v); err != nil {
		return strings.TrimSpace(text)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return strings.TrimSpace(text)
	}
	return strings.TrimSpace(buf.String())
}

// apiError is an error with Confluent's status and error code.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errSubjectNotFound(s string) error {
	return &apiError{http.StatusNotFound, 40401, fmt.Sprintf("Subject '%s' not found.", s)}
}

func errVersionNotFound(s string, v any) error {
	return &apiError{http.StatusNotFound, 40402, fmt.Sprintf("Version %v not found.", v)}
}

func errSchemaNotFound(msg string) error {
	return &apiError{http.StatusNotFound, 40403, msg}
}

func errInvalidSchema(err error) error {
	return &apiError{http.StatusUnprocessableEntity, 42201, "Invalid schema: " + err.Error()}
}

// parseSchema validates a registration body.
func parseSchema(text, typ string, refs int) (avro.Schema, error) {
	if typ != "" && !strings.EqualFold(typ, "AVRO") {
		return nil, errInvalidSchema(fmt.Errorf("schema type %s is not supported by the development registry (AVRO only)", typ))
	}
	if refs > 0 {
		return nil, errInvalidSchema(errors.New("schema references are not supported by the development registry"))
	}
	if strings.TrimSpace(text) == "" {
		return nil, &apiError{http.StatusUnprocessableEntity, 42201, "Invalid schema: empty schema"}
	}
	s, err := compat.Parse(text)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	return s, nil
}

// level returns the effective compatibility of a subject. Caller holds mu.
func (r *Registry) level(subject string) compat.Mode {
	if s, ok := r.subjects[subject]; ok && s.Compatibility != "" {
		return s.Compatibility
	}
	return r.global
}

// Register adds text to subject and returns its global id. The same schema
// registered again returns the id it already has; a schema the subject's
// compatibility refuses fails with a *compat.Error wrapped in a 409.
func (r *Registry) Register(subject, text, typ string, refs int) (int, error) {
	parsed, err := parseSchema(text, typ, refs)
	if err != nil {
		return 0, err
	}
	key := identity(parsed, text)
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := r.subjects[subject]
	if id, ok := r.byKey[key]; ok && sub != nil {
		for _, v := range sub.live() {
			if v.ID == id {
				return id, nil
			}
		}
	}
	if sub != nil {
		var existing []compat.Version
		for _, v := range sub.live() {
			existing = append(existing, compat.Version{Version: v.Version, Schema: r.schemas[v.ID].parsed})
		}
		if err := r.checker.Check(subject, r.level(subject), parsed, existing); err != nil {
			r.log.Info("refused incompatible schema", "subject", subject, "error", err)
			return 0, &apiError{http.StatusConflict, 409, fmt.Sprintf("Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, err.Error())}
		}
	}
	id, ok := r.byKey[key]
	if !ok {
		id = r.nextID
		r.nextID++
		r.schemas[id] = &schemaRec{id: id, text: text, parsed: parsed}
		r.byKey[key] = id
	}
	if sub == nil {
		sub = &subjectRec{}
		r.subjects[subject] = sub
	}
	next := 1
	for _, v := range sub.Versions {
		if v.Version >= next {
			next = v.Version + 1
		}
	}
	sub.Versions = append(sub.Versions, versionRec{Version: next, ID: id})
	return id, r.saveLocked()
}

// SubjectVersion is one version of a subject as the API returns it.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
}

// Lookup finds text among the live versions of subject.
func (r *Registry) Lookup(subject, text, typ string, refs int, deleted bool) (SubjectVersion, error) {
	parsed, err := parseSchema(text, typ, refs)
	if err != nil {
		return SubjectVersion{}, err
	}
	key := identity(parsed, text)
	r.mu.Lock()
	defer r.mu.Unlock()
	sub, ok := r.subjects[subject]
	if !ok || (len(sub.live()) == 0 && !deleted) {
		return SubjectVersion{}, errSubjectNotFound(subject)
	}
	id, ok := r.byKey[key]
	if ok {
		for i := len(sub.Versions) - 1; i >= 0; i-- {
			v := sub.Versions[i]
			if v.ID == id && (deleted || !v.Deleted) {
				return SubjectVersion{Subject: subject, Version: v.Version, ID: id, Schema: r.schemas[id].text}, nil
			}
		}
	}
	return SubjectVersion{}, errSchemaNotFound("Schema not found")
}

// version resolves "latest", "-1" or a number. Caller holds mu.
func (r *Registry) version(subject, v string, deleted bool) (SubjectVersion, error) {
	sub, ok := r.subjects[subject]
	if !ok || (len(sub.live()) == 0 && !deleted) {
		return SubjectVersion{}, errSubjectNotFound(subject)
	}
	var vr versionRec
	if v == "latest" || v == "-1" {
		live := sub.live()
		if deleted {
			live = sub.Versions
		}
		if len(live) == 0 {
			return SubjectVersion{}, errVersionNotFound(subject, v)
		}
		vr = live[len(live)-1]
	} else {
		n, err := parseVersion(v)
		if err != nil {
			return SubjectVersion{}, err
		}
		var ok bool
		if vr, ok = sub.find(n, deleted); !ok {
			return SubjectVersion{}, errVersionNotFound(subject, n)
		}
	}
	return SubjectVersion{Subject: subject, Version: vr.Version, ID: vr.ID, Schema: r.schemas[vr.ID].text}, nil
}

func parseVersion(v string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != v {
		return 0, &apiError{http.StatusUnprocessableEntity, 42202, fmt.Sprintf("The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)}
	}
	return n, nil
}

// CheckVersion reports whether text is compatible with one version of subject
// ("latest" or a number), or with every version the subject's mode requires
// when v is "".
func (r *Registry) CheckVersion(subject, v, text, typ string, refs int) (bool, []string, error) {
	parsed, err := parseSchema(text, typ, refs)
	if err != nil {
		return false, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sub, ok := r.subjects[subject]
	if !ok || len(sub.live()) == 0 {
		if v == "" {
			return true, []string{}, nil
		}
		return false, nil, errSubjectNotFound(subject)
	}
	mode := r.level(subject)
	var against []compat.Version
	if v == "" {
		for _, lv := range sub.live() {
			against = append(against, compat.Version{Version: lv.Version, Schema: r.schemas[lv.ID].parsed})
		}
	} else {
		sv, err := r.version(subject, v, false)
		if err != nil {
			return false, nil, err
		}
		against = []compat.Version{{Version: sv.Version, Schema: r.schemas[sv.ID].parsed}}
		mode = compat.Mode(strings.TrimSuffix(string(mode), "_TRANSITIVE"))
	}
	if err := r.checker.Check(subject, mode, parsed, against); err != nil {
		var ce *compat.Error
		if errors.As(err, &ce) {
			msgs := make([]string, len(ce.Violations))
			for i, v := range ce.Violations {
				msgs[i] = v.String()
			}
			return false, msgs, nil
		}
		return false, nil, err
	}
	return true, []string{}, nil
}

// Subjects lists subject names, sorted.
func (r *Registry) Subjects(deleted bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{}
	for name, s := range r.subjects {
		if deleted || len(s.live()) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// SchemaByID returns the text of schema id.
func (r *Registry) SchemaByID(id int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.schemas[id]
	if !ok {
		return "", errSchemaNotFound(fmt.Sprintf("Schema %d not found", id))
	}
	return s.text, nil
}

// usages lists (subject, version) pairs using id. Caller holds mu.
func (r *Registry) usages(id int, deleted bool) []SubjectVersion {
	var out []SubjectVersion
	for name, s := range r.subjects {
		for _, v := range s.Versions {
			if v.ID == id && (deleted || !v.Deleted) {
				out = append(out, SubjectVersion{Subject: name, Version: v.Version, ID: id})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// deleteSubject soft- or hard-deletes a subject and returns its versions.
func (r *Registry) deleteSubject(subject string, permanent bool) ([]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sub, ok := r.subjects[subject]
	if !ok {
		return nil, errSubjectNotFound(subject)
	}
	out := []int{}
	if permanent {
		if len(sub.live()) > 0 {
			return nil, &apiError{http.StatusNotFound, 40405, fmt.Sprintf("Subject '%s' was not deleted first before being permanently deleted", subject)}
		}
		for _, v := range sub.Versions {
			out = append(out, v.Version)
		}
		delete(r.subjects, subject)
		return out, r.saveLocked()
	}
	if len(sub.live()) == 0 {
		return nil, &apiError{http.StatusNotFound, 40404, fmt.Sprintf("Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)}
	}
	for i := range sub.Versions {
		if !sub.Versions[i].Deleted {
			sub.Versions[i].Deleted = true
			out = append(out, sub.Versions[i].Version)
		}
	}
	return out, r.saveLocked()
}

// deleteVersion soft- or hard-deletes one version.
func (r *Registry) deleteVersion(subject, v string, permanent bool) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sv, err := r.version(subject, v, permanent)
	if err != nil {
		return 0, err
	}
	sub := r.subjects[subject]
	for i, vr := range sub.Versions {
		if vr.Version != sv.Version {
			continue
		}
		if permanent {
			if !vr.Deleted {
				return 0, &apiError{http.StatusNotFound, 40407, fmt.Sprintf("Subject '%s' Version %d was not deleted first before being permanently deleted", subject, vr.Version)}
			}
			sub.Versions = append(sub.Versions[:i], sub.Versions[i+1:]...)
		} else {
			sub.Versions[i].Deleted = true
		}
		break
	}
	return sv.Version, r.saveLocked()
}

// persisted is the data file layout.
type persisted struct {
	Compatibility compat.Mode            `json:"compatibility"`
	NextID        int                    `json:"next_id"`
	Schemas       []persistedSchema      `json:"schemas"`
	Subjects      map[string]*subjectRec `json:"subjects"`
}

type persistedSchema struct {
	ID     int    `json:"id"`
	Schema string `json:"schema"`
}

func (r *Registry) load() error {
	b, err := os.ReadFile(r.dataFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("schema registry data file: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("schema registry data file %s: %w", r.dataFile, err)
	}
	for _, s := range p.Schemas {
		parsed, err := compat.Parse(s.Schema)
		if err != nil {
			return fmt.Errorf("schema registry data file %s: schema %d: %w", r.dataFile, s.ID, err)
		}
		r.schemas[s.ID] = &schemaRec{id: s.ID, text: s.Schema, parsed: parsed}
		r.byKey[identity(parsed, s.Schema)] = s.ID
		if s.ID >= r.nextID {
			r.nextID = s.ID + 1
		}
	}
	if p.NextID > r.nextID {
		r.nextID = p.NextID
	}
	for name, s := range p.Subjects {
		for _, v := range s.Versions {
			if _, ok := r.schemas[v.ID]; !ok {
				return fmt.Errorf("schema registry data file %s: subject %s version %d refers to unknown schema %d", r.dataFile, name, v.Version, v.ID)
			}
		}
		r.subjects[name] = s
	}
	if p.Compatibility != "" {
		r.global = p.Compatibility
	}
	return nil
}

// saveLocked writes the data file atomically. Caller holds mu.
func (r *Registry) saveLocked() error {
	if r.dataFile == "" {
		return nil
	}
	p := persisted{Compatibility: r.global, NextID: r.nextID, Subjects: r.subjects}
	for _, s := range r.schemas {
		p.Schemas = append(p.Schemas, persistedSchema{ID: s.id, Schema: s.text})
	}
	sort.Slice(p.Schemas, func(i, j int) bool { return p.Schemas[i].ID < p.Schemas[j].ID })
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.dataFile), ".registry-*.json")
	if err != nil {
		r.log.Error("persist schema registry", "error", err)
		return &apiError{http.StatusInternalServerError, 50001, "Error in the backend data store: " + err.Error()}
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Rename(tmp.Name(), r.dataFile)); err != nil {
		os.Remove(tmp.Name())
		r.log.Error("persist schema registry", "error", err)
		return &apiError{http.StatusInternalServerError, 50001, "Error in the backend data store: " + err.Error()}
	}
	return nil
}
