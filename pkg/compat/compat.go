// Package compat checks Avro schema evolution under the Confluent
// compatibility modes (BACKWARD, FORWARD, FULL, their _TRANSITIVE forms and
// NONE). Reader/writer pairs are judged by hamba/avro's SchemaCompatibility;
// when it refuses a pair, a path-tracking walk of the two schemas names the
// field that breaks, so every error says subject, versions and field.
package compat

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"
)

// Mode is a subject's compatibility level, spelled as the registry spells it.
type Mode string

// The modes of the Confluent schema registry.
const (
	None               Mode = "NONE"
	Backward           Mode = "BACKWARD"
	BackwardTransitive Mode = "BACKWARD_TRANSITIVE"
	Forward            Mode = "FORWARD"
	ForwardTransitive  Mode = "FORWARD_TRANSITIVE"
	Full               Mode = "FULL"
	FullTransitive     Mode = "FULL_TRANSITIVE"
)

// Modes lists every mode.
var Modes = []Mode{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// ParseMode reads a mode name (case-insensitive).
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.ToUpper(strings.TrimSpace(s)))
	for _, k := range Modes {
		if m == k {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown compatibility mode %q (want one of %s)", s, joinModes())
}

func joinModes() string {
	s := make([]string, len(Modes))
	for i, m := range Modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// Transitive reports whether the mode checks every earlier version rather
// than only the latest.
func (m Mode) Transitive() bool { return strings.HasSuffix(string(m), "_TRANSITIVE") }

// backward: the new schema reads data written with the old one.
func (m Mode) backward() bool {
	return strings.HasPrefix(string(m), "BACKWARD") || strings.HasPrefix(string(m), "FULL")
}

// forward: readers on the old schema read data written with the new one.
func (m Mode) forward() bool {
	return strings.HasPrefix(string(m), "FORWARD") || strings.HasPrefix(string(m), "FULL")
}

// Version is one registered (or released) version of a subject.
type Version struct {
	Version int
	// Label names the version in messages instead of "version N" (e.g. a
	// git ref: "main@3f2a1c0").
	Label  string
	Schema avro.Schema
}

func (v Version) name() string {
	if v.Label != "" {
		return v.Label
	}
	return fmt.Sprintf("version %d", v.Version)
}

// Direction says which side of a check failed.
type Direction string

const (
	// DirBackward: the new schema cannot read data written with the old version.
	DirBackward Direction = "backward"
	// DirForward: readers on the old version cannot read data written with the new schema.
	DirForward Direction = "forward"
)

// Violation is one broken reader/writer pair.
type Violation struct {
	Version   int       // the existing version the new schema clashes with
	Label     string    // its label, when it has one
	Direction Direction // which way reading fails
	Field     string    // dotted path of the field that breaks, "" for the root
	Reason    string    // what is wrong at that field
}

func (v Violation) String() string {
	name := Version{Version: v.Version, Label: v.Label}.name()
	where := "field " + v.Field
	if v.Field == "" {
		where = "the root schema"
	}
	var how string
	if v.Direction == DirBackward {
		how = "the new schema cannot read data written with " + name
	} else {
		how = "readers on " + name + " cannot read data written with the new schema"
	}
	return fmt.Sprintf("%s, %s: %s (%s)", name, where, v.Reason, how)
}

// Error is returned when a schema is not compatible with a subject's versions.
type Error struct {
	Subject    string
	Mode       Mode
	Violations []Violation
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return fmt.Sprintf("subject %s: new schema is not %s compatible: %s", e.Subject, e.Mode, strings.Join(parts, "; "))
}

// Versions returns the existing versions the new schema clashes with.
func (e *Error) Versions() []int {
	var out []int
	seen := map[int]bool{}
	for _, v := range e.Violations {
		if !seen[v.Version] {
			seen[v.Version] = true
			out = append(out, v.Version)
		}
	}
	sort.Ints(out)
	return out
}

// Checker checks schemas. It is safe for concurrent use.
//
// Every pair gets a fresh hamba/avro SchemaCompatibility: its cache is keyed
// by the parsing canonical form, which drops defaults and aliases, so a
// shared cache would judge "renamed with alias" by an earlier verdict on
// "renamed without alias".
type Checker struct{}

// NewChecker returns a Checker.
func NewChecker() *Checker { return &Checker{} }

// Check judges candidate against the existing versions of subject under
// mode. existing may be in any order; the latest is the highest version
// number. Non-transitive modes check the latest version only, transitive
// modes all of them. It returns nil or an *Error naming every clash.
func (c *Checker) Check(subject string, mode Mode, candidate avro.Schema, existing []Version) error {
	if mode == None || len(existing) == 0 {
		return nil
	}
	if _, err := ParseMode(string(mode)); err != nil {
		return err
	}
	vs := append([]Version(nil), existing...)
	sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
	if !mode.Transitive() {
		vs = vs[len(vs)-1:]
	}
	var out []Violation
	for _, v := range vs {
		if mode.backward() {
			if field, reason, bad := c.Pair(candidate, v.Schema); bad {
				out = append(out, Violation{Version: v.Version, Label: v.Label, Direction: DirBackward, Field: field, Reason: reason})
			}
		}
		if mode.forward() {
			if field, reason, bad := c.Pair(v.Schema, candidate); bad {
				out = append(out, Violation{Version: v.Version, Label: v.Label, Direction: DirForward, Field: field, Reason: reason})
			}
		}
	}
	if len(out) > 0 {
		return &Error{Subject: subject, Mode: mode, Violations: out}
	}
	return nil
}

// Pair reports whether data written with writer can be read with reader.
// hamba/avro decides; when it refuses, field is the dotted path of the
// field that breaks and reason says why.
func (c *Checker) Pair(reader, writer avro.Schema) (field, reason string, incompatible bool) {
	sc := avro.NewSchemaCompatibility()
	err := sc.Compatible(reader, writer)
	if err == nil {
		return "", "", false
	}
	w := walker{sc: sc, seen: map[[2][32]byte]bool{}}
	if f, r, ok := w.locate(reader, writer, ""); ok {
		return f, r, true
	}
	return "", err.Error(), true
}

type walker struct {
	sc   *avro.SchemaCompatibility
	seen map[[2][32]byte]bool
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// typeName is a short readable type: record/enum/fixed names, union branches.
func typeName(s avro.Schema) string {
	s = deref(s)
	switch t := s.(type) {
	case avro.NamedSchema:
		return string(s.Type()) + " " + t.FullName()
	case *avro.UnionSchema:
		names := make([]string, len(t.Types()))
		for i, b := range t.Types() {
			names[i] = typeName(b)
		}
		return "[" + strings.Join(names, ", ") + "]"
	case *avro.ArraySchema:
		return "array<" + typeName(t.Items()) + ">"
	case *avro.MapSchema:
		return "map<" + typeName(t.Values()) + ">"
	}
	if l, ok := s.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		return string(s.Type()) + "(" + string(l.Logical().Type()) + ")"
	}
	return string(s.Type())
}

// locate mirrors hamba/avro's rules and returns the first place where reader
// cannot read writer.
func (w *walker) locate(reader, writer avro.Schema, path string) (string, string, bool) {
	reader, writer = deref(reader), deref(writer)
	key := [2][32]byte{reader.Fingerprint(), writer.Fingerprint()}
	if w.seen[key] {
		return "", "", false
	}
	w.seen[key] = true
	if w.sc.Compatible(reader, writer) == nil {
		return "", "", false
	}

	if reader.Type() != writer.Type() {
		if wu, ok := writer.(*avro.UnionSchema); ok {
			for _, b := range wu.Types() {
				if w.sc.Compatible(reader, b) != nil {
					if deref(b).Type() == reader.Type() {
						if f, r, ok := w.locate(reader, b, path); ok {
							return f, r, true
						}
					}
					return path, fmt.Sprintf("union narrowed: writer union %s has branch %s that reader type %s cannot read", typeName(writer), typeName(b), typeName(reader)), true
				}
			}
		}
		if _, ok := reader.(*avro.UnionSchema); ok {
			return path, fmt.Sprintf("reader union %s has no branch for writer type %s (union narrowed?)", typeName(reader), typeName(writer)), true
		}
		return path, fmt.Sprintf("type changed: writer %s cannot be read as %s", typeName(writer), typeName(reader)), true
	}

	switch r := reader.(type) {
	case *avro.ArraySchema:
		return w.locate(r.Items(), writer.(*avro.ArraySchema).Items(), path+"[]")
	case *avro.MapSchema:
		return w.locate(r.Values(), writer.(*avro.MapSchema).Values(), path+"{}")
	case *avro.FixedSchema:
		wf := writer.(*avro.FixedSchema)
		if !sameName(r, wf) {
			return path, fmt.Sprintf("fixed renamed from %s to %s without an alias", wf.FullName(), r.FullName()), true
		}
		return path, fmt.Sprintf("fixed %s size changed from %d to %d", r.FullName(), wf.Size(), r.Size()), true
	case *avro.EnumSchema:
		we := writer.(*avro.EnumSchema)
		if !sameName(r, we) {
			return path, fmt.Sprintf("enum renamed from %s to %s without an alias", we.FullName(), r.FullName()), true
		}
		var missing []string
		for _, s := range we.Symbols() {
			if !contains(r.Symbols(), s) {
				missing = append(missing, s)
			}
		}
		return path, fmt.Sprintf("enum %s: reader lacks symbol(s) %s and has no enum default", r.FullName(), strings.Join(missing, ", ")), true
	case *avro.RecordSchema:
		wr := writer.(*avro.RecordSchema)
		if !sameName(r, wr) {
			return path, fmt.Sprintf("record renamed from %s to %s without an alias", wr.FullName(), r.FullName()), true
		}
		for _, rf := range r.Fields() {
			wf := findField(wr.Fields(), rf)
			if wf == nil {
				if rf.HasDefault() {
					continue
				}
				if len(rf.Aliases()) > 0 {
					return join(path, rf.Name()), fmt.Sprintf("reader field %s (aliases %s) has no counterpart in the writer and no default", rf.Name(), strings.Join(rf.Aliases(), ", ")), true
				}
				return join(path, rf.Name()), fmt.Sprintf("reader field %s is missing in the writer and has no default (added without default, removed, or renamed without alias)", rf.Name()), true
			}
			if f, reason, ok := w.locate(rf.Type(), wf.Type(), join(path, rf.Name())); ok {
				return f, reason, true
			}
		}
	case *avro.UnionSchema:
		for _, b := range writer.(*avro.UnionSchema).Types() {
			if w.sc.Compatible(reader, b) != nil {
				if f, reason, ok := w.locate(reader, b, path); ok {
					return f, reason, true
				}
				return path, fmt.Sprintf("reader union %s has no branch for writer type %s (union narrowed?)", typeName(reader), typeName(b)), true
			}
		}
	}
	return "", "", false
}

func sameName(r, w avro.NamedSchema) bool {
	return r.Name() == w.Name() || contains(r.Aliases(), w.FullName())
}

func findField(fields []*avro.Field, rf *avro.Field) *avro.Field {
	for _, f := range fields {
		if f.Name() == rf.Name() || contains(rf.Aliases(), f.Name()) {
			return f
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Parse parses schema text in isolation: named types are resolved only
// within the text itself, never from hamba/avro's process-wide cache, so two
// versions of one record can be parsed side by side.
func Parse(text string) (avro.Schema, error) {
	return avro.ParseWithCache(text, "", &avro.SchemaCache{})
}
