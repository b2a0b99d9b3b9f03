package billingbridge

import (
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/processor"
)

// Releases before the timer stores kept both indexes in the contracts
// store, under keys that sort before every contract id:
//
//	"\x00held\x00" + contract id                   → {"since": …, "flows": {seq: flow}}
//	"\x00release\x00" + YYYY-MM-DD + "\x00" + contract id → 1
//
// migrateIndexes moves what such a release left into the timer stores on
// the first tick of each partition, so a gap exception still due or a
// journal still scheduled is not forgotten across the upgrade. Afterwards
// no key of the store starts with NUL (reservedContractID keeps it so), and
// the scan stops at the first contract. It can go once every deployment
// has run a release with it.
const (
	legacyHeldPrefix    = "\x00held\x00"
	legacyReleasePrefix = "\x00release\x00"
)

// legacyHeld is a held-index entry of those releases.
type legacyHeld struct {
	Since time.Time       `json:"since"`
	Flows map[string]flow `json:"flows,omitempty"`
}

var legacyHeldStore = processor.NewStore(Store, processor.JSON[legacyHeld]())

func (h *Handler) migrateIndexes(m *processor.Message) error {
	var keys []string
	m.Range(Store, func(k string, _ []byte) bool {
		if !strings.HasPrefix(k, "\x00") {
			return false
		}
		keys = append(keys, k)
		return true
	})
	for _, k := range keys {
		var id string
		if rest, ok := strings.CutPrefix(k, legacyHeldPrefix); ok {
			id = rest
			ix, _, err := legacyHeldStore.Get(m, k)
			if err != nil {
				return err
			}
			flows, _, err := heldStore.Get(m, id)
			if err != nil {
				return err
			}
			if flows == nil {
				flows = map[string]flow{}
			}
			for seq, f := range ix.Flows {
				if _, ok := flows[seq]; !ok {
					flows[seq] = f
				}
			}
			if err := heldStore.Put(m, id, flows); err != nil {
				return err
			}
		} else if rest, ok := strings.CutPrefix(k, legacyReleasePrefix); ok {
			_, id, _ = strings.Cut(rest, "\x00")
		}
		m.Put(Store, k, nil)
		if id == "" {
			continue
		}
		s, err := load(m, id)
		if err != nil {
			return err
		}
		// The timers follow from the state (index drops the flows of deals
		// no longer waiting).
		if err := index(m, s, nil); err != nil {
			return err
		}
	}
	return nil
}
