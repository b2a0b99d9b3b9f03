package quotetoorder

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
)

// Timers an earlier release kept in the `timers` store (quote id →
// deadline, Unix ms) are moved into the timer index by the first tick and
// fire from there. A deadline the index already holds was set by a record
// handled since the upgrade: it is newer and stays. An entry of no
// deadline, or of an order without a saga, is dropped.
func TestHandlerLegacyTimers(t *testing.T) {
	k := newKit(t, testConfig(), newMemGateway())
	noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "CRM:A-1", testXref("A-1", "100042")))
	noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-NEW", testQuote("Q-NEW", 1)))
	start := k.Now()
	if s := storedSaga(t, k, "Q-NEW"); s == nil || !s.Deadline.Equal(start.Add(time.Minute)) {
		t.Fatalf("saga %+v, want SUBMITTED with its acknowledgment deadline", s)
	}

	// Q-OLD: a submitted saga the earlier release left with its deadline
	// in `timers` only.
	old := *storedSaga(t, k, "Q-NEW")
	old.QuoteID, old.Quote.QuoteID, old.Deadline = "Q-OLD", "Q-OLD", start.Add(90*time.Second)
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	k.Seed(storeOrders, "Q-OLD", b)
	ms := func(at time.Time) []byte { return []byte(strconv.FormatInt(at.UnixMilli(), 10)) }
	k.Seed(storeTimers, "Q-OLD", ms(old.Deadline))
	k.Seed(storeTimers, "Q-NEW", ms(start.Add(time.Hour))) // not the index's +1m, which is newer
	k.Seed(storeTimers, "Q-NONE", []byte("0"))
	k.Seed(storeTimers, "Q-GONE", ms(start))

	if r := noErr(t, k.Tick(start.Add(30*time.Second))); len(r.Outputs) != 0 {
		t.Errorf("nothing is due at +30s: %+v", r.Outputs)
	}
	for _, id := range []string{"Q-OLD", "Q-NEW", "Q-NONE", "Q-GONE"} {
		if v, ok := k.State(storeTimers, id); ok {
			t.Errorf("legacy timer of %s still there: %s", id, v)
		}
	}
	fired := func(at time.Time) []string {
		t.Helper()
		var ids []string
		for _, c := range commands(k, noErr(t, k.Tick(at))) {
			ids = append(ids, c.OrderID+"#"+strconv.Itoa(c.Attempt))
		}
		return ids
	}
	if got := fired(start.Add(time.Minute)); strings.Join(got, ",") != "Q-NEW#2" {
		t.Errorf("at +1m resubmitted %v, want Q-NEW#2 (its index deadline kept)", got)
	}
	if got := fired(start.Add(90 * time.Second)); strings.Join(got, ",") != "Q-OLD#2" {
		t.Errorf("at +90s resubmitted %v, want Q-OLD#2 (its moved timer)", got)
	}

	// A legacy entry this release cannot read is corrupt own state: the
	// tick fails retriable and moves nothing.
	k.Seed(storeTimers, "Q-BAD", []byte("soon"))
	k.Seed(storeTimers, "Q-OLD", ms(start.Add(time.Hour)))
	r := k.Tick(start.Add(2 * time.Minute))
	checkCorrupt(t, r, storeTimers, "Q-BAD")
	if v, ok := k.State(storeTimers, "Q-OLD"); !ok || string(v) != string(ms(start.Add(time.Hour))) {
		t.Errorf("legacy timer of Q-OLD = %q %v after a failed tick, want it kept", v, ok)
	}
}

// checkCorrupt fails unless r failed with the one policy for corrupt own
// state (retriable, corrupt_state, naming store and key) and nothing of it
// was dead-lettered or applied.
func checkCorrupt(t *testing.T, r processortest.Result, store, key string) {
	t.Helper()
	if r.Err == nil || errs.ClassOf(r.Err) != errs.ClassRetriable || errs.ReasonOf(r.Err) != string(errs.ReasonCorruptState) ||
		!strings.Contains(r.Err.Error(), store+"/"+strconv.Quote(key)) {
		t.Fatalf("err = %v (class %s), want retriable %s naming %s/%q", r.Err, errs.ClassOf(r.Err), errs.ReasonCorruptState, store, key)
	}
	if dl := r.DeadLetters(Name); len(dl) != 0 {
		t.Errorf("dead-lettered: %+v", dl)
	}
}

