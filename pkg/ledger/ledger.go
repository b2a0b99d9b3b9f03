// Package ledger is the double-entry bookkeeping of the services that post
// journals to ERP on erp.journal-commands.v1 (billing-bridge's invoices and
// revenue recognition, field-service's settlements and credit memos): the
// posting line, the rule every journal passes before it is sent, the signed
// effect of postings on an account, and the command's lines.
//
// Each service keeps its own journal kinds, chart of accounts and ids; what
// makes a journal well formed is decided here only. The ERP (and its
// simulator) checks the command again on its side, independently.
package ledger

import (
	"errors"
	"fmt"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Line is one posting in minor units of its journal's currency: exactly one
// of Debit and Credit is positive. CostCentre and Text are optional.
type Line struct {
	Account    string `json:"account"`
	Debit      int64  `json:"debit"`
	Credit     int64  `json:"credit"`
	CostCentre string `json:"cost_centre,omitempty"`
	Text       string `json:"text,omitempty"`
}

// ErrUnbalanced is wrapped by every error of Check.
var ErrUnbalanced = errors.New("journal does not balance")

// Check tells whether the journal id in currency with lines may be posted:
// a currency, at least two lines, each naming an account with exactly one
// positive side, and debits equal to credits. The error names the journal
// and the first rule broken, and wraps ErrUnbalanced.
func Check(id, currency string, lines []Line) error {
	if currency == "" {
		return fmt.Errorf("journal %s: %w: no currency", id, ErrUnbalanced)
	}
	if len(lines) < 2 {
		return fmt.Errorf("journal %s: %w: %d line(s), at least 2 needed", id, ErrUnbalanced, len(lines))
	}
	var dr, cr int64
	for i, l := range lines {
		if l.Account == "" {
			return fmt.Errorf("journal %s: %w: line %d has no account", id, ErrUnbalanced, i+1)
		}
		if l.Debit < 0 || l.Credit < 0 || (l.Debit > 0) == (l.Credit > 0) {
			return fmt.Errorf("journal %s: %w: line %d (%s) has debit %d and credit %d, exactly one positive needed", id, ErrUnbalanced, i+1, l.Account, l.Debit, l.Credit)
		}
		dr += l.Debit
		cr += l.Credit
	}
	if dr != cr {
		return fmt.Errorf("journal %s: %w: debits %d, credits %d", id, ErrUnbalanced, dr, cr)
	}
	return nil
}

// Debits is the sum of the lines' debits: a balanced journal's amount.
func Debits(lines []Line) int64 {
	var n int64
	for _, l := range lines {
		n += l.Debit
	}
	return n
}

// Effect is the signed change the lines make to account: debits minus
// credits.
func Effect(account string, lines ...Line) int64 {
	var n int64
	for _, l := range lines {
		if l.Account == account {
			n += l.Debit - l.Credit
		}
	}
	return n
}

// CommandLines are the lines of an erp.journal-commands.v1 command in
// currency, numbered from 1. A line's description is describe(line) when
// describe is given, its Text otherwise; an empty one is left out, as is an
// empty cost centre.
func CommandLines(currency string, lines []Line, describe func(Line) string) []contracts.JournalLine {
	out := make([]contracts.JournalLine, 0, len(lines))
	for i, l := range lines {
		text := l.Text
		if describe != nil {
			text = describe(l)
		}
		out = append(out, contracts.JournalLine{
			LineNumber:  i + 1,
			Account:     l.Account,
			Debit:       contracts.Money{AmountMinor: l.Debit, Currency: currency},
			Credit:      contracts.Money{AmountMinor: l.Credit, Currency: currency},
			Description: optional(text),
			CostCenter:  optional(l.CostCentre),
		})
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
