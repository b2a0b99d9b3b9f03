package golden

import (
	"strings"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/normalize"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
)

// Validate runs the checks of Apply that need no state: required ids and
// time, every attribute's format (name, ISO country, domain, tax id, phone,
// e-mail, credit limit), a contact's name or e-mail and e-mail format. The
// service calls it before an event enters the single-writer match stage, so
// bad input is dead-lettered from its own topic, partition and offset. A
// contact's phone is checked by Apply only: a national number needs the
// country of the account, which only the state knows. Errors are
// errs.Poison with reason errs.ReasonValidation (or errs.ReasonUnknownGoldenID for a
// decision without golden ids), like Apply's.
func Validate(ev Event) error {
	if ev.meta().OccurredAt.IsZero() {
		return validation(&normalize.Error{Field: "occurred_at", Reason: "occurred_at is required"})
	}
	switch e := ev.(type) {
	case SourceUpserted:
		if e.System == "" || e.RecordID == "" {
			return validation(&normalize.Error{Field: "record_id", Reason: "system and record id are required"})
		}
		if _, _, err := identity(e); err != nil {
			return validation(err)
		}
	case SourceDeleted:
		if e.System == "" || e.RecordID == "" {
			return validation(&normalize.Error{Field: "record_id", Reason: "system and record id are required"})
		}
	case ContactUpserted:
		return contactChecks(e)
	case ContactDeleted:
		if e.ContactID == "" || e.AccountID == "" {
			return validation(&normalize.Error{Field: "contact", Reason: "contact id and account id are required"})
		}
	case StewardMerge:
		if e.Survivor == "" || e.Merged == "" {
			return errs.Poisonf(errs.ReasonUnknownGoldenID, "merge decision needs survivor and merged golden ids: %w", ErrUnknownGolden)
		}
	case StewardNotDuplicate:
		if e.A == "" || e.B == "" {
			return errs.Poisonf(errs.ReasonUnknownGoldenID, "not-duplicate decision needs two golden ids: %w", ErrUnknownGolden)
		}
		if e.A == e.B {
			return errs.Poisonf(errs.ReasonValidation, "not-duplicate decision names one golden record twice (%s, %s)", e.A, e.B)
		}
	case StewardPick:
		if e.Golden == "" || e.Field == "" {
			return errs.Poisonf(errs.ReasonDecisionRefused, "PICK_SURVIVOR needs the parameters golden_id (or an exception id naming it), field and value")
		}
	case StewardSplit:
		if e.Golden == "" || e.Ref.System == "" || e.Ref.ID == "" {
			return errs.Poisonf(errs.ReasonDecisionRefused, "SPLIT needs the parameters golden_id (or an exception id naming it), system and record_id of the source record to split off")
		}
	case StewardClose:
		if e.Golden == "" {
			return errs.Poisonf(errs.ReasonDecisionRefused, "%s needs an exception id naming its golden record", e.Status)
		}
	case StewardRefused:
		return errs.Poisonf(errs.ReasonDecisionRefused, "%s", e.Reason)
	case LeadQualified:
		if e.LeadID == "" {
			return validation(&normalize.Error{Field: "lead_id", Reason: "is required"})
		}
		if _, _, err := identity(SourceUpserted{Meta: e.Meta, System: survivorship.CRM, RecordID: e.LeadID, Attrs: e.Attrs}); err != nil {
			return validation(err)
		}
	case EraseRequested:
		if e.GoldenID == "" && (e.Ref.System == "" || e.Ref.ID == "") {
			return errs.Poisonf(errs.ReasonUnknownGoldenID, "erase request names no golden id and no source record: %w", ErrUnknownGolden)
		}
	default:
		return errs.Poisonf(errs.ReasonValidation, "golden: unsupported event %T", ev)
	}
	return nil
}

// contactChecks are the stateless checks of a contact upsert; it returns
// the normalised e-mail.
func contactChecks(e ContactUpserted) error {
	_, err := contactEmail(e)
	return err
}

func contactEmail(e ContactUpserted) (string, error) {
	if e.ContactID == "" || e.AccountID == "" {
		return "", validation(&normalize.Error{Field: "contact", Reason: "contact id and account id are required"})
	}
	if strings.TrimSpace(e.Name) == "" && strings.TrimSpace(e.Email) == "" {
		return "", validation(&normalize.Error{Field: "contact.name", Reason: "a contact needs a name or an e-mail"})
	}
	email, err := normalize.Email(e.Email)
	if err != nil {
		return "", validation(err)
	}
	return email, nil
}
