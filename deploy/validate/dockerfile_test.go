package validate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerfile is one parsed Dockerfile.
type dockerfile struct {
	path   string
	stages []instructions.Stage
}

// parseDockerfile parses with BuildKit's parser and instruction decoder (what
// `docker build` runs first), with BuildKit's linter: any lint warning is an error.
func parseDockerfile(path string) (*dockerfile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	res, err := parser.Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, w := range res.Warnings {
		return nil, fmt.Errorf("%s: parser warning: %s", path, w.Short)
	}
	var lintWarnings []string
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		lintWarnings = append(lintWarnings, fmt.Sprintf("%s: %s", rule, msg))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(lintWarnings) > 0 {
		return nil, fmt.Errorf("%s: lint: %s", path, strings.Join(lintWarnings, "; "))
	}
	return &dockerfile{path: path, stages: stages}, nil
}

func TestDockerfileParserRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown instruction": "FROM scratch\nCOPPY a b\n",
		"unknown flag":        "FROM golang:1.26 AS b\nRUN --mnt=type=cache go build\n",
		"lint: casing":        "FROM golang:1.26 as b\nFROM scratch\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := parseDockerfile(p); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// TestDockerfiles: one Dockerfile per service and for the CLI; each a
// multi-stage build of a static binary into a shell-less runtime image that
// runs as a non-root user.
func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	entries, err := os.ReadDir(filepath.Join(root, "services"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if !slices.Equal(dirs, services) {
		t.Errorf("services/ holds %v; this check and the chart know %v", dirs, services)
	}
	type want struct {
		path, binary, pkg string
		ports             []string
	}
	wants := []want{{path: "cmd/isthmus/Dockerfile", binary: "isthmus", pkg: "./cmd/isthmus"}}
	for _, s := range services {
		ports := []string{"9464"} // the admin listener
		switch s {
		case "gateway":
			ports = append(ports, "9090", "8080")
		case "reconciler":
			ports = append(ports, "8088")
		}
		wants = append(wants, want{path: "services/" + s + "/Dockerfile", binary: s, pkg: "./services/" + s, ports: ports})
	}
	for _, w := range wants {
		t.Run(w.path, func(t *testing.T) {
			df, err := parseDockerfile(filepath.Join(root, w.path))
			if err != nil {
				t.Fatal(err)
			}
			if len(df.stages) < 2 {
				t.Fatalf("%d stages, want a build stage and a runtime stage", len(df.stages))
			}
			build, final := df.stages[0], df.stages[len(df.stages)-1]
			if !strings.HasPrefix(build.BaseName, "golang:") {
				t.Errorf("build stage FROM %s, want golang", build.BaseName)
			}
			if final.BaseName != "scratch" && !strings.Contains(final.BaseName, "distroless/static") {
				t.Errorf("runtime stage FROM %s, want scratch or distroless static", final.BaseName)
			}
			var cgoOff bool
			var runs []string
			for _, c := range build.Commands {
				switch x := c.(type) {
				case *instructions.EnvCommand:
					for _, kv := range x.Env {
						cgoOff = cgoOff || (kv.Key == "CGO_ENABLED" && kv.Value == "0")
					}
				case *instructions.RunCommand:
					runs = append(runs, strings.Join(x.CmdLine, " "))
				}
			}
			if !cgoOff {
				t.Error("build stage does not set CGO_ENABLED=0")
			}
			builds := map[string]bool{}
			for _, r := range runs {
				for _, part := range strings.Split(r, "&&") {
					f := strings.Fields(part)
					if len(f) < 2 || f[0] != "go" || f[1] != "build" {
						continue
					}
					if !slices.Contains(f, "-trimpath") {
						t.Errorf("%q lacks -trimpath", strings.TrimSpace(part))
					}
					builds[f[len(f)-1]] = true
				}
			}
			if !builds[w.pkg] {
				t.Errorf("no go build of %s (builds %v)", w.pkg, builds)
			}
			if w.binary != "isthmus" && !builds["./cmd/isthmus"] {
				t.Error("the isthmus CLI (the compose health check) is not built into the image")
			}
			var user string
			var entrypoint []string
			var exposed []string
			copied := map[string]bool{}
			for _, c := range final.Commands {
				switch x := c.(type) {
				case *instructions.UserCommand:
					user = x.User
				case *instructions.EntrypointCommand:
					if x.PrependShell {
						t.Errorf("ENTRYPOINT %v in shell form: the runtime image has no shell", x.CmdLine)
					}
					entrypoint = x.CmdLine
				case *instructions.ExposeCommand:
					exposed = append(exposed, x.Ports...)
				case *instructions.CopyCommand:
					copied[x.DestPath] = true
				case *instructions.RunCommand:
					t.Errorf("RUN %v in the runtime stage: it has no shell", x.CmdLine)
				}
			}
			uid := strings.SplitN(user, ":", 2)[0]
			if uid == "" || uid == "0" || uid == "root" {
				t.Errorf("USER %q, want a non-root user", user)
			}
			if !slices.Equal(entrypoint, []string{"/" + w.binary}) {
				t.Errorf("ENTRYPOINT %v, want [/%s]", entrypoint, w.binary)
			}
			if !copied["/"+w.binary] || (w.binary != "isthmus" && !copied["/isthmus"]) {
				t.Errorf("runtime stage copies %v", copied)
			}
			if !copied["/etc/ssl/certs/ca-certificates.crt"] && final.BaseName == "scratch" {
				t.Error("scratch image without CA certificates cannot verify TLS to Kafka or the registry")
			}
			slices.Sort(exposed)
			slices.Sort(w.ports)
			if !slices.Equal(exposed, w.ports) {
				t.Errorf("EXPOSE %v, want %v", exposed, w.ports)
			}
		})
	}
}

// TestDockerignore: the build context keeps what the Go workspace build needs
// and leaves out the rest.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	kept := []string{"go.work", "pkg/go.mod", "pkg/errs/errs.go", "cmd/isthmus/main.go", "schemas/topics.yaml"}
	for _, s := range services {
		kept = append(kept, "services/"+s+"/main.go", "services/"+s+"/go.mod")
	}
	for _, p := range kept {
		if ex, err := pm.MatchesOrParentMatches(p); err != nil || ex {
			t.Errorf("%s is excluded from the build context (err %v)", p, err)
		}
	}
	for _, p := range []string{".git/HEAD", ".cache/bin/helm", "deploy/validate/go.mod", "helm/isthmus/Chart.yaml", "bin/isthmus"} {
		if ex, err := pm.MatchesOrParentMatches(p); err != nil || !ex {
			t.Errorf("%s is sent in the build context (err %v)", p, err)
		}
	}
}
