package contracts

import (
	"net/url"
	"strconv"
	"strings"
)

// FieldServiceJournalID is the id field-service gives a journal command
// about a case (erp.journal-commands.v1): FS/<path-escaped case id>/<kind>,
// and /r<n> for the n-th repost of a rejected one. Other services (the
// reconciler) read the case back with ParseFieldServiceJournalID.
func FieldServiceJournalID(caseID, kind string, attempt int) string {
	id := "FS/" + url.PathEscape(caseID) + "/" + kind
	if attempt > 0 {
		id += "/r" + strconv.Itoa(attempt)
	}
	return id
}

// ParseFieldServiceJournalID is the case, kind and attempt of a
// field-service journal command id; ok is false for any other id
// (billing-bridge's, malformed).
func ParseFieldServiceJournalID(id string) (caseID, kind string, attempt int, ok bool) {
	rest, found := strings.CutPrefix(id, "FS/")
	if !found {
		return "", "", 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[1] == "" {
		return "", "", 0, false
	}
	if len(parts) == 3 {
		n, err := strconv.Atoi(strings.TrimPrefix(parts[2], "r"))
		if err != nil || n < 1 || parts[2] != "r"+strconv.Itoa(n) {
			return "", "", 0, false
		}
		attempt = n
	}
	c, err := url.PathUnescape(parts[0])
	if err != nil || c == "" || url.PathEscape(c) != parts[0] {
		return "", "", 0, false
	}
	return c, parts[1], attempt, true
}

// ServiceOrderWork is what a COMPLETED service order cost, as ERP reports
// it: the parts issued at standard cost and the labour, in the currency of
// those costs (else of the total).
func ServiceOrderWork(st *ServiceOrderStatus) (parts, labour int64, currency string) {
	for _, p := range st.Parts {
		parts += p.Quantity * p.UnitCost.AmountMinor
		currency = p.UnitCost.Currency
	}
	if st.LabourCost != nil {
		labour, currency = st.LabourCost.AmountMinor, st.LabourCost.Currency
	}
	if currency == "" && st.TotalCost != nil {
		currency = st.TotalCost.Currency
	}
	return parts, labour, currency
}
