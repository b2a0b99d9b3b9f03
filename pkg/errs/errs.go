// Package errs classifies failures in one place. Every processor, client and
// CLI asks errs.ClassOf what to do with an error:
//
//   - Retriable: the world is temporarily wrong (broker, registry, Redis or
//     gateway unavailable). Retry with backoff; never drop, never reorder.
//   - Poison: this one message can never be processed as it is (bad bytes,
//     unknown schema id, invalid contract). Send it to the DLQ and move on.
//   - Business: the message is valid but needs a person (credit hold,
//     ownership conflict). Raise an exception on ops.exceptions.v1.
//
// An unclassified error is dead-lettered by the processor runtime at once
// (a bug must not stall a partition forever), so clients of transient
// dependencies classify their failures as Retriable at the source.
package errs

import (
	"context"
	"errors"
	"fmt"
)

// Class is the kind of a failure.
type Class string

const (
	ClassNone      Class = ""
	ClassRetriable Class = "retriable"
	ClassPoison    Class = "poison"
	ClassBusiness  Class = "business"
	ClassUnknown   Class = "unknown"
)

// Sentinel errors callers can test with errors.Is.
var (
	// ErrRetriable marks a transient failure.
	ErrRetriable = errors.New("retriable")
	// ErrPoison marks a message that can never be processed as it is.
	ErrPoison = errors.New("poison")
	// ErrBusiness marks a valid message that needs a business decision.
	ErrBusiness = errors.New("business exception")
)

// classified carries a class and a short machine-readable reason (the DLQ
// header "error-class" is the class, "error-reason" the reason).
type classified struct {
	class  Class
	reason Reason
	err    error
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }
func (e *classified) Is(target error) bool {
	switch target {
	case ErrRetriable:
		return e.class == ClassRetriable
	case ErrPoison:
		return e.class == ClassPoison
	case ErrBusiness:
		return e.class == ClassBusiness
	}
	return false
}

// Retriable wraps err as a transient failure.
func Retriable(reason Reason, err error) error { return wrap(ClassRetriable, reason, err) }

// Poison wraps err as a permanent failure of one message.
func Poison(reason Reason, err error) error { return wrap(ClassPoison, reason, err) }

// Business wraps err as a business exception.
func Business(reason Reason, err error) error { return wrap(ClassBusiness, reason, err) }

// Poisonf is Poison with a formatted message.
func Poisonf(reason Reason, format string, args ...any) error {
	return Poison(reason, fmt.Errorf(format, args...))
}

// Retriablef is Retriable with a formatted message.
func Retriablef(reason Reason, format string, args ...any) error {
	return Retriable(reason, fmt.Errorf(format, args...))
}

func wrap(c Class, reason Reason, err error) error {
	if err == nil {
		err = errors.New(string(reason))
	}
	return &classified{class: c, reason: reason, err: err}
}

// ClassOf returns the class of err: the outermost classification wins.
// Context cancellation is ClassNone's sibling: it is reported as Retriable so
// that work is redone rather than dead-lettered during shutdown.
func ClassOf(err error) Class {
	if err == nil {
		return ClassNone
	}
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ClassRetriable
	}
	return ClassUnknown
}

// ReasonOf returns the machine-readable reason of a classified error, or
// ReasonUnclassified, as the text DLQ headers and log lines carry.
func ReasonOf(err error) string {
	var c *classified
	if errors.As(err, &c) && c.reason != "" {
		return string(c.reason)
	}
	return string(ReasonUnclassified)
}
