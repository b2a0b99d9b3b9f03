package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Folder is the drop folder shared with the legacy ERP:
//
//	inbound/     the ERP's files for Isthmus (CUSTMAS_*, ORDSTAT_*)
//	outbound/    Isthmus' files for the ERP (CUSTREQ_*, ORDERS_*)
//	processed/   inbound files applied
//	quarantine/  inbound files refused, each with <name>.report.json
//
// Both sides write a file under a name starting with "." and rename it
// into place, so a file is never read half-written; such names are
// ignored.
type Folder struct{ Root string }

// The folder's parts.
func (f Folder) Inbound() string    { return filepath.Join(f.Root, "inbound") }
func (f Folder) Outbound() string   { return filepath.Join(f.Root, "outbound") }
func (f Folder) Processed() string  { return filepath.Join(f.Root, "processed") }
func (f Folder) Quarantine() string { return filepath.Join(f.Root, "quarantine") }

// Ensure creates the folder's parts.
func (f Folder) Ensure() error {
	for _, d := range []string{f.Inbound(), f.Outbound(), f.Processed(), f.Quarantine()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("legacy drop folder: %w", err)
		}
	}
	return nil
}

// List is the complete files of dir, by name.
func List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// WriteAtomic writes data as dir/name: a temporary file, synced, renamed.
func WriteAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// Move renames src to dst (same file system) and syncs dst's folder.
func Move(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
