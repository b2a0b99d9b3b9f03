package erp

import (
	"slices"
	"strings"
	"sync"
)

// Live is the part of the ERP configuration that people change while the
// ERP runs: trade compliance grants an export licence for a destination,
// finance configures tax for a region or country. It starts from the
// Rules' sets and is safe for concurrent use. An order decided after a
// change sees it: the "fix" an operator makes before retrying a rejected
// order (docs/erp-simulator.md, "Fixing a rejection").
type Live struct {
	mu               sync.RWMutex
	exportRestricted map[string]bool
	taxMissing       map[string]bool
}

// NewLive returns the live configuration starting from r's sets.
func NewLive(r Rules) *Live {
	return &Live{exportRestricted: clone(r.ExportRestricted), taxMissing: clone(r.TaxMissing)}
}

func clone(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		if v {
			out[k] = true
		}
	}
	return out
}

// GrantLicence lets lines ship to country (ISO 3166-1 alpha-2) again; it
// reports whether the country was restricted.
func (l *Live) GrantLicence(country string) bool {
	return l.set(&l.exportRestricted, country, false)
}

// RestrictExport makes country export-controlled; it reports whether that
// changed anything.
func (l *Live) RestrictExport(country string) bool {
	return l.set(&l.exportRestricted, country, true)
}

// ConfigureTax gives a region or country a tax configuration; it reports
// whether it was missing.
func (l *Live) ConfigureTax(code string) bool { return l.set(&l.taxMissing, code, false) }

// RemoveTax takes a region's or country's tax configuration away.
func (l *Live) RemoveTax(code string) bool { return l.set(&l.taxMissing, code, true) }

func (l *Live) set(m *map[string]bool, code string, on bool) bool {
	code = strings.ToUpper(strings.TrimSpace(code))
	l.mu.Lock()
	defer l.mu.Unlock()
	if (*m)[code] == on {
		return false
	}
	next := clone(*m) // copy on write: a decision in flight keeps its sets
	if on {
		next[code] = true
	} else {
		delete(next, code)
	}
	*m = next
	return true
}

// Apply returns r with the current sets.
func (l *Live) Apply(r Rules) Rules {
	l.mu.RLock()
	defer l.mu.RUnlock()
	r.ExportRestricted, r.TaxMissing = l.exportRestricted, l.taxMissing
	return r
}

// Snapshot lists the current sets, sorted.
func (l *Live) Snapshot() (exportRestricted, taxMissing []string) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	a, b := SortedKeys(l.exportRestricted), SortedKeys(l.taxMissing)
	return slices.Clip(a), slices.Clip(b)
}
