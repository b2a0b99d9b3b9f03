package golden

import (
	"fmt"
	"maps"
	"slices"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
)

// Steward is the system of a value a steward picked (its lineage).
const Steward survivorship.System = "steward"

// maxSettled bounds the settled exception ids a record keeps.
const maxSettled = 32

// settled reports whether a steward decision already settled exception id
// on rec.
func settled(rec *Record, id string) bool { return id != "" && slices.Contains(rec.Settled, id) }

// rule publishes the outcome of a steward decision on its exception (a
// decision without a ruling, e.g. from an older producer, has none) and
// remembers the exception as settled on rec.
func (t *tx) rule(r Ruling, rec *Record, status, note string) {
	if r.ExceptionID == "" {
		return
	}
	if rec != nil && status != "OPEN" {
		rec.Settled = append(rec.Settled, r.ExceptionID)
		if len(rec.Settled) > maxSettled {
			rec.Settled = rec.Settled[len(rec.Settled)-maxSettled:]
		}
		t.touch(rec)
	}
	g := ""
	if rec != nil {
		g = rec.ID
	}
	t.out.Exceptions = append(t.out.Exceptions, Exception{
		ID: r.ExceptionID, Category: r.Category, Severity: "low", GoldenID: g,
		Message: note, Context: map[string]string{"outcome": note}, CorrelationID: t.m.CorrelationID, CausationID: t.m.EventID,
		OccurredAt: t.at, Status: status, DecisionID: r.DecisionID,
	})
}

func refused(format string, args ...any) error {
	return errs.Poisonf(errs.ReasonDecisionRefused, format, args...)
}

// pick sets Field of the golden record to the value the steward picked,
// with the steward's lineage (dated at the decision), pushes it to the
// systems that receive it and resolves the conflict. Picking the value the
// record has is a confirmation: resolved, nothing sent.
func (t *tx) pick(e StewardPick) error {
	if b, away := t.away(e.Golden); away {
		t.out.Forward = b
		return nil
	}
	rec, err := t.live(e.Golden, "golden_id")
	if err != nil {
		return err
	}
	if settled(rec, e.ExceptionID) {
		return nil
	}
	f := Field(e.Field)
	if _, known := t.s.cfg.Ownership.Fields[f]; !known {
		return refused("PICK_SURVIVOR: %q is not a golden attribute", e.Field)
	}
	cur := rec.Attrs[f]
	src := survivorship.Lineage{System: Steward, RecordID: e.Actor, OccurredAt: t.at, EventID: t.m.EventID}
	if cur.Value != e.Value {
		rec.Attrs[f] = survivorship.Value{Value: e.Value, Lineage: src}
		t.audit(rec, string(f), cur.Value, e.Value, src, "steward_pick", true)
		t.touch(rec)
		t.s.index.Upsert(idOf(rec.ID), t.s.features(rec))
		t.commands(rec, Steward, []Field{f})
	}
	t.rule(e.Ruling, rec, "RESOLVED", fmt.Sprintf("%s of %s set to %q by %s", f, rec.ID, e.Value, e.Actor))
	return nil
}

// split moves source record Ref out of golden record Golden into a new
// golden record of its own, with the attributes it contributed, and marks
// the two as not duplicates (never proposed again).
func (t *tx) split(e StewardSplit) error {
	if b, away := t.away(e.Golden); away {
		t.out.Forward = b
		return nil
	}
	rec, err := t.live(e.Golden, "golden_id")
	if err != nil {
		return err
	}
	if settled(rec, e.ExceptionID) {
		return nil
	}
	m := rec.member(e.Ref)
	if m == nil || !m.Active {
		return refused("SPLIT: %s:%s is not a member of %s", e.Ref.System, e.Ref.ID, rec.ID)
	}
	active := 0
	for _, x := range rec.Members {
		if x.Active {
			active++
		}
	}
	if active < 2 {
		return refused("SPLIT: %s:%s is the only member of %s", e.Ref.System, e.Ref.ID, rec.ID)
	}
	s := t.s
	before := s.features(rec)
	nr := t.create(e.Ref)
	rec.Members = slices.DeleteFunc(rec.Members, func(x Member) bool { return x.System == System(e.Ref.System) && x.RecordID == e.Ref.ID })
	t.link(nr, e.Ref, "steward_split", 0)
	for _, f := range slices.Sorted(maps.Keys(rec.Attrs)) {
		v := rec.Attrs[f]
		if string(v.Lineage.System) == e.Ref.System && v.Lineage.RecordID == e.Ref.ID {
			nr.Attrs[f] = v
		}
	}
	s.xref.MarkNotDuplicate(rec.ID, nr.ID)
	for _, r := range []*Record{rec, nr} {
		r.NotDuplicates = s.xref.NotDuplicates(r.ID)
		t.touch(r)
	}
	if after := s.features(rec); after != before {
		s.index.Upsert(idOf(rec.ID), after)
	}
	s.index.Upsert(idOf(nr.ID), s.features(nr))
	t.commands(nr, System(e.Ref.System), slices.Sorted(maps.Keys(nr.Attrs)))
	t.rule(e.Ruling, rec, "RESOLVED", fmt.Sprintf("%s:%s split from %s into %s by %s", e.Ref.System, e.Ref.ID, rec.ID, nr.ID, e.Actor))
	return nil
}

// closeException publishes a RESOLVE or DISMISS: the exception's status
// changes, nothing else.
func (t *tx) closeException(e StewardClose) error {
	if b, away := t.away(e.Golden); away {
		t.out.Forward = b
		return nil
	}
	rec, err := t.live(e.Golden, "golden_id")
	if err != nil {
		return err
	}
	if settled(rec, e.ExceptionID) {
		return nil
	}
	verb := "resolved"
	if e.Status == "CLOSED" {
		verb = "dismissed"
	}
	t.rule(e.Ruling, rec, e.Status, fmt.Sprintf("%s by %s without a change", verb, e.Actor))
	return nil
}
