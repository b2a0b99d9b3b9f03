package schemas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/isthmus/isthmus/pkg/catalog"
)

// catalogAtRef loads the catalog as it was at a git ref, reading the files
// with `git show REF:<dir>/...`. It returns nil, nil when the ref has no
// catalog (no earlier commit with schemas).
func catalogAtRef(ctx context.Context, dir, ref string) (*catalog.Catalog, error) {
	if dir == "" {
		dir = "schemas"
	}
	top, err := git(ctx, "", "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("--against %s: not in a git repository: %v", ref, err)
	}
	root := strings.TrimSpace(string(top))
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("--against %s: catalog %s is outside the repository %s", ref, dir, root)
	}
	rel = filepath.ToSlash(rel)
	if _, err := git(ctx, root, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
		return nil, fmt.Errorf("--against %s: unknown git ref", ref)
	}
	list, err := git(ctx, root, "ls-tree", "-r", "--name-only", ref, "--", rel+"/")
	if err != nil {
		return nil, fmt.Errorf("--against %s: git ls-tree: %v", ref, err)
	}
	files := fstest.MapFS{}
	for _, name := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		if name == "" {
			continue
		}
		data, err := git(ctx, root, "show", ref+":"+name)
		if err != nil {
			return nil, fmt.Errorf("--against %s: git show %s: %v", ref, name, err)
		}
		files[strings.TrimPrefix(name, rel+"/")] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	if _, err := fs.Stat(files, catalog.FileName); err != nil {
		return nil, nil
	}
	cat, err := catalog.LoadFS(files)
	if err != nil {
		return nil, fmt.Errorf("--against %s: the catalog at that ref does not load: %v", ref, err)
	}
	return cat, nil
}

func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && stderr.Len() > 0 {
			return nil, errors.New(strings.TrimSpace(stderr.String()))
		}
		return nil, err
	}
	return out, nil
}
