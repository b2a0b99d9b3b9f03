package journal

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/ledger"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

func TestNewPostsTheRightSides(t *testing.T) {
	a := DefaultAccounts
	tests := []struct {
		kind   Kind
		dr, cr string
	}{
		{Invoice, a.Receivable, a.Deferred},
		{CreditNote, a.Deferred, a.Receivable},
		{Recognition, a.Deferred, a.Revenue},
		{RecognitionReversal, a.Revenue, a.Deferred},
	}
	for _, tt := range tests {
		j := New(a, "C/1", 3, "2025-03", tt.kind, contract.NewDate(2025, 3, 31), "EUR", "revenue/2025-03", 125)
		want := []ledger.Line{{Account: tt.dr, Debit: 125}, {Account: tt.cr, Credit: 125}}
		if diff := cmp.Diff(want, j.Lines); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.kind, diff)
		}
		if err := j.Check(); err != nil {
			t.Errorf("%s: %v", tt.kind, err)
		}
		if j.ID != "JE/C%2F1/3/2025-03/"+string(tt.kind) {
			t.Errorf("id %s", j.ID)
		}
		if j.Amount() != 125 || j.Effect(tt.dr) != 125 || j.Effect(tt.cr) != -125 {
			t.Errorf("%s: amount %d effects %d/%d", tt.kind, j.Amount(), j.Effect(tt.dr), j.Effect(tt.cr))
		}
	}
}

func TestCheckRejectsMalformedJournals(t *testing.T) {
	good := New(DefaultAccounts, "C", 1, "2025-01-01", Invoice, contract.NewDate(2025, 1, 1), "EUR", "doc", 10)
	tests := map[string]func(j *Journal){
		"unbalanced":  func(j *Journal) { j.Lines[1].Credit = 9 },
		"negative":    func(j *Journal) { j.Lines[0].Debit, j.Lines[1].Credit = -10, -10 },
		"both sides":  func(j *Journal) { j.Lines[0].Credit = 10; j.Lines[1].Debit = 10 },
		"one line":    func(j *Journal) { j.Lines = j.Lines[:1] },
		"no currency": func(j *Journal) { j.Currency = "" },
		"zero amount": func(j *Journal) { j.Lines[0].Debit, j.Lines[1].Credit = 0, 0 },
	}
	for name, mutate := range tests {
		j := good
		j.Lines = append([]ledger.Line(nil), good.Lines...)
		mutate(&j)
		if err := j.Check(); !errors.Is(err, ledger.ErrUnbalanced) {
			t.Errorf("%s: Check = %v", name, err)
		}
	}
}

func TestOurs(t *testing.T) {
	for id, want := range map[string]bool{
		ID("C-1", 2, "2025-01", Recognition): true,
		"JE/C-1/0/2025-01-15/INVOICE":        true,
		"FS/SO-1/SERVICE_COST":               false,
		"":                                   false,
		"je/C-1":                             false,
	} {
		if got := Ours(id); got != want {
			t.Errorf("Ours(%q) = %v, want %v", id, got, want)
		}
	}
}
