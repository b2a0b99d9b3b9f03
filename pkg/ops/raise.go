package ops

import (
	"context"
	"errors"
	"maps"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// Problem is a business error with what its exception needs: a handler
// returns it (made with Fail) and Raise turns it into the exception.
type Problem struct {
	Exception
	// Metadata, when set, is the exception event's metadata (FailAt);
	// otherwise Raise derives it from the input (Message.Metadata).
	Metadata *contracts.EventMetadata
	err      error
}

func (p *Problem) Error() string { return p.err.Error() }
func (p *Problem) Unwrap() error { return p.err }

// Fail is a business error (errs.Business with reason) that raises x: the
// handler returns it instead of building the exception. x.ID may be left
// empty: Raise derives it from the input, so a replay raises the same id.
// x.Summary "" is err's text.
func Fail(reason errs.Reason, x Exception, err error) error {
	if err == nil {
		err = errors.New(string(reason))
	}
	return errs.Business(reason, &Problem{Exception: x, err: err})
}

// FailAt is Fail with the exception event's metadata given by the handler
// (e.g. derived from the input's own metadata rather than its position).
func FailAt(reason errs.Reason, x Exception, md contracts.EventMetadata, err error) error {
	if err == nil {
		err = errors.New(string(reason))
	}
	return errs.Business(reason, &Problem{Exception: x, Metadata: &md, err: err})
}

// Raise is the processor middleware of an owner: a handler that returns a
// business error (errs.Business; with the details of Fail when it has them)
// has its outputs and state writes dropped and an OPEN exception emitted on
// ops.exceptions.v1 instead, with the input's context (topic, partition,
// offset, key, error reason and message), and the record counts as handled:
// the partition keeps flowing. Other errors pass through (retried or
// dead-lettered by the runtime). Put it in processor.Config.Middleware.
func Raise(o Owner) processor.Middleware {
	return func(next processor.Handler) processor.Handler {
		return func(ctx context.Context, m *processor.Message) error {
			err := next(ctx, m)
			if err == nil || errs.ClassOf(err) != errs.ClassBusiness {
				return err
			}
			m.Discard()
			var x Exception
			md := m.Metadata(o.Source, 1)
			var p *Problem
			if errors.As(err, &p) {
				x = p.Exception
				if p.Metadata != nil {
					md = *p.Metadata
				}
			}
			reason := errs.ReasonOf(err)
			if x.Category == "" {
				x.Category = contracts.ExceptionCategoryInvalidInput
			}
			if x.ID == "" {
				x.ID = o.ExceptionID("input", x.Category, m.EventID())
			}
			if x.Summary == "" {
				x.Summary = err.Error()
			}
			x.Context = maps.Clone(x.Context)
			if x.Context == nil {
				x.Context = map[string]string{}
			}
			for k, v := range map[string]string{
				"topic": m.Topic, "partition": strconv.Itoa(int(m.Record.Partition)), "offset": strconv.FormatInt(m.Record.Offset, 10),
				"key": m.Key(), "reason": reason, "error": err.Error(),
			} {
				if _, set := x.Context[k]; !set {
					x.Context[k] = v
				}
			}
			if len(x.Allowed) == 0 {
				x.Allowed = []string{contracts.DecisionActionResolve, contracts.DecisionActionDismiss}
			}
			if x.Suggested == "" {
				x.Suggested = "correct the record at its source and re-send it, then resolve"
			}
			v := o.Event(x, md)
			m.Logger().WarnContext(ctx, "business exception raised", "exception_id", v.ExceptionID, "category", v.Category, "topic", m.Topic, "partition", m.Record.Partition, "offset", m.Record.Offset, "reason", reason)
			return Emit(m, &v)
		}
	}
}

// Emit writes the exception v (built by Owner.Event) to ops.exceptions.v1
// in m's transaction, keyed by its id, with its correlation id header.
func Emit(m *processor.Message, v *contracts.OperationalException) error {
	return m.EmitValue(contracts.TopicOpsExceptionsV1, v.ExceptionID, v, kgo.RecordHeader{Key: tracing.HeaderCorrelationID, Value: []byte(v.Metadata.CorrelationID)})
}
