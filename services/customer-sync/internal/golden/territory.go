package golden

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/normalize"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/territory"
)

// Territories. With territory rules configured (Config.Territory), every
// golden record that changes gets its territory from the rules: its
// country, billing-address region, industry and employees. A territory
// that changes is audited, published on mdm.customer.v1 with the rules
// version, and pushed to every CRM account of the record
// (crm.account-updates.v1 territory) once. A new rules version re-assigns
// every record of a partition with that partition's next event (the
// version is kept in the state, keyTerritory): each record whose territory
// changed is pushed once.

// keyTerritory is the changelog key of the rules version the partition's
// records were assigned with.
const keyTerritory = "t/version"

// territoryLineage is the lineage of an assigned territory.
func territoryLineage(version string, at int64, event string) survivorship.Lineage {
	return survivorship.Lineage{System: "mdm", RecordID: "territory-rules/" + version, OccurredAt: at, EventID: event}
}

func facts(attrs func(Field) string) territory.Facts {
	f := territory.Facts{Country: attrs(survivorship.Country), Industry: attrs(survivorship.Industry)}
	if n, err := strconv.Atoi(strings.TrimSpace(attrs(survivorship.Employees))); err == nil {
		f.Employees = n
	}
	if a := attrs(survivorship.BillingAddress); a != "" {
		var addr struct {
			Region string `json:"region"`
		}
		if json.Unmarshal([]byte(a), &addr) == nil {
			f.Region = addr.Region
		}
	}
	return f
}

// territoryOf is the territory the rules give a lead's attributes.
func (s *State) territoryOf(attrs map[Field]string) string {
	if s.cfg.Territory == nil {
		return ""
	}
	f := facts(func(k Field) string { return attrs[k] })
	if c, err := normalize.Country(f.Country); err == nil && c != "" {
		f.Country = c
	}
	return s.cfg.Territory.Assign(f)
}

// assignTerritory recomputes the territory of rec.
func (t *tx) assignTerritory(rec *Record) {
	rules := t.s.cfg.Territory
	if rules == nil || rec.MergedInto != "" || rec.Erased {
		return
	}
	got := rules.Assign(facts(func(k Field) string { return rec.Attrs[k].Value }))
	if got == rec.Territory && rec.TerritoryVersion == rules.Version {
		return
	}
	old := rec.Territory
	rec.Territory, rec.TerritoryVersion = got, rules.Version
	t.touch(rec)
	if got == old {
		return
	}
	t.audit(rec, "territory", old, got, territoryLineage(rules.Version, t.at, t.m.EventID), "territory_rules", true)
	for _, m := range rec.Members {
		if m.Active && m.System == survivorship.CRM {
			t.out.CRMUpdates = append(t.out.CRMUpdates, CRMUpdate{AccountID: m.RecordID, GoldenID: rec.ID,
				Fields: map[Field]string{survivorship.Territory: got}, CorrelationID: t.m.CorrelationID})
		}
	}
}

// sweepTerritories assigns territories after an event: every record the
// event changed, and every record of the partition when the rules version
// is new to it.
func (t *tx) sweepTerritories() {
	rules := t.s.cfg.Territory
	if rules == nil {
		return
	}
	var ids []string
	if t.s.territoryVersion != rules.Version {
		for id := range t.s.records {
			ids = append(ids, id)
		}
		t.s.territoryVersion = rules.Version
		t.out.State = append(t.out.State, StateWrite{Key: keyTerritory, Value: []byte(rules.Version)})
	} else {
		for id := range t.dirty {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		t.assignTerritory(t.s.records[id])
	}
}
