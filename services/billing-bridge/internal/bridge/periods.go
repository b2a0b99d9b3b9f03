package bridge

import (
	"slices"
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/journal"
)

// MaxAutoReposts bounds the reposts of one journal after PERIOD_CLOSED
// rejections; the next rejection is raised for finance-ops.
const MaxAutoReposts = 3

// PeriodClosed reports whether an ERP rejection reason
// ("<code>: <message>") says the posting period is closed.
func PeriodClosed(reason string) bool { return strings.HasPrefix(reason, "PERIOD_CLOSED") }

// Opens is the day a journal's posting period opens: the first day of the
// month of its posting date.
func Opens(date contract.Date) contract.Date { return date.Month().First() }

// Deferred reports whether journals of kind wait for their posting
// period: revenue is recognised (or reversed) month by month as it is
// earned; invoice and credit-note journals follow the billing documents and
// go at once.
func Deferred(kind journal.Kind) bool {
	return kind == journal.Recognition || kind == journal.RecognitionReversal
}

// schedule keeps the recognition journals whose posting period has not
// opened at now (stream time) in the state as SCHEDULED, and returns the
// others, to send at once. Release sends the scheduled ones when their
// period opens.
func (s *State) schedule(js []journal.Journal, now contract.Date) []journal.Journal {
	send := js[:0:0]
	for _, j := range js {
		due := Opens(j.Date)
		if due <= now || !Deferred(j.Kind) {
			send = append(send, j)
			continue
		}
		st := s.Journals[j.ID]
		st.Status, st.Due = JournalScheduled, due
		s.Journals[j.ID] = st
	}
	return send
}

// NextRelease is the earliest day a scheduled journal's period opens, and
// false when none is scheduled.
func (s *State) NextRelease() (contract.Date, bool) {
	var next contract.Date
	found := false
	for _, j := range s.Journals {
		if j.Status == JournalScheduled && (!found || j.Due < next) {
			next, found = j.Due, true
		}
	}
	return next, found
}

// Release sends every scheduled journal whose posting period opened at now
// (stream time), in posting-date then id order: recognition of a month is
// posted when the month opens, not when the contract was signed.
func (b *Bridge) Release(s *State, now contract.Date) Outputs {
	out := Outputs{Status: StatusNoChange}
	var ids []string
	for id, j := range s.Journals {
		if j.Status == JournalScheduled && j.Due <= now {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		st := s.Journals[id]
		st.Status, st.Due = JournalPending, 0
		s.Journals[id] = st
		j, _ := b.JournalOf(s, id)
		out.Journals = append(out.Journals, j)
	}
	// Amendment order first (a later amendment's reversal after the
	// recognition it corrects), then posting date.
	slices.SortStableFunc(out.Journals, func(a, b journal.Journal) int {
		if a.Seq != b.Seq {
			return int(a.Seq - b.Seq)
		}
		return int(a.Date - b.Date)
	})
	return out
}

// repost posts the rejected journal again, under a new id (its chain's
// root plus /R<n>), dated the first day of the next open period: the
// month after the rejected posting date when the rejection was
// PERIOD_CLOSED (its own month otherwise), and not before now's month.
// When that period has not opened yet the repost is SCHEDULED. The
// rejected journal becomes REPOSTED.
func (b *Bridge) repost(s *State, rejectedID string, now contract.Date, reason, decision string) (journal.Journal, Repost) {
	rej := s.Journals[rejectedID]
	root := rejectedID
	if rej.Root != "" {
		root = rej.Root
	}
	r := s.Journals[root]
	r.Reposts++
	n := r.Reposts
	s.Journals[root] = r
	rej = s.Journals[rejectedID]
	rej.Status = JournalReposted
	s.Journals[rejectedID] = rej

	// A closed period is left for the next; after any other rejection (the
	// cause fixed in ERP) the journal's own period is still good if open.
	target := rej.Date.Month()
	if PeriodClosed(reason) {
		target = target.Next()
	}
	if now.Month() > target {
		target = now.Month()
	}
	date := target.First()
	id := root + "/R" + strconv.Itoa(n)
	st := JournalStatus{Kind: rej.Kind, Seq: rej.Seq, Period: rej.Period, Date: date, Amount: rej.Amount, Status: JournalPending, Source: rej.Source, Root: root}
	scheduled := date > now
	if scheduled {
		st.Status, st.Due = JournalScheduled, date
	}
	s.Journals[id] = st
	j, _ := b.JournalOf(s, id)
	return j, Repost{Rejected: rejectedID, Journal: id, Reason: reason, Date: date, Scheduled: scheduled, Decision: decision}
}

func journalExceptionID(journalID string) string {
	return journalID + "/" + CategoryJournalRejected
}

// trackedID is the id the state tracks the exception id under: id, or its
// legacy form (LegacyExceptionPrefix + id) when only that is tracked (the
// exception was raised before pkg/ops and keeps its id).
func (s *State) trackedID(id string) string {
	if _, ok := s.Exceptions[id]; ok {
		return id
	}
	if _, ok := s.Exceptions[LegacyExceptionPrefix+id]; ok {
		return LegacyExceptionPrefix + id
	}
	return id
}

// track records the exceptions just raised (OPEN) so decisions on them can
// be checked and answered; one raised again under its legacy id keeps it.
func (s *State) track(xs []Exception) {
	for i := range xs {
		x := &xs[i]
		if x.Status != "" && x.Status != ExceptionOpen {
			continue
		}
		x.ID = s.trackedID(x.ID)
		if s.Exceptions == nil {
			s.Exceptions = map[string]ExceptionState{}
		}
		st := s.Exceptions[x.ID]
		st.Category, st.Status, st.Decision = x.Category, ExceptionOpen, ""
		s.Exceptions[x.ID] = st
	}
}

// update is the status change of a tracked exception, answering decision,
// with a note.
func (s *State) update(id, status, decision, note string) Exception {
	st := s.Exceptions[id]
	st.Status = status
	st.Decision = ""
	if status == ExceptionRetrying {
		st.Decision = decision
	}
	if s.Exceptions == nil {
		s.Exceptions = map[string]ExceptionState{}
	}
	s.Exceptions[id] = st
	sev := "low"
	if status == ExceptionOpen {
		sev = "high"
	}
	return Exception{ID: id, Category: st.Category, Queue: QueueFinanceOps, Severity: sev, ContractID: s.ContractID,
		Reason: strings.ToLower(status), Message: note, Status: status, DecisionID: decision,
		Context: []Field{{"outcome", note}}}
}
