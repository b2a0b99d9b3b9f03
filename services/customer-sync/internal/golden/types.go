// Package golden is the golden-customer aggregate of customer-sync: one
// State per match partition, and Apply(event) → outputs is the whole
// decision for an account, customer, contact or steward decision. It matches
// new source records (package match), keeps attributes by ownership
// (package survivorship) with lineage, maintains the cross-reference
// (package xref), parks contacts whose account is not known yet, and says
// what to publish: golden-record upserts, xref upserts, ERP customer
// commands, CRM account updates, field audit entries, exceptions, and the
// state changes to write to the changelog.
//
// Apply is deterministic: no clock (time comes from the events), no map
// iteration order in outputs, so replaying a partition's input from the
// beginning yields identical outputs and identical state bytes.
package golden

import (
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/ops"

	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// Field and System are the attribute and system names of survivorship.
type (
	Field  = survivorship.Field
	System = survivorship.System
)

// Meta is the common metadata every input event carries.
type Meta struct {
	EventID       string
	CorrelationID string
	OccurredAt    time.Time // required: the only notion of time Apply has
	// Forwarded: another match partition applied its part of the event
	// and forwarded it here (Outputs.Forward with Outputs.Partial).
	Forwarded bool
}

// Event is an input of Apply. The adapter decodes crm.account.v1,
// erp.customer.v1, crm.contact.v1 and ops.decisions.v1 into one of:
// SourceUpserted, SourceDeleted, ContactUpserted, ContactDeleted,
// StewardMerge, StewardNotDuplicate, EraseRequested.
type Event interface{ meta() Meta }

func (m Meta) meta() Meta { return m }

// SourceUpserted is a CRM account, ERP customer or billing account created
// or changed. Attrs hold the attributes the source sent; an empty value
// means "not sent" (it does not clear the golden value).
type SourceUpserted struct {
	Meta
	System   System
	RecordID string
	Attrs    map[Field]string
	// GoldenRef is the golden id the source record says it belongs to (an
	// ERP customer created by our CREATE command carries it back). Optional.
	GoldenRef string
	// CommandID is set when the record answers one of our commands (the ERP
	// echoes command_id): its values of attributes the system does not own
	// are echoes of what we sent, never changes by that system.
	CommandID string
}

// SourceDeleted is a source record deleted (a CRM account tombstone or
// delete operation): its membership is retired, the golden record stays.
type SourceDeleted struct {
	Meta
	System   System
	RecordID string
}

// ContactUpserted is a CRM contact created or changed.
type ContactUpserted struct {
	Meta
	ContactID string
	AccountID string // CRM account id
	Name      string
	Email     string
	Phone     string
	Role      string
}

// ContactDeleted is a CRM contact deleted.
type ContactDeleted struct {
	Meta
	ContactID string
	AccountID string
}

// Ruling names the operator's decision a steward event carries out and the
// exception it answers, so its outcome can be published on that exception.
type Ruling struct {
	DecisionID  string
	ExceptionID string
	Category    string // ProbableDuplicate or OwnershipConflict
	Actor       string
}

// StewardMerge is a steward's decision that two golden records are one
// party: Merged is folded into Survivor.
type StewardMerge struct {
	Meta
	Ruling
	Survivor, Merged string
}

// StewardPick is a steward's decision on an ownership conflict: Field of
// golden record Golden takes Value (the surviving value), whoever owns it;
// the owner's later changes apply as usual.
type StewardPick struct {
	Meta
	Ruling
	Golden, Field, Value string
}

// StewardSplit is a steward's decision that source record Ref does not
// belong to golden record Golden: it leaves it for a new golden record of
// its own (with the attributes it contributed), and the two are marked not
// duplicates.
type StewardSplit struct {
	Meta
	Ruling
	Golden string
	Ref    xref.Ref
}

// StewardRefused is a steward decision the adapter refused before any
// state is involved (an action the exception does not accept, a missing
// parameter): Validate returns the reason, and the service publishes the
// exception back OPEN with it.
type StewardRefused struct {
	Meta
	Ruling
	Reason string
}

// RulingOf returns the ruling a steward event carries.
func RulingOf(ev Event) (Ruling, bool) {
	switch e := ev.(type) {
	case StewardMerge:
		return e.Ruling, true
	case Absorb:
		return e.Ruling, true
	case StewardNotDuplicate:
		return e.Ruling, true
	case StewardPick:
		return e.Ruling, true
	case StewardSplit:
		return e.Ruling, true
	case StewardClose:
		return e.Ruling, true
	case StewardRefused:
		return e.Ruling, true
	}
	return Ruling{}, false
}

// Refusal is the exception update of a steward decision that cannot be
// carried out: back OPEN, with the reason, answering the decision.
func Refusal(r Ruling, golden, reason string, m Meta) Exception {
	note := "decision refused: " + reason
	return Exception{ID: r.ExceptionID, Category: r.Category, Severity: "medium", GoldenID: golden,
		Message: note, Context: map[string]string{"outcome": note}, CorrelationID: m.CorrelationID, CausationID: m.EventID,
		OccurredAt: m.OccurredAt.UnixMilli(), Status: "OPEN", DecisionID: r.DecisionID}
}

// StewardClose is a steward's RESOLVE or DISMISS of an exception: nothing
// changes but the exception's status (Status RESOLVED or CLOSED).
type StewardClose struct {
	Meta
	Ruling
	Golden, Status string
}

// Absorb is the second half of a steward merge across match blocks: the
// partition holding Merged handed the record over (Outputs.Handover; Record
// is its JSON as persisted) to the block of Survivor, which adopts it and
// merges it as StewardMerge does.
type Absorb struct {
	StewardMerge
	Record []byte
}

// StewardNotDuplicate is a steward's decision that A and B are different
// parties: the pair is never proposed again.
type StewardNotDuplicate struct {
	Meta
	Ruling
	A, B string
}

// ParentResolved tells a golden record (Child) what the source record of
// its parent company (Ref) resolves to: its golden id and ERP customer
// number. The service answers every ParentAsk with it, and again whenever
// that source record's golden id or ERP customer changes.
type ParentResolved struct {
	Meta
	Child  string
	Ref    xref.Ref
	Golden string
	ERP    string
	// CRM is the parent's CRM account id, Path the parent's own ancestors
	// (nearest first). Unknown: no system has sent the parent source
	// record yet (an orphan until it comes).
	CRM     string
	Path    []string
	Unknown bool
}

// ParentAsk asks for the golden id of the parent source record Ref of
// golden record Child (answered with ParentResolved).
type ParentAsk struct {
	Child string
	Ref   xref.Ref
}

// EraseRequested is a GDPR-style erase request for a golden record, named by
// its id or by any member record.
type EraseRequested struct {
	Meta
	GoldenID string
	Ref      xref.Ref
}

// Member is a source record belonging to a golden record.
type Member struct {
	System     System  `json:"system"`
	RecordID   string  `json:"record_id"`
	Active     bool    `json:"active"`
	LinkedAt   int64   `json:"linked_at"`
	RetiredAt  int64   `json:"retired_at,omitempty"`
	LinkedBy   string  `json:"linked_by"` // "new", "auto_merge", "golden_ref", "steward_merge"
	MatchScore float64 `json:"match_score,omitempty"`
	// Copies fingerprints (copyOf) the last value this source record sent
	// for each attribute its system does not own: a source that resends its
	// (stale) copy has changed nothing, so only a changed copy can be an
	// ownership conflict.
	Copies map[Field]string `json:"copies,omitempty"`
}

// Contact is a CRM contact of a golden record. Golden is the golden contact
// (mdm.contact.v1) it is merged into: contacts of one golden record with the
// same e-mail address share one.
type Contact struct {
	ID      string               `json:"id"`
	Golden  string               `json:"golden,omitempty"`
	Name    string               `json:"name"`
	Email   string               `json:"email,omitempty"`
	Phone   string               `json:"phone,omitempty"`
	Role    string               `json:"role,omitempty"`
	Lineage survivorship.Lineage `json:"lineage"`
}

// Record is a golden customer record.
type Record struct {
	ID               string                       `json:"id"`
	Attrs            map[Field]survivorship.Value `json:"attributes,omitempty"`
	Members          []Member                     `json:"members,omitempty"`
	Contacts         []Contact                    `json:"contacts,omitempty"`
	ERPRequested     bool                         `json:"erp_requested,omitempty"`
	Erased           bool                         `json:"erased,omitempty"`
	ErasedAt         int64                        `json:"erased_at,omitempty"`
	MergedInto       string                       `json:"merged_into,omitempty"`
	NotDuplicates    []string                     `json:"not_duplicates,omitempty"`
	Proposed         []string                     `json:"proposed,omitempty"`
	OwnershipVersion int                          `json:"ownership_version"`
	UpdatedAt        int64                        `json:"updated_at"`
	// ParentRef is the source record of the parent company (hierarchy):
	// the ERP parent customer if the ERP names one, else the CRM parent
	// account. Parent is its golden id and ParentERP its ERP customer
	// number, as last resolved (ParentResolved).
	ParentRef xref.Ref `json:"parent_ref,omitzero"`
	Parent    string   `json:"parent,omitempty"`
	ParentERP string   `json:"parent_erp,omitempty"`
	// Hierarchy (hierarchy.go): ParentCRM is the parent's CRM account id
	// (pushed to CRM), Ancestors the golden ids above the record, nearest
	// first; Cycle is set while the parent is refused because it would
	// close a cycle, OrphanRef is the parent source record last reported as
	// unknown.
	ParentCRM string   `json:"parent_crm,omitempty"`
	Ancestors []string `json:"ancestors,omitempty"`
	Cycle     bool     `json:"cycle,omitempty"`
	CycleRef  xref.Ref `json:"cycle_ref,omitzero"` // the parent a cycle exception was raised for
	OrphanRef xref.Ref `json:"orphan_ref,omitzero"`
	// Territory assigned by the territory rules of TerritoryVersion
	// (territory.go); "" leaves the CRM's own territory.
	Territory        string `json:"territory,omitempty"`
	TerritoryVersion string `json:"territory_version,omitempty"`
	// Version counts the published changes of the record: +1 every time
	// Apply outputs it (mdm.customer.v1 version).
	Version int64 `json:"version"`
	// Settled lists the exceptions of the record a steward decision settled
	// (newest last, bounded): a later decision on one is a no-op.
	Settled []string `json:"settled,omitempty"`
}

// Owner is customer-sync as the owner of its exceptions and of the steward
// decisions on them (pkg/ops): exception ids "csx:<part>:…" (exceptionID),
// queue MASTER_DATA, events from CUSTOMER_SYNC. Exception ids of the older
// form "exc-…" (which name no golden record) stay its own: Owner.Decision
// passes decisions on them on without the field checks, and the adapter
// takes them as it always did (the action says the category; RESOLVE and
// DISMISS need nothing).
var Owner = ops.Owner{Service: "customer-sync", Code: "csx", Queue: contracts.ExceptionQueueMasterData, Source: contracts.SourceSystemCustomerSync,
	Legacy: []string{"exc-"}}

// Exception categories.
const (
	ProbableDuplicate = "PROBABLE_DUPLICATE"
	OwnershipConflict = "OWNERSHIP_CONFLICT"
)

// Candidate is a golden record proposed as a duplicate.
type Candidate struct {
	GoldenID string           `json:"golden_id"`
	Score    float64          `json:"score"`
	Evidence []match.Evidence `json:"evidence"`
}

// Exception is a business exception for ops.exceptions.v1. Its queue is
// not the domain's to choose: the event built from it (Owner.Event) takes
// Owner.QueueOf its category.
type Exception struct {
	// ID is deterministic (category, golden id, causing event), so a replay
	// produces the same exception id.
	ID            string            `json:"id"`
	Category      string            `json:"category"`
	Severity      string            `json:"severity"`
	GoldenID      string            `json:"golden_id"`
	Source        xref.Ref          `json:"source"`
	Message       string            `json:"message"`
	Candidates    []Candidate       `json:"candidates,omitempty"`
	Context       map[string]string `json:"context,omitempty"`
	CorrelationID string            `json:"correlation_id"`
	CausationID   string            `json:"causation_id"`
	OccurredAt    int64             `json:"occurred_at"`
	// Status is the status of an update of an exception ("": OPEN, newly
	// raised); DecisionID the steward decision it answers.
	Status     string `json:"status,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
}

// Audit is one field-change audit entry (audit.field-change.v1). Applied is
// false for an ownership conflict: the change was proposed, not made.
type Audit struct {
	GoldenID         string               `json:"golden_id"`
	Field            string               `json:"field"`
	Old              string               `json:"old"`
	New              string               `json:"new"`
	Source           survivorship.Lineage `json:"source"`
	Rule             string               `json:"rule"`
	Applied          bool                 `json:"applied"`
	OwnershipVersion int                  `json:"ownership_version"`
	CorrelationID    string               `json:"correlation_id"`
}

// XrefUpsert is one entry of mdm.xref.v1 (key: system/record id).
type XrefUpsert struct {
	Ref      xref.Ref   `json:"ref"`
	GoldenID string     `json:"golden_id"`
	Others   []xref.Ref `json:"others,omitempty"`
	Retired  bool       `json:"retired,omitempty"`
}

// ERP customer command kinds.
const (
	CreateCustomer = "CREATE"
	UpdateCustomer = "UPDATE"
)

// ERPCommand asks the ERP to create or update a customer
// (erp.customer-commands.v1). CommandID is deterministic.
type ERPCommand struct {
	CommandID         string           `json:"command_id"`
	Kind              string           `json:"kind"`
	GoldenID          string           `json:"golden_id"`
	ERPCustomerNumber string           `json:"erp_customer_number,omitempty"`
	Fields            map[Field]string `json:"fields"`
	CorrelationID     string           `json:"correlation_id"`
}

// CRMUpdate sends ERP-owned fields back to a CRM account
// (crm.account-updates.v1).
type CRMUpdate struct {
	AccountID     string           `json:"account_id"`
	GoldenID      string           `json:"golden_id"`
	Fields        map[Field]string `json:"fields"`
	CorrelationID string           `json:"correlation_id"`
}

// Golden contact statuses.
const (
	ContactStatusActive  = "ACTIVE"
	ContactStatusMerged  = "MERGED"
	ContactStatusDeleted = "DELETED"
)

// GoldenContact is a golden contact (mdm.contact.v1): the CRM contacts of a
// golden record with one e-mail address, each attribute from the most
// recent change of a member that has it.
type GoldenContact struct {
	ID         string
	Status     string
	MergedInto string
	GoldenID   string
	Name       string
	Email      string
	Phone      string
	Role       string
	Members    []string // CRM contact ids, sorted
	UpdatedAt  int64
}

// StateWrite is one changelog entry: Key and the new Value (nil deletes).
type StateWrite struct {
	Key   string
	Value []byte
}

// Handover asks the partition of match block Block to absorb a golden
// record (Absorb) that a steward merged into Survivor.
type Handover struct {
	Block    string
	Survivor string
	Record   []byte
}

// Outputs is everything one Apply produces, in a deterministic order.
type Outputs struct {
	// Forward: the event concerns a golden record of another match block
	// (handed over, or a steward decision's other record); the service
	// forwards the event to that block. Partial: this partition applied
	// its share already (Meta.Forwarded on arrival).
	Forward string
	Partial bool
	// Handover: a golden record leaves this partition for another block.
	Handover    *Handover
	Golden      []Record
	Xrefs       []XrefUpsert
	ERPCommands []ERPCommand
	CRMUpdates  []CRMUpdate
	Audit       []Audit
	Exceptions  []Exception
	Contacts    []GoldenContact
	ParentAsks  []ParentAsk
	// PathNotices: a record's ancestry changed; its children (found through
	// its members' source records) must hear it (hierarchy.go).
	PathNotices []PathNotice
	// LeadUpdates answer lead conversion requests (crm.lead-updates.v1).
	LeadUpdates []LeadUpdate
	State       []StateWrite
}
