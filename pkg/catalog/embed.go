package catalog

import (
	"embed"
	"io/fs"
	"sync"
)

// schemas/ here is a copy of the repository's schemas/ directory, refreshed
// by `make generate-contracts` (contractgen -embed); `make
// check-generated-contracts` and TestEmbeddedIsFresh fail when it is stale.
//
//go:embed schemas
var embedded embed.FS

var (
	embeddedOnce sync.Once
	embeddedCat  *Catalog
	embeddedErr  error
)

// EmbeddedFS is the schemas directory compiled into the binary.
func EmbeddedFS() fs.FS {
	sub, err := fs.Sub(embedded, "schemas")
	if err != nil {
		panic(err) // the directive above guarantees the directory
	}
	return sub
}

// Embedded returns the catalog compiled into the binary, loaded once.
func Embedded() (*Catalog, error) {
	embeddedOnce.Do(func() { embeddedCat, embeddedErr = LoadFS(EmbeddedFS()) })
	return embeddedCat, embeddedErr
}

// MustEmbedded is Embedded for program start-up; the embedded catalog is
// validated by this package's tests, so an error here is a build defect.
func MustEmbedded() *Catalog {
	c, err := Embedded()
	if err != nil {
		panic(err)
	}
	return c
}
