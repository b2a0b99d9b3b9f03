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
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerfile is one parsed Dockerfile.
type dockerfile struct {
	path   string
	args   []instructions.ArgCommand // the global ARGs, before the first FROM
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
	stages, args, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(lintWarnings) > 0 {
		return nil, fmt.Errorf("%s: lint: %s", path, strings.Join(lintWarnings, "; "))
	}
	return &dockerfile{path: path, args: args, stages: stages}, nil
}

// env is the value of every ARG the instructions see: the build arguments
// given, else the ARG's default.
func (d *dockerfile) env(decls []instructions.ArgCommand, buildArgs map[string]string) map[string]string {
	env := map[string]string{}
	for _, a := range decls {
		for _, kv := range a.Args {
			switch v, ok := buildArgs[kv.Key]; {
			case ok:
				env[kv.Key] = v
			case kv.Value != nil:
				env[kv.Key] = *kv.Value
			}
		}
	}
	return env
}

func expand(word string, env map[string]string) (string, error) {
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	out, _, err := shell.NewLex('\\').ProcessWord(word, shell.EnvsFromSlice(kv))
	return out, err
}

func (d *dockerfile) stage(name string) (instructions.Stage, bool) {
	for _, st := range d.stages {
		if st.Name != "" && st.Name == name {
			return st, true
		}
	}
	return instructions.Stage{}, false
}

// image is what the Dockerfile builds for some build arguments, resolved as
// BuildKit resolves it: the last stage's FROM expanded with the global ARGs,
// then each stage's base stage, down to the image the first one starts FROM.
type image struct {
	stages     []string // the stages it is made of, its base first
	from       string   // the image the first of them starts FROM
	user       string
	entrypoint []string
	exposed    []string
	copied     map[string]string // destination -> "stage:source"
	owner      map[string]string // destination -> the COPY's --chown, when set
}

func (d *dockerfile) image(buildArgs map[string]string) (*image, error) {
	global := d.env(d.args, buildArgs)
	var chain []instructions.Stage
	st := d.stages[len(d.stages)-1]
	for {
		chain = append([]instructions.Stage{st}, chain...)
		base, err := expand(st.BaseName, global)
		if err != nil {
			return nil, err
		}
		next, ok := d.stage(base)
		if !ok {
			break
		}
		if len(chain) > len(d.stages) {
			return nil, fmt.Errorf("stage %s: FROM loop", st.Name)
		}
		st = next
	}
	img := &image{copied: map[string]string{}, owner: map[string]string{}}
	img.from, _ = expand(chain[0].BaseName, global)
	for _, st := range chain {
		img.stages = append(img.stages, st.Name)
		var decls []instructions.ArgCommand
		for _, c := range st.Commands {
			switch x := c.(type) {
			case *instructions.ArgCommand:
				// A stage ARG without a default takes the global one.
				for _, kv := range x.Args {
					if kv.Value == nil {
						if v, ok := global[kv.Key]; ok {
							kv.Value = &v
						}
					}
					decls = append(decls, instructions.ArgCommand{Args: []instructions.KeyValuePairOptional{kv}})
				}
			case *instructions.UserCommand:
				img.user = x.User
			case *instructions.EntrypointCommand:
				if x.PrependShell {
					return nil, fmt.Errorf("ENTRYPOINT %v in shell form: the runtime image has no shell", x.CmdLine)
				}
				img.entrypoint = x.CmdLine
			case *instructions.ExposeCommand:
				img.exposed = append(img.exposed, x.Ports...)
			case *instructions.CopyCommand:
				env := d.env(decls, buildArgs)
				dst, err := expand(x.DestPath, env)
				if err != nil {
					return nil, err
				}
				for _, src := range x.SourcePaths {
					if src, err = expand(src, env); err != nil {
						return nil, err
					}
					img.copied[dst] = x.From + ":" + src
				}
				if x.Chown != "" {
					if img.owner[dst], err = expand(x.Chown, env); err != nil {
						return nil, err
					}
				}
			case *instructions.RunCommand:
				return nil, fmt.Errorf("stage %s: RUN %v in the runtime image: it has no shell", st.Name, x.CmdLine)
			}
		}
	}
	return img, nil
}

// programImage is the image the root Dockerfile builds with PROGRAM=program.
func programImage(t *testing.T, program string) *image {
	t.Helper()
	df, err := parseDockerfile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := df.image(map[string]string{"PROGRAM": program})
	if err != nil {
		t.Fatalf("PROGRAM=%s: %v", program, err)
	}
	return img
}

