package bridge

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/revenue"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/schedule"
)

// State is everything billing-bridge keeps for one contract (the changelog
// store is keyed by contract id). The zero State of a contract id is a
// contract never seen.
type State struct {
	ContractID string `json:"contract_id"`
	// Terms is nil until the NEW deal is applied.
	Terms *contract.Terms `json:"terms,omitempty"`
	// Applied holds the fingerprint of each applied sequence: Applied[i] is
	// sequence i+1.
	Applied []string `json:"applied,omitempty"`
	// Held are out-of-order deals waiting for their predecessor, by sequence.
	Held         []Held                   `json:"held,omitempty"`
	Docs         []schedule.Doc           `json:"docs,omitempty"`
	Revenue      []revenue.Entry          `json:"revenue,omitempty"`
	Journals     map[string]JournalStatus `json:"journals,omitempty"`
	Subscription Subscription             `json:"subscription"`
	// Exceptions are the exceptions raised for the contract that
	// operators can act on, by exception id.
	Exceptions map[string]ExceptionState `json:"exceptions,omitempty"`
	// Decided lists the ids of the decisions applied (newest last,
	// bounded): a repeated decision is a no-op.
	Decided []string `json:"decided,omitempty"`
}

// ExceptionState is where an exception stands after its last update.
type ExceptionState struct {
	Category string `json:"category"`
	Status   string `json:"status"`
	// Decision is the decision a RETRYING exception waits on.
	Decision string `json:"decision,omitempty"`
	// Journal is the journal a journal_rejected exception is about now (the
	// latest of its chain of reposts).
	Journal string `json:"journal,omitempty"`
}

// Held is a deal that arrived before its predecessor.
type Held struct {
	Deal        contract.Deal `json:"deal"`
	Fingerprint string        `json:"fingerprint"`
	// Since is when the deal was held (its OccurredAt): the SLA clock.
	Since time.Time `json:"since"`
	// Raised is set once the gap exception has been raised.
	Raised bool `json:"raised,omitempty"`
}

// Journal states.
const (
	// JournalScheduled: its posting period has not opened yet (stream
	// time); it is sent when it opens.
	JournalScheduled = "SCHEDULED"
	JournalPending   = "PENDING"
	JournalPosted    = "POSTED"
	JournalRejected  = "REJECTED"
	// JournalReposted: rejected, and reposted into a later period under a
	// new id (Root names the first of the chain).
	JournalReposted = "REPOSTED"
	// JournalManual: an operator routed it to finance for manual posting.
	JournalManual = "MANUAL"
)

// JournalStatus tracks one journal command until the ERP answers.
type JournalStatus struct {
	Kind     journal.Kind  `json:"kind"`
	Seq      int64         `json:"seq"`
	Period   string        `json:"period"`
	Date     contract.Date `json:"date"`
	Amount   int64         `json:"amount"`
	Status   string        `json:"status"`
	Reason   string        `json:"reason,omitempty"`
	Document string        `json:"document,omitempty"`
	// Source is the schedule document or revenue month of the journal.
	Source string `json:"source,omitempty"`
	// Due is when a SCHEDULED journal's posting period opens.
	Due contract.Date `json:"due,omitempty"`
	// Root is, for a repost, the id of the journal first sent; Reposts
	// counts the reposts of a chain (on its root).
	Root    string `json:"root,omitempty"`
	Reposts int    `json:"reposts,omitempty"`
}

// Subscription is what the billing system acknowledged.
type Subscription struct {
	ID          string `json:"id,omitempty"`
	Provisioned bool   `json:"provisioned,omitempty"`
}

// NewState returns the state of a contract never seen.
func NewState(contractID string) *State { return &State{ContractID: contractID} }

// LastSeq is the last applied sequence (0 before NEW).
func (s *State) LastSeq() int64 { return int64(len(s.Applied)) }

// Marshal encodes s deterministically: fixed struct field order, map keys
// sorted, times in RFC 3339 UTC.
func (s *State) Marshal() ([]byte, error) {
	c := *s
	if len(c.Held) > 0 {
		c.Held = append([]Held(nil), s.Held...)
		for i := range c.Held {
			c.Held[i].Since = c.Held[i].Since.UTC()
			c.Held[i].Deal.OccurredAt = c.Held[i].Deal.OccurredAt.UTC()
		}
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("marshal state of %s: %w", s.ContractID, err)
	}
	return b, nil
}

// Unmarshal decodes a state written by Marshal.
func Unmarshal(b []byte) (*State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("unmarshal billing-bridge state: %w", err)
	}
	if s.ContractID == "" {
		return nil, fmt.Errorf("unmarshal billing-bridge state: no contract id")
	}
	return &s, nil
}
