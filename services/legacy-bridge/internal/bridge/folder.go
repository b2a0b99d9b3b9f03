package bridge

import (
	"fmt"
	"os"
	"path/filepath"
)

// Folder is the drop folder shared with the legacy ERP:
//
//	inbound/     the ERP's files for Isthmus (CUSTMAS_*, ORDSTAT_*)
//	outbound/    Isthmus' files for the ERP (CUSTREQ_*, ORDERS_*)
//	processed/   inbound files applied
//	quarantine/  inbound files refused, each with <name>.report.json
//
// Files are read and written with the drop folder's convention
// (legacyfile.List, WriteAtomic, Move).
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

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
