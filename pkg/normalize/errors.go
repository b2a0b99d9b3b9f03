package normalize

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched (errors.Is) by every validation error of this package.
var ErrInvalid = errors.New("invalid attribute")

// Error is a validation failure of one attribute: which field, the raw value
// and why it was refused. Its message is meant for a data steward.
type Error struct {
	Field  string // attribute name, e.g. "tax_id"
	Value  string // the raw value as received ("" when missing)
	Reason string // what is wrong, e.g. "DE tax ids have 9 digits, got 8"
}

func (e *Error) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func invalid(field, value, format string, args ...any) error {
	return &Error{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
}
