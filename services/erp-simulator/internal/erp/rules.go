// Package erp holds the simulated ERP's decision rules: which order lines
// it rejects (export control, missing tax configuration), which journals
// it refuses, the terms and credit it gives new customers, how long it
// takes to answer and when it is down. Every decision is a pure function of
// the command and the seed, so a replayed command gets the same answer.
package erp

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Rules configure the simulated ERP.
type Rules struct {
	Seed uint64
	// ExportRestricted are ship-to countries (ISO 3166-1 alpha-2) that
	// need an export licence nobody has: such lines are rejected.
	ExportRestricted map[string]bool
	// TaxMissing are pricing regions or ship-to countries without tax
	// configuration: lines for them are rejected.
	TaxMissing map[string]bool
	// GLAccounts are the ledger account numbers journals may post to (the
	// digits before the first '-' of a journal line's account).
	GLAccounts map[string]bool
	// JournalRejectBps is the share of valid journals rejected anyway
	// (period closed), in basis points.
	JournalRejectBps int
	// CreditHoldBps is the share of new customers put on credit hold.
	CreditHoldBps int
	// PartShortageBps is the share of service orders that wait for a part
	// on back order (PART_UNAVAILABLE before PARTS_ISSUED).
	PartShortageBps int
	// ClaimRejectBps is the share of valid warranty claims the
	// manufacturer rejects (misuse found).
	ClaimRejectBps int
	// InspectionRefuseBps is the share of returned units inspection
	// refuses (no credit).
	InspectionRefuseBps int
}

// ParseSet parses a comma-separated list of codes into an upper-case set.
func ParseSet(v string) map[string]bool {
	out := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.ToUpper(strings.TrimSpace(s)); s != "" {
			out[s] = true
		}
	}
	return out
}

// Roll returns a deterministic number in [0, 10000) for the parts (the
// same for the same seed and parts).
func (r Rules) Roll(parts ...string) int { return r.roll(parts...) }

// roll returns a deterministic number in [0, 10000) for the parts.
func (r Rules) roll(parts ...string) int {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d", r.Seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return int(h.Sum64() % 10000)
}

// LineDecision is the ERP's verdict on one order line.
type LineDecision struct {
	Line    contracts.OrderLine
	Reason  string // "" when accepted; contracts.RejectionReason*
	Message string
}

// OrderDecision is the ERP's answer to an order command.
type OrderDecision struct {
	Status        string // ACCEPTED, PARTIALLY_REJECTED or REJECTED
	Lines         []LineDecision
	AcceptedTotal int64
	Messages      []contracts.ERPMessage
}

// DecideOrder checks every line of a CREATE command. A line is not
// rejected for a reason the command overrides (an approved operator
// override: a licence exception, a tax ruling).
func (r Rules) DecideOrder(cmd *contracts.OrderCommand) OrderDecision {
	var d OrderDecision
	accepted := 0
	for _, l := range cmd.Lines {
		ld := LineDecision{Line: l}
		ship := strings.ToUpper(l.ShipToCountry)
		waived := func(reason string) bool { return slices.Contains(cmd.Overrides, reason) }
		switch {
		case r.ExportRestricted[ship] && !waived(contracts.RejectionReasonExportControl):
			ld.Reason = contracts.RejectionReasonExportControl
			ld.Message = fmt.Sprintf("ECCN 2B999: export of %s to %s requires a licence (embargo list)", l.SKU, ship)
		case (r.TaxMissing[strings.ToUpper(cmd.Region)] || r.TaxMissing[ship]) && !waived(contracts.RejectionReasonTaxConfiguration):
			ld.Reason = contracts.RejectionReasonTaxConfiguration
			ld.Message = fmt.Sprintf("TAX-404: no tax determination configured for region %s, ship-to %s", cmd.Region, ship)
		default:
			accepted++
			d.AcceptedTotal += l.LineTotal.AmountMinor
		}
		if ld.Reason != "" {
			n := l.LineNumber
			d.Messages = append(d.Messages, contracts.ERPMessage{Code: ld.Reason, Text: ld.Message, LineNumber: &n})
		}
		d.Lines = append(d.Lines, ld)
	}
	switch {
	case accepted == len(cmd.Lines) && accepted > 0:
		d.Status = contracts.ErpOrderStateAccepted
	case accepted == 0:
		d.Status = contracts.ErpOrderStateRejected
		if len(cmd.Lines) == 0 {
			d.Messages = append(d.Messages, contracts.ERPMessage{Code: "EMPTY_ORDER", Text: "order has no lines"})
		}
	default:
		d.Status = contracts.ErpOrderStatePartiallyRejected
	}
	return d
}

// JournalDecision is the ERP's answer to a journal command.
type JournalDecision struct {
	Status  string // POSTED or REJECTED
	Code    string
	Message string
}

