// Package construct finds where the repository builds values of a given
// type with a composite literal. The packages that own a concern (pkg/event
// for event metadata, pkg/ops for operational exceptions) run it in a test,
// so a copy of the concern written elsewhere fails the build's tests.
package construct

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Site is one composite literal of the type looked for.
type Site struct {
	File string // relative to the repository root
	Line int
}

func (s Site) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Root is the repository root above dir: the first folder holding go.work.
func Root(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s", abs)
		}
	}
}

// Literals lists the non-empty composite literals of type pkgPath.typeName
// in the hand-written, non-test Go files under root (generated files, test
// files, testdata and hidden folders are skipped), except those in the
// folders of allowed (paths relative to root). An empty literal (the zero
// value, e.g. a decoding target) is not a construction.
func Literals(root, pkgPath, typeName string, allowed ...string) ([]Site, error) {
	var sites []Site
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		for _, a := range allowed {
			if filepath.Dir(rel) == filepath.Clean(a) {
				return nil
			}
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		local := importName(f, pkgPath)
		if local == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || len(lit.Elts) == 0 {
				return true
			}
			if sel, ok := lit.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == typeName {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
					sites = append(sites, Site{File: rel, Line: fset.Position(lit.Pos()).Line})
				}
			}
			return true
		})
		return nil
	})
	return sites, err
}

// importName is the name file f uses for the package pkgPath ("" when it
// does not import it).
func importName(f *ast.File, pkgPath string) string {
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p != pkgPath {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return p[strings.LastIndex(p, "/")+1:]
	}
	return ""
}
