package sim

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/tracing"
)

// earlierTimer is a timer as the release before the due index wrote it in
// StoreTimers (and nowhere else): an answer to emit, the record's value the
// JSON of its contract type.
func earlierTimer(t *testing.T, due time.Time, journalID string) (string, []byte) {
	t.Helper()
	j, err := json.Marshal(&contracts.Journal{Metadata: meta("old-" + journalID), JournalCommandID: journalID, Status: contracts.JournalStatusPosted, Lines: []contracts.JournalLine{}})
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%013d|emit|%s", due.UnixMilli(), journalID)
	v := fmt.Sprintf(`{"kind":"emit","id":%q,"records":[{"topic":%q,"key":%q,"value":%s}],"origin":{"corr":"corr-old","causation":"old"}}`,
		journalID, contracts.TopicERPJournalV1, journalID, j)
	return id, []byte(v)
}

// Timers pending in a changelog of the release before the due index are
// indexed by the tick, at most IndexPerTick a tick, earliest first, and
// then fire once each like the timers this release schedules.
func TestEarlierReleaseTimersIndexedAndFired(t *testing.T) {
	k := simKit(t, Settings{IndexPerTick: 2})
	var ids []string
	for i, j := range []string{"J-A", "J-B", "J-C"} {
		id, v := earlierTimer(t, t0.Add(time.Duration(i+1)*time.Second), j)
		k.Seed(StoreTimers, id, v)
		ids = append(ids, id)
	}
	// A timer of this release, scheduled before the first tick.
	k.SendValue(contracts.TopicERPJournalCommandsV1, "J-NEW", &contracts.JournalCommand{Metadata: meta("new"), Kind: contracts.JournalKindInvoice, JournalCommandID: "J-NEW",
		PostingDate: t0.Truncate(24 * time.Hour), Currency: "USD", Lines: []contracts.JournalLine{}})

	answered := func(res []*contracts.Journal) []string {
		var got []string
		for _, j := range res {
			got = append(got, j.JournalCommandID)
		}
		return got
	}
	// First tick, after every answer is due: the first two timers in due
	// order looked at (J-A indexed, J-NEW was already), and they fire.
	res := k.Tick(t0.Add(time.Minute))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := answered(values[contracts.Journal](t, k, res.On(contracts.TopicERPJournalV1)))
	if fmt.Sprint(got) != "[J-A J-NEW]" {
		t.Fatalf("first tick answered %v, want J-A J-NEW (the later earlier timers not indexed yet)", got)
	}
	js := values[contracts.Journal](t, k, res.On(contracts.TopicERPJournalV1))
	if md := js[0].Metadata; md.EventID != "old-J-A" || !md.OccurredAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("earlier timer's answer metadata = %+v, want its own, stamped now", md)
	}
	if h := res.On(contracts.TopicERPJournalV1)[0].Header(tracing.HeaderCorrelationID); h != "corr-old" {
		t.Errorf("earlier timer's answer correlation header = %q, want its origin's", h)
	}
	for _, id := range ids[1:] {
		if _, ok := k.State(StoreTimers, id); !ok {
			t.Fatalf("earlier timer %s is gone before it fired", id)
		}
	}
	// Second tick: the other two are indexed and fire; the scan reached
	// the end.
	res = k.Tick(t0.Add(time.Minute + time.Second))
	if got := answered(values[contracts.Journal](t, k, res.On(contracts.TopicERPJournalV1))); fmt.Sprint(got) != "[J-B J-C]" {
		t.Fatalf("second tick answered %v, want J-B J-C", got)
	}
	if b, ok := k.State(StoreTimers, indexedKey); !ok || string(b) != `{"done":true}` {
		t.Errorf("indexing progress = %s, want done", b)
	}
	for _, id := range ids {
		if _, ok := k.State(StoreTimers, id); ok {
			t.Errorf("timer %s kept after it fired", id)
		}
	}
	// Done: nothing fires twice, and a later tick does not index again.
	if res := k.Tick(t0.Add(time.Hour)); len(res.Outputs) != 0 || len(res.Writes) != 0 || res.Err != nil {
		t.Fatalf("after the indexing: outputs %+v, writes %+v, err %v", res.Outputs, res.Writes, res.Err)
	}
}

// An earlier timer not due yet is indexed but waits for its time.
func TestEarlierReleaseTimerWaitsForItsTime(t *testing.T) {
	k := simKit(t, Settings{})
	id, v := earlierTimer(t, t0.Add(time.Hour), "J-LATER")
	k.Seed(StoreTimers, id, v)
	if res := k.Tick(t0); len(res.Outputs) != 0 || res.Err != nil {
		t.Fatalf("fired before its time: %+v %v", res.Outputs, res.Err)
	}
	if at, ok := k.State(StoreTimers, indexedKey); !ok || string(at) != `{"done":true}` {
		t.Fatalf("indexing progress = %s", at)
	}
	res := k.Tick(t0.Add(time.Hour))
	if js := values[contracts.Journal](t, k, res.On(contracts.TopicERPJournalV1)); len(js) != 1 || js[0].JournalCommandID != "J-LATER" {
		t.Fatalf("at its time: %+v", res.Outputs)
	}
}

// A timer id without its due time cannot have been written by the
// simulator: corrupt own state, retried, never dropped.
func TestEarlierTimerWithoutDueTimeIsCorruptState(t *testing.T) {
	k := simKit(t, Settings{})
	k.Seed(StoreTimers, "emit|J-1", []byte(`{"kind":"emit","id":"J-1","origin":{}}`))
	res := k.Tick(t0)
	if errs.ReasonOf(res.Err) != string(errs.ReasonCorruptState) || errs.ClassOf(res.Err) != errs.ClassRetriable {
		t.Fatalf("err = %v", res.Err)
	}
	if _, ok := k.State(StoreTimers, "emit|J-1"); !ok {
		t.Error("the entry was dropped")
	}
}
