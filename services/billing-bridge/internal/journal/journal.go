// Package journal builds the ERP journal entries of a subscription contract:
// balanced, single-currency, with ids derived from the contract, the
// amendment sequence, the period and the kind, so that re-processing the same
// input yields the same ids and the ERP can drop duplicates.
package journal

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/ledger"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// Kind is what a journal records.
type Kind string

// Journal kinds and their postings.
const (
	// Invoice: Dr Accounts Receivable / Cr Deferred Revenue.
	Invoice Kind = "INVOICE"
	// CreditNote: Dr Deferred Revenue / Cr Accounts Receivable (the unearned
	// part credited back, or a planned invoice withdrawn).
	CreditNote Kind = "CREDIT_NOTE"
	// Recognition: Dr Deferred Revenue / Cr Revenue.
	Recognition Kind = "RECOGNITION"
	// RecognitionReversal: Dr Revenue / Cr Deferred Revenue.
	RecognitionReversal Kind = "RECOGNITION_REVERSAL"
)

// Accounts is the chart of accounts the journals post to.
type Accounts struct {
	Receivable string `json:"receivable"`
	Deferred   string `json:"deferred"`
	Revenue    string `json:"revenue"`
}

// DefaultAccounts is used when no chart is configured.
var DefaultAccounts = Accounts{
	Receivable: "1200-accounts-receivable",
	Deferred:   "2400-deferred-revenue",
	Revenue:    "4000-subscription-revenue",
}

// Journal is one journal command for the ERP.
type Journal struct {
	ID         string `json:"id"`
	ContractID string `json:"contract_id"`
	Seq        int64  `json:"seq"`
	// Period is the billing period start ("2025-01-15") for invoice
	// journals, the calendar month ("2025-01") for recognition journals.
	Period   string        `json:"period"`
	Kind     Kind          `json:"kind"`
	Date     contract.Date `json:"date"`
	Currency string        `json:"currency"`
	// Source is the schedule document or revenue month the journal is for.
	Source string        `json:"source"`
	Lines  []ledger.Line `json:"lines"`
}

// Prefix starts every journal id billing-bridge sends. Other producers of
// erp.journal-commands.v1 (field-service: "FS/") use their own, so an ERP
// answer for an id without it is not billing-bridge's.
const Prefix = "JE/"

// Ours tells whether a journal command id is one billing-bridge sends.
func Ours(id string) bool { return strings.HasPrefix(id, Prefix) }

// ID is the deterministic journal id.
func ID(contractID string, seq int64, period string, kind Kind) string {
	return Prefix + url.PathEscape(contractID) + "/" + strconv.FormatInt(seq, 10) + "/" + period + "/" + string(kind)
}

// New builds the journal of kind for amount > 0.
func New(a Accounts, contractID string, seq int64, period string, kind Kind, date contract.Date, currency, source string, amount int64) Journal {
	var dr, cr string
	switch kind {
	case Invoice:
		dr, cr = a.Receivable, a.Deferred
	case CreditNote:
		dr, cr = a.Deferred, a.Receivable
	case Recognition:
		dr, cr = a.Deferred, a.Revenue
	case RecognitionReversal:
		dr, cr = a.Revenue, a.Deferred
	}
	return Journal{
		ID:         ID(contractID, seq, period, kind),
		ContractID: contractID,
		Seq:        seq,
		Period:     period,
		Kind:       kind,
		Date:       date,
		Currency:   currency,
		Source:     source,
		Lines:      []ledger.Line{{Account: dr, Debit: amount}, {Account: cr, Credit: amount}},
	}
}

// Check verifies that j may be posted (ledger.Check; its errors wrap
// ledger.ErrUnbalanced).
func (j Journal) Check() error { return ledger.Check(j.ID, j.Currency, j.Lines) }

// Amount is the journal's total debit.
func (j Journal) Amount() int64 { return ledger.Debits(j.Lines) }

// Effect is the signed change j makes to account (debit positive).
func (j Journal) Effect(account string) int64 { return ledger.Effect(account, j.Lines...) }
