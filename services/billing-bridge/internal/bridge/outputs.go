package bridge

import (
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/revenue"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/schedule"
)

// Status says what happened to an incoming deal.
type Status string

// Deal outcomes (errors are returned separately).
const (
	StatusApplied   Status = "APPLIED"   // applied, with any held successors
	StatusHeld      Status = "HELD"      // out of order: kept until its predecessor arrives
	StatusDuplicate Status = "DUPLICATE" // already applied or held: no output
	StatusNoChange  Status = "NO_CHANGE" // an acknowledgment that changed nothing
	// StatusSuperseded: an invoice billing issued on the schedule of an
	// amendment the contract has since moved past; billing re-issues it
	// under the later amendment, so it changes nothing and raises nothing.
	StatusSuperseded Status = "SUPERSEDED"
)

// Outputs is everything one input produces, in a deterministic order. The
// adapter maps each list onto its topic: Commands → billing.commands.v1,
// Revenue → billing.revenue-schedule.v1, Journals → erp.journal-commands.v1,
// Exceptions → ops.exceptions.v1.
type Outputs struct {
	Status Status `json:"status"`
	// Applied lists the sequences applied by this input (the deal itself and
	// any held successors it released).
	Applied    []int64           `json:"applied,omitempty"`
	Commands   []BillingCommand  `json:"commands,omitempty"`
	Revenue    []RevenueEntry    `json:"revenue,omitempty"`
	Journals   []journal.Journal `json:"journals,omitempty"`
	Exceptions []Exception       `json:"exceptions,omitempty"`
	// Reposts lists the journals reposted into a later period on their
	// own (a PERIOD_CLOSED rejection), for the audit log and metrics.
	Reposts []Repost `json:"reposts,omitempty"`
}

// Repost records one journal reposted after a rejection.
type Repost struct {
	Rejected string        `json:"rejected"`
	Journal  string        `json:"journal"`
	Reason   string        `json:"reason"`
	Date     contract.Date `json:"date"`
	// Scheduled: the new period has not opened yet; the journal is sent
	// when it does.
	Scheduled bool `json:"scheduled,omitempty"`
	// Decision is the operator's decision that asked for it ("" when
	// automatic).
	Decision string `json:"decision,omitempty"`
}

func (o *Outputs) add(p Outputs) {
	o.Applied = append(o.Applied, p.Applied...)
	o.Commands = append(o.Commands, p.Commands...)
	o.Revenue = append(o.Revenue, p.Revenue...)
	o.Journals = append(o.Journals, p.Journals...)
	o.Exceptions = append(o.Exceptions, p.Exceptions...)
	o.Reposts = append(o.Reposts, p.Reposts...)
}

// CommandKind is what a billing command asks of the billing system.
type CommandKind string

// Billing commands.
const (
	ProvisionSubscription CommandKind = "PROVISION_SUBSCRIPTION"
	UpdateSubscription    CommandKind = "UPDATE_SUBSCRIPTION"
	CancelSubscription    CommandKind = "CANCEL_SUBSCRIPTION"
	// InvoiceSchedule replaces the contract's whole schedule: documents not
	// yet issued are replaced or withdrawn, issued ones are kept as they are.
	InvoiceSchedule CommandKind = "INVOICE_SCHEDULE"
)

// BillingCommand is one command on billing.commands.v1. ID is deterministic
// (contract, sequence, kind), so the billing system can drop re-sends.
type BillingCommand struct {
	ID             string             `json:"id"`
	Kind           CommandKind        `json:"kind"`
	ContractID     string             `json:"contract_id"`
	Seq            int64              `json:"seq"`
	SubscriptionID string             `json:"subscription_id,omitempty"`
	CustomerID     string             `json:"customer_id"`
	Currency       string             `json:"currency"`
	Frequency      contract.Frequency `json:"frequency"`
	Start          contract.Date      `json:"start"`
	End            contract.Date      `json:"end"`
	// Effective is the first day the update or cancellation applies.
	Effective contract.Date   `json:"effective,omitempty"`
	Change    contract.Change `json:"change,omitempty"`
	// Lines is the line set from Effective (or Start) on.
	Lines []contract.Line `json:"lines,omitempty"`
	// Schedule is the full invoice schedule (InvoiceSchedule only).
	Schedule []schedule.Doc `json:"schedule,omitempty"`
	// CreditAmount is the total credited for unused prepaid service
	// (CancelSubscription only; positive minor units).
	CreditAmount int64 `json:"credit_amount,omitempty"`
}

// RevenueEntry is one record of billing.revenue-schedule.v1: a contract's
// month after the change with sequence Seq. A month that left the schedule
// (a cancellation) is sent once with zero amounts.
type RevenueEntry struct {
	ContractID string `json:"contract_id"`
	Currency   string `json:"currency"`
	Seq        int64  `json:"seq"`
	revenue.Entry
}

// Exception categories.
const (
	CategoryAmendmentGap      = "amendment_gap"      // held past its SLA
	CategoryAmendmentRejected = "amendment_rejected" // a held amendment failed when released
	CategoryJournalRejected   = "journal_rejected"   // the ERP rejected a journal
	CategoryInvoiceMismatch   = "invoice_mismatch"   // billing issued a different amount
)

// LegacyExceptionPrefix starts the ids of exceptions raised by releases
// before pkg/ops: "EX/" + the id of today's form, which was then also the
// ops.exceptions.v1 id. A state saved by such a release tracks them under
// these ids, and their later updates keep them (State.trackedID).
const LegacyExceptionPrefix = "EX/"

// QueueFinanceOps owns every billing-bridge exception.
const QueueFinanceOps = "finance-ops"

// Field is one item of an exception's context.
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Exception is one business exception for ops.exceptions.v1.
type Exception struct {
	// ID is deterministic: raising the same exception twice has the same
	// id. It names the exception within billing-bridge (the state tracks
	// exceptions by it): "JE/<contract>/…/journal_rejected",
	// "BC/<contract>/…/<category>", "<contract>/…/<category>". The
	// adapter makes it the ops.exceptions.v1 id (adapter.Owner). An
	// exception raised before that keeps its id of then
	// (LegacyExceptionPrefix).
	ID         string  `json:"id"`
	Category   string  `json:"category"`
	Queue      string  `json:"queue"`
	Severity   string  `json:"severity"`
	ContractID string  `json:"contract_id"`
	Seq        int64   `json:"seq,omitempty"`
	Reason     string  `json:"reason"`
	Message    string  `json:"message"`
	Context    []Field `json:"context,omitempty"`
	// Status is the exception's status after this update ("" is OPEN, a
	// newly raised exception); DecisionID the decision it answers.
	Status     string `json:"status,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
}

// Exception statuses (ops.exceptions.v1).
const (
	ExceptionOpen     = "OPEN"
	ExceptionRetrying = "RETRYING"
	ExceptionResolved = "RESOLVED"
	ExceptionClosed   = "CLOSED"
)
