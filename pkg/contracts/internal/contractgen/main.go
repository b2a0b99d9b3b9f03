// Command contractgen regenerates everything derived from schemas/:
//
//   - the embedded copy of schemas/ in pkg/catalog (so binaries work
//     without the source tree),
//   - pkg/contracts: Go types for every topic's value record and the shared
//     types, by hamba/avro's avrogen (one file per topic plus
//     common_gen.go), and registry_gen.go (topic name constants, enum
//     symbol constants, and the topic -> value constructor table).
//
// It is run by `make generate-contracts`; `make check-generated-contracts`
// runs it into a temporary directory and diffs.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/catalog"
)

// Initialisms shared by avrogen and the registry, so names agree.
var initialisms = []string{"ERP", "CRM", "SKU", "MDM"}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "contractgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("contractgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schemas := fs.String("schemas", "", "schemas directory (topics.yaml and .avsc files)")
	out := fs.String("out", "", "output directory for the Go contracts (package contracts)")
	embed := fs.String("embed", "", "directory to refresh with a copy of -schemas (pkg/catalog/schemas); empty to skip")
	avrogen := fs.String("avrogen", "avrogen", "avrogen binary (github.com/hamba/avro/v2/cmd/avrogen)")
	tmpl := fs.String("template", "", "avrogen template for topic files (pkg/contracts/internal/contractgen/avrogen.tmpl)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *schemas == "" || *out == "" || *tmpl == "" {
		return errors.New("-schemas, -out and -template are required")
	}
	cat, err := catalog.Load(*schemas)
	if err != nil {
		return err
	}
	if *embed != "" {
		if err := copyTree(*schemas, *embed); err != nil {
			return fmt.Errorf("embed copy: %w", err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// Remove generated files of topics that no longer exist.
	old, _ := filepath.Glob(filepath.Join(*out, "*_gen.go"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}

	tmp, err := os.MkdirTemp("", "contractgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	flags := []string{"-pkg", "contracts", "-encoders", "-fullschema", "-tags", "json:snake",
		"-initialisms", strings.Join(initialisms, ",")}

	// Shared types: one file, generated first in init order (c < t).
	var common []string
	for i, name := range cat.TypeNames() {
		js, _ := cat.TypeJSON(name)
		f := filepath.Join(tmp, fmt.Sprintf("common-%03d.avsc", i))
		if err := os.WriteFile(f, []byte(js), 0o644); err != nil {
			return err
		}
		common = append(common, f)
	}
	if len(common) > 0 {
		args := append(append([]string{}, flags...), "-o", filepath.Join(*out, "common_gen.go"))
		if err := runAvrogen(*avrogen, append(args, common...)); err != nil {
			return fmt.Errorf("shared types: %w", err)
		}
	}
	for _, t := range cat.Topics() {
		if !t.IsAvro() {
			continue
		}
		f := filepath.Join(tmp, t.Name+".avsc")
		if err := os.WriteFile(f, []byte(t.SchemaJSON), 0o644); err != nil {
			return err
		}
		args := append(append([]string{}, flags...), "-template-filename", *tmpl,
			"-o", filepath.Join(*out, FileName(t.Name)), f)
		if err := runAvrogen(*avrogen, args); err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
	}

	src, err := registry(cat)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "registry_gen.go"), src, 0o644)
}

// FileName is the generated Go file of a topic.
func FileName(topic string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "topic_" + r.Replace(topic) + "_gen.go"
}

func runAvrogen(bin string, args []string) error {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// goName turns an Avro name or symbol into a Go identifier the way avrogen
// does (Pascal case, with the shared initialisms upper-cased).
func goName(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		up := strings.ToUpper(w)
		switch {
		case up == "ID" || contains(initialisms, up):
			b.WriteString(up)
		case strings.ToUpper(w) == w || strings.ToLower(w) == w:
			b.WriteString(strings.ToUpper(w[:1]) + strings.ToLower(w[1:]))
		default: // already mixed case (a Pascal record name)
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

type enumInfo struct {
	GoName  string
	Full    string
	Doc     string
	Symbols []string
	Default string
}

func collectEnums(s avro.Schema, seen map[string]*enumInfo) {
	switch t := s.(type) {
	case *avro.RefSchema:
		collectEnums(t.Schema(), seen)
	case *avro.RecordSchema:
		if _, ok := seen[t.FullName()]; ok {
			return
		}
		seen[t.FullName()] = nil
		for _, f := range t.Fields() {
			collectEnums(f.Type(), seen)
		}
	case *avro.EnumSchema:
		if _, ok := seen[t.FullName()]; ok {
			return
		}
		seen[t.FullName()] = &enumInfo{GoName: goName(t.Name()), Full: t.FullName(), Doc: t.Doc(), Symbols: t.Symbols(), Default: t.Default()}
	case *avro.ArraySchema:
		collectEnums(t.Items(), seen)
	case *avro.MapSchema:
		collectEnums(t.Values(), seen)
	case *avro.UnionSchema:
		for _, e := range t.Types() {
			collectEnums(e, seen)
		}
	}
}

func registry(cat *catalog.Catalog) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by contractgen from schemas/. DO NOT EDIT.\n\npackage contracts\n\n")

	b.WriteString("// Topic names (logical; ISTHMUS_TOPIC_PREFIX is added at runtime).\nconst (\n")
	for _, t := range cat.Topics() {
		fmt.Fprintf(&b, "\t// Topic%s: %s\n\tTopic%s = %q\n", goName(t.Name), oneLine(t.Description), goName(t.Name), t.Name)
	}
	b.WriteString(")\n\n")

	seen := map[string]*enumInfo{}
	for _, t := range cat.Topics() {
		if t.Schema != nil {
			collectEnums(t.Schema, seen)
		}
	}
	var enums []*enumInfo
	byGo := map[string]string{}
	for _, e := range seen {
		if e == nil {
			continue
		}
		if prev, dup := byGo[e.GoName]; dup {
			return nil, fmt.Errorf("enums %s and %s have the same Go name %s", prev, e.Full, e.GoName)
		}
		byGo[e.GoName] = e.Full
		enums = append(enums, e)
	}
	sort.Slice(enums, func(i, j int) bool { return enums[i].GoName < enums[j].GoName })
	for _, e := range enums {
		fmt.Fprintf(&b, "// Symbols of enum %s (default %s): %s\nconst (\n", e.Full, e.Default, oneLine(e.Doc))
		for _, s := range e.Symbols {
			fmt.Fprintf(&b, "\t%s%s = %q\n", e.GoName, goName(s), s)
		}
		b.WriteString(")\n\n")
	}

	b.WriteString("// valueFactories makes an empty value of each Avro topic's record.\nvar valueFactories = map[string]func() Value{\n")
	for _, t := range cat.Topics() {
		if !t.IsAvro() {
			continue
		}
		fmt.Fprintf(&b, "\tTopic%s: func() Value { return &%s{} },\n", goName(t.Name), goName(t.Schema.(*avro.RecordSchema).Name()))
	}
	b.WriteString("}\n\n// rawTopics carry raw bytes (dead-letter queues).\nvar rawTopics = map[string]bool{\n")
	for _, t := range cat.Topics() {
		if !t.IsAvro() {
			fmt.Fprintf(&b, "\tTopic%s: true,\n", goName(t.Name))
		}
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format registry: %w\n%s", err, b.String())
	}
	return src, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// copyTree replaces dst with a copy of the regular files under src.
func copyTree(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
