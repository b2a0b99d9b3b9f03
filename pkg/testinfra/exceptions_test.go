package testinfra

import (
	"slices"
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
)

func TestExceptionUpdates(t *testing.T) {
	d1 := "d-1"
	xs := []contracts.OperationalException{
		{ExceptionID: "X-1", Status: contracts.ExceptionStatusOpen},
		{ExceptionID: "X-2", Status: contracts.ExceptionStatusOpen},
		{ExceptionID: "X-1", Status: contracts.ExceptionStatusResolved, DecisionID: &d1},
	}
	want := []string{"OPEN/", "RESOLVED/d-1"}
	if got := ExceptionUpdates(xs, "X-1"); !slices.Equal(got, want) {
		t.Errorf("updates of values %q, want %q", got, want)
	}
	ps := []*contracts.OperationalException{&xs[0], &xs[1], &xs[2]}
	if got := ExceptionUpdates(ps, "X-1"); !slices.Equal(got, want) {
		t.Errorf("updates of pointers %q, want %q", got, want)
	}
	if got := ExceptionUpdates(ps, "X-3"); got != nil {
		t.Errorf("updates of an exception never published %q", got)
	}
}