// DecideJournal posts a balanced journal on known accounts, and rejects a
// configurable share of the rest as "period closed".
func (r Rules) DecideJournal(cmd *contracts.JournalCommand) JournalDecision {
	if len(cmd.Lines) == 0 {
		return JournalDecision{contracts.JournalStatusRejected, "EMPTY", "journal has no lines"}
	}
	var dr, cr int64
	for _, l := range cmd.Lines {
		acct, _, _ := strings.Cut(l.Account, "-")
		if !r.GLAccounts[acct] {
			return JournalDecision{contracts.JournalStatusRejected, "INVALID_ACCOUNT", fmt.Sprintf("GL account %q does not exist in the chart of accounts", l.Account)}
		}
		if l.Debit.Currency != cmd.Currency && l.Debit.AmountMinor != 0 || l.Credit.Currency != cmd.Currency && l.Credit.AmountMinor != 0 {
			return JournalDecision{contracts.JournalStatusRejected, "CURRENCY_MISMATCH", fmt.Sprintf("line %d is not in %s", l.LineNumber, cmd.Currency)}
		}
		dr += l.Debit.AmountMinor
		cr += l.Credit.AmountMinor
	}
	if dr != cr {
		return JournalDecision{contracts.JournalStatusRejected, "UNBALANCED", fmt.Sprintf("debits %d != credits %d", dr, cr)}
	}
	if r.roll("journal", cmd.JournalCommandID) < r.JournalRejectBps {
		return JournalDecision{contracts.JournalStatusRejected, "PERIOD_CLOSED", "posting period " + cmd.PostingDate.Format("2006-01") + " is closed for this company code"}
	}
	return JournalDecision{Status: contracts.JournalStatusPosted}
}

// CustomerTerms are what the ERP gives a new customer.
type CustomerTerms struct {
	PaymentTerms string
	CreditStatus string
	CreditLimit  int64 // minor units of Currency
	Currency     string
}

var regionLimitUSD = map[string]int64{"NA": 50_000_000, "EMEA": 40_000_000, "APAC": 30_000_000, "LATAM": 15_000_000}

// NewCustomerTerms derives payment terms and credit for a golden customer
// in a country (whose currency and region are given).
func (r Rules) NewCustomerTerms(goldenID, region, currency string) CustomerTerms {
	t := CustomerTerms{Currency: currency, CreditStatus: contracts.CreditStatusActive}
	switch x := r.roll("terms", goldenID); {
	case x < 6000:
		t.PaymentTerms = "NET30"
	case x < 8500:
		t.PaymentTerms = "NET45"
	default:
		t.PaymentTerms = "NET60"
	}
	if r.roll("hold", goldenID) < r.CreditHoldBps {
		t.CreditStatus = contracts.CreditStatusHold
	}
	base := regionLimitUSD[region]
	if base == 0 {
		base = 10_000_000
	}
	// 0.5x to 2x the regional base, in the customer's currency.
	limit := base * int64(50+r.roll("limit", goldenID)%150) / 100
	t.CreditLimit = ConvertUSD(limit, currency)
	return t
}

// ConvertUSD converts US cents into minor units of currency (exact
// rational rates, rounded down).
func ConvertUSD(cents int64, currency string) int64 {
	switch currency {
	case "EUR":
		return cents * 92 / 100
	case "GBP":
		return cents * 79 / 100
	case "JPY":
		return cents * 150 / 100
	case "AUD":
		return cents * 152 / 100
	}
	return cents
}

// Latency is a uniform answer delay between Min and Max.
type Latency struct{ Min, Max time.Duration }

// ParseLatency parses "200ms-2s" (or a single duration).
func ParseLatency(v string) (Latency, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(v), "-")
	a, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return Latency{}, fmt.Errorf("%q is not MIN-MAX durations (e.g. 200ms-2s)", v)
	}
	b := a
	if found {
		if b, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil {
			return Latency{}, fmt.Errorf("%q is not MIN-MAX durations (e.g. 200ms-2s)", v)
		}
	}
	if a < 0 || b < a {
		return Latency{}, fmt.Errorf("%q: need 0 <= MIN <= MAX", v)
	}
	return Latency{a, b}, nil
}

// For returns the delay for an answer identified by parts (deterministic).
func (l Latency) For(r Rules, parts ...string) time.Duration {
	if l.Max <= l.Min {
		return l.Min
	}
	span := int64(l.Max - l.Min)
	return l.Min + time.Duration(int64(r.roll(parts...))*span/10000)
}

// Downtime is a recurring maintenance window: every Every, the last For
// of the period (aligned on the Unix epoch) the ERP does not answer.
type Downtime struct{ Every, For time.Duration }

// ParseDowntime parses "every 5m for 30s"; "" or "none" is no downtime.
func ParseDowntime(v string) (Downtime, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	if v == "" || v == "none" || v == "off" {
		return Downtime{}, nil
	}
	f := strings.Fields(v)
	if len(f) != 4 || f[0] != "every" || f[2] != "for" {
		return Downtime{}, fmt.Errorf("%q is not \"every DURATION for DURATION\" (e.g. every 5m for 30s)", v)
	}
	every, err1 := time.ParseDuration(f[1])
	dur, err2 := time.ParseDuration(f[3])
	if err := errors.Join(err1, err2); err != nil {
		return Downtime{}, fmt.Errorf("%q: %v", v, err)
	}
	if every <= 0 || dur <= 0 || dur >= every {
		return Downtime{}, fmt.Errorf("%q: need 0 < for < every", v)
	}
	return Downtime{Every: every, For: dur}, nil
}

// Down reports whether the ERP is in a maintenance window at now.
func (d Downtime) Down(now time.Time) bool {
	if d.Every <= 0 {
		return false
	}
	pos := time.Duration(now.UnixNano() % int64(d.Every))
	return pos >= d.Every-d.For
}

// String renders the window as it is parsed.
func (d Downtime) String() string {
	if d.Every <= 0 {
		return "none"
	}
	return "every " + d.Every.String() + " for " + d.For.String()
}

// SortedKeys lists a set.
func SortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ERPNumber formats the ERP customer number for a partition's sequence.
func ERPNumber(partition int32, seq int64) string {
	return strconv.Itoa(int(1+partition)) + fmt.Sprintf("%06d", seq)
}
