package contract

import (
	"slices"
)

// Segment is a line set in force from From until the next segment's From
// (or the end of the term).
type Segment struct {
	From  Date   `json:"from"`
	Lines []Line `json:"lines"`
}

// Terms is the contract as of its latest applied sequence: the term, and the
// timeline of line sets. Everything billed or recognised is a function of it.
type Terms struct {
	ContractID string    `json:"contract_id"`
	CustomerID string    `json:"customer_id"`
	Currency   string    `json:"currency"`
	Frequency  Frequency `json:"frequency"`
	// Start and End are the current term [Start, End), after renewals and
	// cancellation.
	Start Date `json:"start"`
	End   Date `json:"end"`
	// CanceledAt is set once a CANCEL is applied.
	CanceledAt Date `json:"canceled_at,omitempty"`
	// LastChange is the latest effective date applied; a later change may not
	// take effect before it.
	LastChange Date `json:"last_change"`
	// Segments are sorted by From; the first starts at Start.
	Segments []Segment `json:"segments"`
	// Seq is the last applied sequence.
	Seq int64 `json:"seq"`
}

// FromNew returns the terms created by a valid NEW deal.
func FromNew(d Deal) Terms {
	return Terms{
		ContractID: d.ContractID,
		CustomerID: d.CustomerID,
		Currency:   DealCurrency(d),
		Frequency:  d.Frequency,
		Start:      d.Start,
		End:        d.End,
		LastChange: d.Start,
		Segments:   []Segment{{From: d.Start, Lines: NormaliseLines(d.Lines)}},
		Seq:        d.Seq,
	}
}

// LinesAt returns the line set in force on day (ignoring the term's end).
func (t Terms) LinesAt(day Date) []Line {
	var lines []Line
	for _, s := range t.Segments {
		if s.From > day {
			break
		}
		lines = s.Lines
	}
	return lines
}

// PeriodAmount is the value of one full billing period of a line set.
func PeriodAmount(lines []Line) int64 {
	var total int64
	for _, l := range lines {
		total += l.PeriodAmount()
	}
	return total
}

// Apply returns the terms after the AMEND, RENEW or CANCEL d, which must be
// valid (Validate) and the next in sequence. Violations of the contract are
// Business errors; t is never modified.
func (t Terms) Apply(d Deal) (Terms, error) {
	if t.CanceledAt != 0 {
		return t, Business(d, ErrContractCanceled, "canceled from %s", t.CanceledAt)
	}
	if c := DealCurrency(d); c != "" && c != t.Currency {
		return t, Business(d, ErrCurrencyChanged, "deal in %s, contract in %s", c, t.Currency)
	}
	if d.Frequency != "" && d.Frequency != t.Frequency {
		return t, Business(d, ErrFrequencyChanged, "deal %s, contract %s", d.Frequency, t.Frequency)
	}
	n := t
	n.Segments = slices.Clone(t.Segments)
	n.Seq = d.Seq
	switch d.Kind {
	case KindAmend:
		if d.Effective < t.Start || d.Effective >= t.End {
			return t, Business(d, ErrEffectiveOutsideTerm, "%s not in [%s, %s)", d.Effective, t.Start, t.End)
		}
		if d.Effective < t.LastChange {
			return t, Business(d, ErrEffectiveBeforeLastChange, "%s < %s", d.Effective, t.LastChange)
		}
		old, lines := t.LinesAt(d.Effective), NormaliseLines(d.Lines)
		if err := checkChange(d, old, lines); err != nil {
			return t, err
		}
		n.setFrom(d.Effective, lines)
		n.LastChange = d.Effective
	case KindRenew:
		if d.End <= t.End {
			return t, Business(d, ErrRenewalNotExtending, "new end %s, current end %s", d.End, t.End)
		}
		if int(d.End-t.Start) > MaxTermDays {
			return t, Business(d, ErrTermTooLong, "%d days", d.End-t.Start)
		}
		if len(d.Lines) > 0 {
			n.setFrom(t.End, NormaliseLines(d.Lines))
		}
		n.LastChange = t.End
		n.End = d.End
	case KindCancel:
		if d.Effective < t.Start || d.Effective >= t.End {
			return t, Business(d, ErrEffectiveOutsideTerm, "%s not in [%s, %s)", d.Effective, t.Start, t.End)
		}
		if d.Effective < t.LastChange {
			return t, Business(d, ErrEffectiveBeforeLastChange, "%s < %s", d.Effective, t.LastChange)
		}
		n.End = d.Effective
		n.CanceledAt = d.Effective
		n.LastChange = d.Effective
		// Segments starting on or after the cancellation never take effect;
		// the first segment stays as the record of what was sold.
		keep := 1
		for keep < len(n.Segments) && n.Segments[keep].From < d.Effective {
			keep++
		}
		n.Segments = n.Segments[:keep]
	default:
		return t, Poison(d, ErrUnknownKind, "%q cannot amend", d.Kind)
	}
	return n, nil
}

// setFrom makes lines the line set from day on.
func (t *Terms) setFrom(day Date, lines []Line) {
	if last := len(t.Segments) - 1; t.Segments[last].From == day {
		t.Segments[last] = Segment{From: day, Lines: lines}
		return
	}
	t.Segments = append(t.Segments, Segment{From: day, Lines: lines})
}

func checkChange(d Deal, old, lines []Line) error {
	before, after := PeriodAmount(old), PeriodAmount(lines)
	switch d.Change {
	case ChangeUpsell:
		if after <= before {
			return Business(d, ErrChangeMismatch, "UPSELL from %d to %d per period", before, after)
		}
	case ChangeDownsell:
		if after >= before {
			return Business(d, ErrChangeMismatch, "DOWNSELL from %d to %d per period", before, after)
		}
	case ChangePriceChange:
		same := len(old) == len(lines)
		changed := false
		for i := 0; same && i < len(old); i++ {
			same = old[i].SKU == lines[i].SKU && old[i].Quantity == lines[i].Quantity
			changed = changed || old[i].UnitPrice != lines[i].UnitPrice
		}
		if !same || !changed {
			return Business(d, ErrChangeMismatch, "PRICE_CHANGE must keep SKUs and quantities and change a price")
		}
	}
	return nil
}

// NormaliseLines sorts lines by SKU and drops the per-line currency (the contract
// has exactly one), so that equal line sets compare and serialise equally.
func NormaliseLines(lines []Line) []Line {
	out := make([]Line, len(lines))
	for i, l := range lines {
		l.Currency = ""
		out[i] = l
	}
	slices.SortFunc(out, func(a, b Line) int {
		switch {
		case a.SKU < b.SKU:
			return -1
		case a.SKU > b.SKU:
			return 1
		}
		return 0
	})
	return out
}
