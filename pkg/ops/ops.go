// Package ops is the one place operational exceptions (ops.exceptions.v1)
// are built and decisions (ops.decisions.v1) are routed to the service that
// owns them:
//
//   - Owner names a service that raises exceptions: its owner_service, the
//     code its exception ids start with, and its default queue.
//   - One id scheme: "<code>:<part>:…:<part>", deterministic from the
//     cause, so a replay raises the same id (Owner.ExceptionID, Owner.Parts).
//   - One builder (Owner.Event) with one queue table and one severity
//     mapping; what a service knows of an exception is an Exception.
//   - One decision router (Owner.Decision): a decision for another owner is
//     not this service's business; one it owns is decoded and checked.
//   - A processor middleware (Raise) turns a handler's business error
//     (errs.Business, usually made with Fail) into an OPEN exception with the
//     input's context, so handlers stop building them.
//
// A test fails when contracts.OperationalException is constructed anywhere
// else outside tests.
package ops

import (
	"strings"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// Owner is a service that raises exceptions and acts on decisions for them.
type Owner struct {
	// Service is the owner_service of its exceptions and decisions.
	Service string
	// Code starts its exception ids ("qto", "csx", …).
	Code string
	// Queue is where its exceptions go when their category has no queue of
	// its own (see QueueOf).
	Queue string
	// Source is the source_system of the events it emits.
	Source string
	// Legacy are the prefixes of exception ids earlier releases of the
	// owner minted in another form; they stay the owner's (Owns), so
	// decisions on exceptions raised before an upgrade still reach it.
	Legacy []string
}

// ExceptionID is the id of an exception of o: its code and parts joined
// with ':'. Only the last part may contain ':' (Parts splits it back).
func (o Owner) ExceptionID(parts ...string) string {
	return o.Code + ":" + strings.Join(parts, ":")
}

// Parts splits an exception id of o into its n parts; ok is false for an id
// of another owner or of another shape.
func (o Owner) Parts(id string, n int) ([]string, bool) {
	rest, ok := strings.CutPrefix(id, o.Code+":")
	if !ok || n < 1 {
		return nil, false
	}
	parts := strings.SplitN(rest, ":", n)
	if len(parts) != n {
		return nil, false
	}
	for _, p := range parts {
		if p == "" {
			return nil, false
		}
	}
	return parts, true
}

// Owns reports whether id is an exception id of o, of today's form or a
// legacy one.
func (o Owner) Owns(id string) bool { return strings.HasPrefix(id, o.Code+":") || o.legacy(id) }

func (o Owner) legacy(id string) bool {
	for _, p := range o.Legacy {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// queues is the one category → queue table; a category not in it goes to
// its owner's queue.
var queues = map[string]string{
	contracts.ExceptionCategoryExportControl:         contracts.ExceptionQueueTradeCompliance,
	contracts.ExceptionCategoryTaxConfiguration:      contracts.ExceptionQueueFinanceOps,
	contracts.ExceptionCategoryCreditHold:            contracts.ExceptionQueueFinanceOps,
	contracts.ExceptionCategoryJournalRejected:       contracts.ExceptionQueueFinanceOps,
	contracts.ExceptionCategoryBillingRejected:       contracts.ExceptionQueueFinanceOps,
	contracts.ExceptionCategoryInvalidMasterData:     contracts.ExceptionQueueMasterData,
	contracts.ExceptionCategoryProbableDuplicate:     contracts.ExceptionQueueMasterData,
	contracts.ExceptionCategoryOwnershipConflict:     contracts.ExceptionQueueMasterData,
	contracts.ExceptionCategoryNotEntitled:           contracts.ExceptionQueueSalesOps,
	contracts.ExceptionCategoryPartUnavailable:       contracts.ExceptionQueueServiceOps,
	contracts.ExceptionCategoryWarrantyClaimRejected: contracts.ExceptionQueueFinanceOps,
}

// QueueOf is the queue of an exception of category raised by o.
func (o Owner) QueueOf(category string) string {
	if q, ok := queues[category]; ok {
		return q
	}
	if o.Queue != "" {
		return o.Queue
	}
	return contracts.ExceptionQueueUnknown
}

// Severity maps a severity in any casing to its ops.exceptions.v1 symbol:
// "" is MEDIUM, a word that is no severity is UNKNOWN.
func Severity(s string) string {
	switch u := strings.ToUpper(strings.TrimSpace(s)); u {
	case "":
		return contracts.SeverityMedium
	case contracts.SeverityLow, contracts.SeverityMedium, contracts.SeverityHigh, contracts.SeverityCritical:
		return u
	}
	return contracts.SeverityUnknown
}

// Exception is what a service knows of an exception, raised or updated.
type Exception struct {
	ID       string
	Category string // "" is OTHER
	Queue    string // "" is QueueOf(Category)
	Severity string // any casing; see Severity
	Status   string // "" is OPEN
	Summary  string
	// Entities are the ids of the entities involved; Context the rest, as
	// text.
	Entities map[string]string
	Context  map[string]string
	// Suggested is what the queue should do, in words ("" is none).
	Suggested string
	// Allowed are the decision actions the owner accepts while the
	// exception is open.
	Allowed []string
	// Decision is the decision this update is the outcome of ("" none).
	Decision string
}

// Ended reports whether status ends an exception (RESOLVED, CLOSED).
func Ended(status string) bool {
	return status == contracts.ExceptionStatusResolved || status == contracts.ExceptionStatusClosed
}

// Event is the ops.exceptions.v1 value of x raised by o, with metadata md.
// An ended exception allows no action and suggests none.
func (o Owner) Event(x Exception, md contracts.EventMetadata) contracts.OperationalException {
	if x.Category == "" {
		x.Category = contracts.ExceptionCategoryOther
	}
	if x.Queue == "" {
		x.Queue = o.QueueOf(x.Category)
	}
	if x.Status == "" {
		x.Status = contracts.ExceptionStatusOpen
	}
	v := contracts.OperationalException{
		Metadata: md, ExceptionID: x.ID, Category: x.Category, Queue: x.Queue, Severity: Severity(x.Severity),
		Status: x.Status, OwnerService: o.Service, Summary: x.Summary,
		EntityIds: copyMap(x.Entities), Context: copyMap(x.Context), AllowedActions: append([]string{}, x.Allowed...),
	}
	if Ended(x.Status) {
		v.AllowedActions = []string{}
	} else if x.Suggested != "" {
		s := x.Suggested
		v.SuggestedAction = &s
	}
	if x.Decision != "" {
		d := x.Decision
		v.DecisionID = &d
	}
	return v
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
