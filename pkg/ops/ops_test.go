package ops_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/internal/construct"
	"github.com/isthmus/isthmus/pkg/ops"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

var owner = ops.Owner{Service: "order-desk", Code: "odk", Queue: contracts.ExceptionQueueSalesOps, Source: contracts.SourceSystemQuoteToOrder}

func TestIDScheme(t *testing.T) {
	id := owner.ExceptionID("2", "CREDIT_HOLD", "q:1")
	if id != "odk:2:CREDIT_HOLD:q:1" {
		t.Fatalf("id = %q", id)
	}
	parts, ok := owner.Parts(id, 3)
	if !ok || parts[0] != "2" || parts[1] != "CREDIT_HOLD" || parts[2] != "q:1" {
		t.Errorf("Parts = %q %v", parts, ok)
	}
	for _, bad := range []string{"csx:2:CREDIT_HOLD:q", "odk:2", "odk::x:y", "odk"} {
		if _, ok := owner.Parts(bad, 3); ok {
			t.Errorf("Parts(%q) accepted", bad)
		}
	}
	if !owner.Owns(id) || owner.Owns("odkx:1") {
		t.Error("Owns")
	}
}

func TestEvent(t *testing.T) {
	md := event.Metadata("e", "c", "", contracts.SourceSystemQuoteToOrder, time.Now())
	open := owner.Event(ops.Exception{ID: "odk:1", Category: contracts.ExceptionCategoryCreditHold, Severity: "high", Summary: "s",
		Entities: map[string]string{"order_id": "o"}, Suggested: "release", Allowed: []string{contracts.DecisionActionReleaseHold}}, md)
	if open.Queue != contracts.ExceptionQueueFinanceOps || open.Severity != contracts.SeverityHigh || open.Status != contracts.ExceptionStatusOpen ||
		open.OwnerService != "order-desk" || open.SuggestedAction == nil || len(open.AllowedActions) != 1 || open.Context == nil || open.DecisionID != nil {
		t.Errorf("open = %+v", open)
	}
	other := owner.Event(ops.Exception{ID: "odk:2", Status: contracts.ExceptionStatusClosed, Suggested: "x", Allowed: []string{"RETRY"}, Decision: "d1"}, md)
	if other.Category != contracts.ExceptionCategoryOther || other.Queue != contracts.ExceptionQueueSalesOps || other.Severity != contracts.SeverityMedium ||
		len(other.AllowedActions) != 0 || other.SuggestedAction != nil || other.DecisionID == nil || *other.DecisionID != "d1" {
		t.Errorf("closed = %+v", other)
	}
	for in, want := range map[string]string{"": "MEDIUM", "low": "LOW", " Critical ": "CRITICAL", "urgent": "UNKNOWN"} {
		if got := ops.Severity(in); got != want {
			t.Errorf("Severity(%q) = %s, want %s", in, got, want)
		}
	}
}