// built is what the stage named build compiles: every `go build` of its RUN
// instructions, checked for a static, reproducible binary, with its package
// patterns expanded against the repository (as the build's shell does) to
// package directories relative to root.
func (d *dockerfile) built(t *testing.T, root string) (out string, pkgs []string) {
	t.Helper()
	build, ok := d.stage("build")
	if !ok {
		t.Fatal("no stage named build")
	}
	if !strings.HasPrefix(build.BaseName, "golang:") {
		t.Errorf("build stage FROM %s, want golang", build.BaseName)
	}
	var cgoOff bool
	for _, c := range build.Commands {
		switch x := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range x.Env {
				cgoOff = cgoOff || (kv.Key == "CGO_ENABLED" && kv.Value == "0")
			}
		case *instructions.RunCommand:
			for _, part := range strings.Split(strings.Join(x.CmdLine, " "), "&&") {
				f := strings.Fields(part)
				if len(f) < 2 || f[0] != "go" || f[1] != "build" {
					continue
				}
				if !slices.Contains(f, "-trimpath") {
					t.Errorf("%q lacks -trimpath", strings.TrimSpace(part))
				}
				i := slices.Index(f, "-o")
				if i < 0 || i+1 >= len(f) || !strings.HasSuffix(f[i+1], "/") {
					t.Fatalf("%q does not build into an output directory (-o DIR/)", strings.TrimSpace(part))
				}
				out = f[i+1]
				for _, p := range f[i+2:] {
					dirs, err := filepath.Glob(filepath.Join(root, p))
					if err != nil || len(dirs) == 0 {
						t.Errorf("go build %s: no such package directory (err %v)", p, err)
					}
					for _, dir := range dirs {
						rel, _ := filepath.Rel(root, dir)
						pkgs = append(pkgs, filepath.ToSlash(rel))
					}
				}
			}
		}
	}
	if !cgoOff {
		t.Error("build stage does not set CGO_ENABLED=0")
	}
	return out, pkgs
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

// TestDockerfile: the one Dockerfile builds every image, the CLI and each
// service, by its PROGRAM build argument; each a multi-stage build of a static
// binary into a shell-less runtime image that runs as a non-root user, runs
// exactly that program and exposes exactly its ports.
func TestDockerfile(t *testing.T) {
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
	df, err := parseDockerfile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	out, built := df.built(t, root)

	type want struct {
		program, pkg string
		ports        []string
	}
	wants := []want{{program: "isthmus", pkg: "cmd/isthmus"}}
	for _, s := range services {
		ports := []string{"9464"} // the admin listener
		switch s {
		case "gateway":
			ports = append(ports, "9090", "8080")
		case "reconciler":
			ports = append(ports, "8088")
		}
		wants = append(wants, want{program: s, pkg: "services/" + s, ports: ports})
	}
	for _, w := range wants {
		t.Run(w.program, func(t *testing.T) {
			if !slices.Contains(built, w.pkg) {
				t.Errorf("no go build of ./%s (builds %v)", w.pkg, built)
			}
			if !slices.Contains(built, "cmd/isthmus") {
				t.Error("the isthmus CLI (the compose health check) is not built")
			}
			img, err := df.image(map[string]string{"PROGRAM": w.program})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(img.stages, "build") {
				t.Errorf("the image is made of the build stage (stages %v)", img.stages)
			}
			if img.from != "scratch" && !strings.Contains(img.from, "distroless/static") {
				t.Errorf("runtime image FROM %s, want scratch or distroless static", img.from)
			}
			uid := strings.SplitN(img.user, ":", 2)[0]
			if uid == "" || uid == "0" || uid == "root" {
				t.Errorf("USER %q, want a non-root user", img.user)
			}
			if !slices.Equal(img.entrypoint, []string{"/" + w.program}) {
				t.Errorf("ENTRYPOINT %v, want [/%s]", img.entrypoint, w.program)
			}
			for _, bin := range []string{w.program, "isthmus"} {
				if got, want := img.copied["/"+bin], "build:"+out+bin; got != want {
					t.Errorf("/%s is copied from %q, want %q (copies %v)", bin, got, want, img.copied)
				}
			}
			if _, ok := img.copied["/etc/ssl/certs/ca-certificates.crt"]; !ok && img.from == "scratch" {
				t.Error("scratch image without CA certificates cannot verify TLS to Kafka or the registry")
			}
			slices.Sort(img.exposed)
			slices.Sort(w.ports)
			if !slices.Equal(img.exposed, w.ports) {
				t.Errorf("EXPOSE %v, want %v", img.exposed, w.ports)
			}
		})
	}
	// The CLI image carries the catalog its provisioning verbs read.
	if img, err := df.image(map[string]string{"PROGRAM": "isthmus"}); err == nil && img.copied["/schemas"] != "build:/src/schemas" {
		t.Errorf("the CLI image copies %v, want the catalog at /schemas", img.copied)
	}
	// A PROGRAM that names no image fails the build.
	if img, err := df.image(map[string]string{"PROGRAM": "no-such-program"}); err == nil && len(img.entrypoint) > 0 {
		t.Errorf("PROGRAM=no-such-program builds an image running %v", img.entrypoint)
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
