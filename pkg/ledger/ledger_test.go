package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	ok := []Line{{Account: "1200", Debit: 125}, {Account: "4000", Credit: 100}, {Account: "2100", Credit: 25, CostCentre: "C1"}}
	if err := Check("J1", "EUR", ok); err != nil {
		t.Fatalf("balanced journal: %v", err)
	}
	for name, tc := range map[string]struct {
		currency string
		lines    []Line
		want     string
	}{
		"no currency":    {"", ok, "no currency"},
		"one line":       {"EUR", ok[:1], "1 line(s)"},
		"no account":     {"EUR", []Line{{Debit: 5}, {Account: "4000", Credit: 5}}, "line 1 has no account"},
		"both sides":     {"EUR", []Line{{Account: "1200", Debit: 5, Credit: 5}, {Account: "4000", Credit: 5}}, "line 1 (1200) has debit 5 and credit 5"},
		"neither side":   {"EUR", []Line{{Account: "1200", Debit: 5}, {Account: "4000"}}, "line 2 (4000) has debit 0 and credit 0"},
		"negative":       {"EUR", []Line{{Account: "1200", Debit: -5}, {Account: "4000", Credit: 5}}, "line 1 (1200) has debit -5"},
		"debits≠credits": {"EUR", []Line{{Account: "1200", Debit: 5}, {Account: "4000", Credit: 4}}, "debits 5, credits 4"},
	} {
		err := Check("J1", tc.currency, tc.lines)
		if !errors.Is(err, ErrUnbalanced) || !strings.Contains(err.Error(), "journal J1: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrUnbalanced naming J1 and %q", name, err, tc.want)
		}
	}
}

func TestEffectDebitsAndCommandLines(t *testing.T) {
	lines := []Line{{Account: "1200", Debit: 125, Text: "charge"}, {Account: "4000", Credit: 100}, {Account: "2100", Credit: 25, CostCentre: "C1"}, {Account: "1200", Credit: 5}}
	if Debits(lines) != 125 || Effect("1200", lines...) != 120 || Effect("4000", lines...) != -100 || Effect("9999", lines...) != 0 {
		t.Errorf("debits %d, effects %d %d", Debits(lines), Effect("1200", lines...), Effect("4000", lines...))
	}
	cl := CommandLines("EUR", lines, nil)
	if len(cl) != 4 || cl[0].LineNumber != 1 || cl[3].LineNumber != 4 || cl[0].Debit.AmountMinor != 125 || cl[0].Debit.Currency != "EUR" || cl[1].Credit.AmountMinor != 100 || cl[1].Credit.Currency != "EUR" {
		t.Fatalf("command lines = %+v", cl)
	}
	if cl[0].Description == nil || *cl[0].Description != "charge" || cl[1].Description != nil || cl[2].CostCenter == nil || *cl[2].CostCenter != "C1" || cl[0].CostCenter != nil {
		t.Errorf("descriptions and cost centres: %+v", cl)
	}
	for _, l := range CommandLines("EUR", lines, func(Line) string { return "DOC-7" }) {
		if l.Description == nil || *l.Description != "DOC-7" {
			t.Errorf("describe: %+v", l)
		}
	}
}