// A business error becomes an exception with the input's context, the
// handler's outputs are dropped, and the next record flows; a decision of
// another owner is ignored, one of this owner checked.
func TestRaiseAndDecision(t *testing.T) {
	var decided []contracts.Decision
	h := func(ctx context.Context, m *processor.Message) error {
		if m.Topic == contracts.TopicOpsDecisionsV1 {
			d, mine, err := owner.Decision(m)
			if err != nil || !mine {
				return err
			}
			decided = append(decided, d)
			return nil
		}
		m.Emit("odk.out.v1", m.Key(), m.Value())
		switch string(m.Value()) {
		case "over-limit":
			return ops.Fail("credit_limit", ops.Exception{Category: contracts.ExceptionCategoryCreditHold, Entities: map[string]string{"order_id": m.Key()}}, errors.New("order over the credit limit"))
		case "plain-business":
			return errs.Business("odd", errors.New("odd order"))
		}
		return nil
	}
	k := processortest.New(t, processor.Config{Service: owner.Service, Topics: []string{"odk.in.v1", contracts.TopicOpsDecisionsV1}, Handler: h, Middleware: []processor.Middleware{ops.Raise(owner)}})

	res := k.Send("odk.in.v1", "o1", []byte("over-limit"), processortest.Correlation("flow-1"))
	if res.Err != nil || len(res.On("odk.out.v1")) != 0 || len(res.DeadLetters(owner.Service)) != 0 {
		t.Fatalf("outputs = %+v, err %v", res.Outputs, res.Err)
	}
	xs := res.On(contracts.TopicOpsExceptionsV1)
	if len(xs) != 1 {
		t.Fatalf("exceptions = %+v", res.Outputs)
	}
	var x contracts.OperationalException
	k.Decode(xs[0], &x)
	if x.Category != contracts.ExceptionCategoryCreditHold || x.Queue != contracts.ExceptionQueueFinanceOps || x.EntityIds["order_id"] != "o1" ||
		x.Context["topic"] != "odk.in.v1" || x.Context["offset"] != "0" || x.Context["reason"] != "credit_limit" || x.Summary != "order over the credit limit" ||
		x.Metadata.CorrelationID != "flow-1" || !owner.Owns(x.ExceptionID) || xs[0].Key != x.ExceptionID {
		t.Errorf("exception = %+v", x)
	}
	plain := k.Send("odk.in.v1", "o2", []byte("plain-business"))
	var y contracts.OperationalException
	k.Decode(plain.On(contracts.TopicOpsExceptionsV1)[0], &y)
	if y.Category != contracts.ExceptionCategoryInvalidInput || y.Context["reason"] != "odd" || y.ExceptionID == x.ExceptionID {
		t.Errorf("plain business exception = %+v", y)
	}
	if ok := k.Send("odk.in.v1", "o3", []byte("fine")); len(ok.On("odk.out.v1")) != 1 {
		t.Errorf("next record: %+v", ok.Outputs)
	}

	dec := func(owner, exc, actor string) *contracts.Decision {
		return &contracts.Decision{Metadata: event.Metadata("d", "c", "", contracts.SourceSystemOperator, time.Now()), DecisionID: "d-" + exc, ExceptionID: exc,
			OwnerService: owner, Action: contracts.DecisionActionResolve, Actor: actor, Parameters: map[string]string{}, ApprovedBy: []string{}}
	}
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, "csx:1", dec("customer-sync", "csx:1", "ann")); len(res.Outputs) != 0 || len(decided) != 0 {
		t.Errorf("another owner's decision: %+v", res.Outputs)
	}
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, "csx:2", dec(owner.Service, "csx:2", "ann")); len(res.DeadLetters(owner.Service)) != 1 ||
		res.DeadLetters(owner.Service)[0].Header(catalog.DLQHeaderErrorReason) != "unknown_exception" {
		t.Errorf("foreign exception id: %+v", res.Outputs)
	}
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, x.ExceptionID, dec(owner.Service, x.ExceptionID, "")); len(res.DeadLetters(owner.Service)) != 1 {
		t.Errorf("decision without actor: %+v", res.Outputs)
	}
	k.SendValue(contracts.TopicOpsDecisionsV1, x.ExceptionID, dec(owner.Service, x.ExceptionID, "ann"))
	if len(decided) != 1 || decided[0].ExceptionID != x.ExceptionID {
		t.Errorf("decided = %+v", decided)
	}
}

// Exceptions are built here and nowhere else (tests aside).
func TestOnlyThisPackageBuildsExceptions(t *testing.T) {
	root, err := construct.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	sites, err := construct.Literals(root, "github.com/isthmus/isthmus/pkg/contracts", "OperationalException", "pkg/ops")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		t.Errorf("%s builds a contracts.OperationalException: describe it as an ops.Exception and build it with Owner.Event (or return ops.Fail)", s)
	}
}

