// Package parity compares what the legacy and the new ERP path answered
// for one entity of a flow in SHADOW (erp.path-results.v1) and decides the
// verdict published on recon.parity.v1: MATCH, DIFFERENT with the
// differing fields, or MISSING_NEW / MISSING_LEGACY when one path has not
// answered within the window.
//
// Compare is pure. Engine keeps each entity's two latest answers in a
// state store and the waiting windows in a timer index (pkg/processor), so
// a verdict, its state and its timer commit together.
package parity

import (
	"slices"
	"strconv"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Compare lists the differences between the legacy and the new path's
// answer: the status, the total, each line's status, confirmed quantity
// and rejection reason by line number, and every key of Fields. The
// paths' own numbers (ERP id), the command id and the metadata are never
// compared. Field names: "status", "total", "line[2].status",
// "line[2].quantity_confirmed", "line[2].rejection_reason", "line[3]" (a
// line only one path has), "fields.name".
func Compare(legacy, next *contracts.PathResult) []contracts.ParityDifference {
	out := []contracts.ParityDifference{}
	diff := func(field string, l, n *string) {
		if (l == nil) != (n == nil) || l != nil && *l != *n {
			out = append(out, contracts.ParityDifference{Field: field, Legacy: l, New: n})
		}
	}
	diff("status", &legacy.Status, &next.Status)
	diff("total", money(legacy.Total), money(next.Total))
	ll, nl := lines(legacy.Lines), lines(next.Lines)
	nums := make([]int, 0, len(ll)+len(nl))
	for n := range ll {
		nums = append(nums, n)
	}
	for n := range nl {
		if _, ok := ll[n]; !ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for _, n := range nums {
		name := "line[" + strconv.Itoa(n) + "]"
		a, aok := ll[n]
		b, bok := nl[n]
		if !aok || !bok {
			diff(name, lineText(a, aok), lineText(b, bok))
			continue
		}
		diff(name+".status", &a.Status, &b.Status)
		qa, qb := strconv.FormatInt(a.QuantityConfirmed, 10), strconv.FormatInt(b.QuantityConfirmed, 10)
		diff(name+".quantity_confirmed", &qa, &qb)
		diff(name+".rejection_reason", a.RejectionReason, b.RejectionReason)
	}
	keys := make([]string, 0, len(legacy.Fields)+len(next.Fields))
	for k := range legacy.Fields {
		keys = append(keys, k)
	}
	for k := range next.Fields {
		if _, ok := legacy.Fields[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		diff("fields."+k, field(legacy.Fields, k), field(next.Fields, k))
	}
	return out
}

// Verdict is MATCH without differences, else DIFFERENT.
func Verdict(diffs []contracts.ParityDifference) string {
	if len(diffs) == 0 {
		return contracts.ParityVerdictMatch
	}
	return contracts.ParityVerdictDifferent
}

func money(m *contracts.Money) *string {
	if m == nil {
		return nil
	}
	s := strconv.FormatInt(m.AmountMinor, 10) + " " + m.Currency
	return &s
}

func lines(ls []contracts.OrderLineStatus) map[int]contracts.OrderLineStatus {
	out := make(map[int]contracts.OrderLineStatus, len(ls))
	for _, l := range ls {
		out[l.LineNumber] = l
	}
	return out
}

// lineText describes a line only one path has: its SKU, status and
// confirmed quantity.
func lineText(l contracts.OrderLineStatus, ok bool) *string {
	if !ok {
		return nil
	}
	s := l.SKU + " " + l.Status + " x" + strconv.FormatInt(l.QuantityConfirmed, 10)
	return &s
}

func field(f map[string]string, k string) *string {
	v, ok := f[k]
	if !ok {
		return nil
	}
	return &v
}
