package provision

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/isthmus/isthmus/pkg/catalog"
)

// LoadCatalog loads dir, else ./schemas when present, else the catalog
// built into the binary.
func LoadCatalog(dir string) (*catalog.Catalog, error) {
	if dir == "" {
		if _, err := os.Stat(filepath.Join("schemas", catalog.FileName)); err == nil {
			dir = "schemas"
		}
	}
	if dir == "" {
		return catalog.Embedded()
	}
	if _, err := os.Stat(filepath.Join(dir, catalog.FileName)); err != nil {
		return nil, fmt.Errorf("catalog: no %s in %s", catalog.FileName, dir)
	}
	return catalog.Load(dir)
}

// Select returns the named topics (logical names), or all of them when
// names is empty; an unknown name is an error naming it.
func Select(cat *catalog.Catalog, names []string) ([]*catalog.Topic, error) {
	if len(names) == 0 {
		return cat.Topics(), nil
	}
	var out []*catalog.Topic
	for _, n := range names {
		t, err := cat.Lookup(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// SelectAvro is Select restricted to topics with Avro values (the ones with
// a schema subject); naming a raw topic (a DLQ) is an error.
func SelectAvro(cat *catalog.Catalog, names []string) ([]*catalog.Topic, error) {
	topics, err := Select(cat, names)
	if err != nil {
		return nil, err
	}
	out := topics[:0:0]
	for _, t := range topics {
		if t.IsAvro() {
			out = append(out, t)
		} else if len(names) > 0 {
			return nil, fmt.Errorf("topic %s carries raw bytes and has no schema", t.Name)
		}
	}
	return out, nil
}
