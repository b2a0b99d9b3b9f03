package ops

import (
	"fmt"
	"strings"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/processor"
)

// Decision decodes a record of ops.decisions.v1 and routes it: mine is false
// (and the error nil) for a decision another service owns, which the handler
// ignores. A decision of o that cannot be acted on — unreadable, without a
// decision id, actor or action, or naming an exception id that is not o's —
// is a poison error with its reason, so it is dead-lettered with context.
// A decision on an exception id of a legacy form (Owner.Legacy) is passed
// on as earlier releases took it, without the field checks.
func (o Owner) Decision(m *processor.Message) (d contracts.Decision, mine bool, err error) {
	if err := m.Decode(&d); err != nil {
		return d, false, err
	}
	if d.OwnerService != o.Service {
		return d, false, nil
	}
	if o.legacy(d.ExceptionID) {
		return d, true, nil
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"decision_id", d.DecisionID}, {"exception_id", d.ExceptionID}, {"actor", d.Actor}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if d.Action == "" || d.Action == contracts.DecisionActionUnknown {
		missing = append(missing, "action")
	}
	if len(missing) > 0 {
		return d, true, errs.Poisonf(errs.ReasonInvalidDecision, "decision %q for %s lacks %s", d.DecisionID, o.Service, strings.Join(missing, ", "))
	}
	if !o.Owns(d.ExceptionID) {
		return d, true, errs.Poison(errs.ReasonUnknownException, fmt.Errorf("decision %s names exception %q, which is not a %s exception id", d.DecisionID, d.ExceptionID, o.Service))
	}
	return d, true, nil
}

// DecisionOn is Decision for an owner whose exception ids each name one
// entity (a quote, a case, a contract), so the decision can be forwarded
// to the partition that holds it: entity is what entityOf reads from the
// exception id. A decision of o on an exception id entityOf cannot read is
// poison (unknown_exception), like one on an id that is not o's.
func (o Owner) DecisionOn(m *processor.Message, entityOf func(exceptionID string) (string, bool)) (d contracts.Decision, entity string, mine bool, err error) {
	d, mine, err = o.Decision(m)
	if err != nil || !mine {
		return d, "", mine, err
	}
	entity, ok := entityOf(d.ExceptionID)
	if !ok {
		return d, "", true, errs.Poison(errs.ReasonUnknownException, fmt.Errorf("decision %s names exception %q, from which %s reads no entity", d.DecisionID, d.ExceptionID, o.Service))
	}
	return d, entity, true, nil
}