// A saga, a known account or parked statuses this service wrote and cannot
// read back follow the one policy for corrupt own state: the record (or
// tick) that reads it fails retriable with reason corrupt_state, nothing is
// dead-lettered and nothing it did is applied — the partition waits for a
// release that can read the value, which is left as it is.
func TestHandlerCorruptState(t *testing.T) {
	bad := []byte(`{"quote_id":`)
	for _, tc := range []struct {
		name, store, key string
		// before runs first (the state is corrupted after it); run is the
		// input that reads the corrupt value.
		before func(t *testing.T, k *processortest.Kit)
		run    func(k *processortest.Kit) processortest.Result
		// committed lists the outputs of records handled before the one
		// that failed (in the same call: the re-keyed chain).
		committed []string
	}{
		{name: "saga read by a new quote version", store: storeOrders, key: "Q-1",
			run: func(k *processortest.Kit) processortest.Result {
				return k.SendValue(contracts.TopicCRMQuoteV1, "Q-1", testQuote("Q-1", 2))
			}},
		{name: "saga read by an ERP status", store: storeOrders, key: "Q-1",
			run: func(k *processortest.Kit) processortest.Result {
				return k.SendValue(contracts.TopicERPOrderStatusV1, "Q-1", testStatus("Q-1", contracts.ErpOrderStateAccepted))
			}},
		{name: "saga read by its due timer", store: storeOrders, key: "Q-1",
			before: func(t *testing.T, k *processortest.Kit) {
				noErr(t, k.SendValue(contracts.TopicMDMXrefV1, "CRM:A-1", testXref("A-1", "100042")))
				noErr(t, k.SendValue(contracts.TopicCRMQuoteV1, "Q-1", testQuote("Q-1", 1)))
			},
			run: func(k *processortest.Kit) processortest.Result { return k.Tick(k.Now().Add(time.Hour)) }},
		{name: "account read by a quote's lookup", store: storeAccounts, key: "CRM:A-1",
			run: func(k *processortest.Kit) processortest.Result {
				return k.SendValue(contracts.TopicCRMQuoteV1, "Q-2", testQuote("Q-2", 1))
			},
			// The quote is taken; its lookup, on the account's partition, fails.
			committed: []string{contracts.TopicOrdersLifecycleV1 + "/" + contracts.OrderStateReceived, InternalTopic + "/lookup"}},
		{name: "parked statuses read by the next status", store: storeUnknown, key: "Q-GHOST",
			run: func(k *processortest.Kit) processortest.Result {
				return k.SendValue(contracts.TopicERPOrderStatusV1, "Q-GHOST", testStatus("Q-GHOST", contracts.ErpOrderStateShipped))
			}},
		{name: "parked statuses read when their quote arrives", store: storeUnknown, key: "Q-GHOST",
			run: func(k *processortest.Kit) processortest.Result {
				return k.SendValue(contracts.TopicCRMQuoteV1, "Q-GHOST", testQuote("Q-GHOST", 1))
			}},
		{name: "parked statuses read by the tick", store: storeUnknown, key: "Q-GHOST",
			run: func(k *processortest.Kit) processortest.Result { return k.Tick(k.Now().Add(time.Hour)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKit(t, testConfig(), newMemGateway())
			if tc.before != nil {
				tc.before(t, k)
			}
			k.Seed(tc.store, tc.key, bad)
			r := tc.run(k)
			checkCorrupt(t, r, tc.store, tc.key)
			var got []string
			for _, o := range r.Outputs {
				what := "?"
				switch o.Topic {
				case contracts.TopicOrdersLifecycleV1:
					var ev contracts.OrderLifecycle
					k.Decode(o, &ev)
					what = ev.State
				case InternalTopic:
					var e envelope
					if err := json.Unmarshal(o.Value, &e); err != nil {
						t.Fatal(err)
					}
					what = e.Kind
				}
				got = append(got, o.Topic+"/"+what)
			}
			if strings.Join(got, " ") != strings.Join(tc.committed, " ") {
				t.Errorf("outputs %v, want only %v", got, tc.committed)
			}
			for _, w := range r.Writes {
				if len(tc.committed) == 0 || w.Store == storeWaiting || w.Store == storeAccounts {
					t.Errorf("applied a write of the failed record: %s/%q", w.Store, w.Key)
				}
			}
			if v, ok := k.State(tc.store, tc.key); !ok || string(v) != string(bad) {
				t.Errorf("%s/%q = %q %v, want the unreadable value left as it is", tc.store, tc.key, v, ok)
			}
		})
	}
}
