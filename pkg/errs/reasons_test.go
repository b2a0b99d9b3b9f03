package errs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// snake is the one casing of reasons.
var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// documented are the reasons whose spelling the DLQ header contract
// documents, kept as they are although not snake_case.
var documented = map[Reason]bool{ReasonUnknownSchemaID: true, ReasonBadMagic: true}

// TestReasonTable checks that every Reason constant declared in this
// package is in Reasons exactly once, and that each is snake_case (or a
// documented DLQ value).
func TestReasonTable(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The constants declared with type Reason, and the names the Reasons
	// table is written with.
	declared, tableNames := map[string]bool{}, map[string]int{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			vs, ok := s.(*ast.ValueSpec)
			if !ok {
				continue
			}
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Reason" && g.Tok == token.CONST {
				for _, n := range vs.Names {
					declared[n.Name] = true
				}
			}
			if g.Tok == token.VAR && len(vs.Names) == 1 && vs.Names[0].Name == "Reasons" {
				for _, e := range vs.Values[0].(*ast.CompositeLit).Elts {
					tableNames[e.(*ast.Ident).Name]++
				}
			}
		}
	}
	if len(declared) == 0 || len(tableNames) == 0 {
		t.Fatal("no Reason constant or no Reasons table found in reasons.go")
	}
	for n := range declared {
		if tableNames[n] != 1 {
			t.Errorf("%s is in the Reasons table %d times, want once", n, tableNames[n])
		}
	}
	for n := range tableNames {
		if !declared[n] {
			t.Errorf("Reasons lists %s, which is not a Reason constant", n)
		}
	}
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		if seen[r] {
			t.Errorf("two reason constants spell %q", r)
		}
		seen[r] = true
		if !snake.MatchString(string(r)) && !documented[r] {
			t.Errorf("reason %q is not snake_case", r)
		}
	}
	for r := range documented {
		if !seen[r] {
			t.Errorf("documented reason %q is not in the table", r)
		}
	}
	if len(Reasons) != len(declared) {
		t.Errorf("Reasons has %d entries, %d constants are declared", len(Reasons), len(declared))
	}
}

type code string

func (c code) String() string { return string(c) }

func TestGatewayStatus(t *testing.T) {
	if got := GatewayStatus(code("DeadlineExceeded")); got != "gateway_deadlineexceeded" || !snake.MatchString(string(got)) {
		t.Errorf("GatewayStatus(DeadlineExceeded) = %q", got)
	}
}

// constructors take a reason as their first argument.
var constructors = map[string]bool{"Retriable": true, "Retriablef": true, "Poison": true, "Poisonf": true, "Business": true}

// pendingLiterals are files that still pass string literals because another
// change owns them right now; each must still use reasons of the table,
// and the entry must go once the file has no literal left.
var pendingLiterals = map[string]bool{}

// TestNoLiteralReasons walks the repository's Go code (tests and generated
// code aside) and fails where a call of an errs constructor builds its
// reason from a string literal instead of a constant of the table.
func TestNoLiteralReasons(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Skipf("not in the repository (no go.work at %s)", root)
	}
	table := map[string]bool{}
	for _, r := range Reasons {
		table[string(r)] = true
	}
	const errsPath = "github.com/isthmus/isthmus/pkg/errs"
	calls, pendingSeen := 0, map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != "." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "_gen.go") || strings.HasSuffix(path, ".pb.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		name := ""
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == errsPath {
				name = "errs"
				if im.Name != nil {
					name = im.Name.Name
				}
			}
		}
		if name == "" {
			return nil
		}
		fset := token.NewFileSet()
		f, err = parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !constructors[sel.Sel.Name] {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != name {
				return true
			}
			calls++
			ast.Inspect(call.Args[0], func(a ast.Node) bool {
				lit, ok := a.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				v, _ := strconv.Unquote(lit.Value)
				switch {
				case pendingLiterals[rel] && table[v]:
					pendingSeen[rel] = true
				case pendingLiterals[rel]:
					t.Errorf("%s: errs.%s reason %q is not in the table", fset.Position(lit.Pos()), sel.Sel.Name, v)
				default:
					t.Errorf("%s: errs.%s is given the literal reason %s; use a constant of errs.Reasons", fset.Position(lit.Pos()), sel.Sel.Name, lit.Value)
				}
				return true
			})
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < 50 {
		t.Errorf("found only %d errs constructor calls: is the walk looking at the repository?", calls)
	}
	for f := range pendingLiterals {
		if !pendingSeen[f] {
			t.Errorf("%s passes no literal reason any more: drop it from pendingLiterals", f)
		}
	}
}