func TestFailAtKeepsTheHandlersMetadata(t *testing.T) {
	md := event.Metadata(event.ID("in", "x"), "flow-9", "cause-9", owner.Source, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h := func(ctx context.Context, m *processor.Message) error {
		return ops.FailAt("bad_amount", ops.Exception{ID: owner.ExceptionID("amount", m.Key())}, md, errors.New("negative amount"))
	}
	k := processortest.New(t, processor.Config{Service: owner.Service, Topics: []string{"odk.in.v1"}, Handler: h, Middleware: []processor.Middleware{ops.Raise(owner)}})
	res := k.Send("odk.in.v1", "o9", []byte("x"))
	var x contracts.OperationalException
	k.Decode(res.On(contracts.TopicOpsExceptionsV1)[0], &x)
	if x.ExceptionID != "odk:amount:o9" || x.Metadata.EventID != md.EventID || x.Metadata.CorrelationID != "flow-9" || *x.Metadata.CausationID != "cause-9" || x.Context["reason"] != "bad_amount" {
		t.Errorf("exception = %+v", x)
	}
}

func TestLegacyIDs(t *testing.T) {
	o := owner
	o.Legacy = []string{"EX/"}
	if !o.Owns("EX/c1/gap") || !o.Owns("odk:1") || o.Owns("csx:1") {
		t.Error("Owns with legacy prefixes")
	}
	var got []contracts.Decision
	h := func(ctx context.Context, m *processor.Message) error {
		d, mine, err := o.Decision(m)
		if mine && err == nil {
			got = append(got, d)
		}
		return err
	}
	k := processortest.New(t, processor.Config{Service: o.Service, Topics: []string{contracts.TopicOpsDecisionsV1}, Handler: h})
	old := &contracts.Decision{Metadata: event.Metadata("d", "c", "", contracts.SourceSystemOperator, time.Now()), ExceptionID: "EX/c1/gap",
		OwnerService: o.Service, Action: contracts.DecisionActionResolve, Parameters: map[string]string{}, ApprovedBy: []string{}}
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, old.ExceptionID, old); len(res.Outputs) != 0 || len(got) != 1 {
		t.Errorf("a decision on a legacy id, as earlier releases took it: outputs %+v, decided %d", res.Outputs, len(got))
	}
}

// DecisionOn forwards a decision to the entity its exception id names; an
// id of the owner's naming no entity is poison with the same reason as a
// foreign id.
func TestDecisionOn(t *testing.T) {
	orderOf := func(id string) (string, bool) {
		p, ok := owner.Parts(id, 2)
		if !ok || p[0] != "order" {
			return "", false
		}
		return p[1], true
	}
	h := func(ctx context.Context, m *processor.Message) error {
		_, order, mine, err := owner.DecisionOn(m, orderOf)
		if err != nil || !mine {
			return err
		}
		m.Emit("odk.by-order.v1", order, m.Value())
		return nil
	}
	k := processortest.New(t, processor.Config{Service: owner.Service, Topics: []string{contracts.TopicOpsDecisionsV1}, Handler: h})
	dec := func(owner, exc string) *contracts.Decision {
		return &contracts.Decision{Metadata: event.Metadata("d", "c", "", contracts.SourceSystemOperator, time.Now()), DecisionID: "d-" + exc, ExceptionID: exc,
			OwnerService: owner, Action: contracts.DecisionActionResolve, Actor: "ann", Parameters: map[string]string{}, ApprovedBy: []string{}}
	}
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, "x", dec(owner.Service, owner.ExceptionID("order", "o7"))); len(res.On("odk.by-order.v1")) != 1 || res.On("odk.by-order.v1")[0].Key != "o7" {
		t.Errorf("forwarded: %+v", res.Outputs)
	}
	if res := k.SendValue(contracts.TopicOpsDecisionsV1, "x", dec("customer-sync", "csx:1")); len(res.Outputs) != 0 {
		t.Errorf("another owner's decision: %+v", res.Outputs)
	}
	res := k.SendValue(contracts.TopicOpsDecisionsV1, "x", dec(owner.Service, owner.ExceptionID("batch", "b1")))
	if dl := res.DeadLetters(owner.Service); len(dl) != 1 || dl[0].Header(catalog.DLQHeaderErrorReason) != "unknown_exception" || len(res.On("odk.by-order.v1")) != 0 {
		t.Errorf("no entity in the exception id: %+v", res.Outputs)
	}
}
