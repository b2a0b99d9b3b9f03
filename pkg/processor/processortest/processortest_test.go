package processortest_test

import (
	"encoding/json"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/retry"
	"github.com/isthmus/isthmus/pkg/serde"
)

// counts counts accounts per name, re-keying each account by its name
// through an internal topic, and schedules a reminder per name.
type counts struct {
	byName processor.Store[int]
	timers processor.Timers
}

const (
	internalTopic = "counter.by-name.v1"
	outTopic      = "counter.counts.v1"
)

func (c counts) config() processor.Config {
	return processor.Config{
		Service: "counter", Topics: []string{contracts.TopicCRMAccountV1}, InternalTopics: []string{internalTopic},
		Stores: []string{c.byName.Name(), c.timers.Name()}, Handler: c.handle, Tick: time.Second, OnTick: c.tick,
	}
}

func (c counts) handle(ctx context.Context, m *processor.Message) error {
	switch m.Topic {
	case contracts.TopicCRMAccountV1:
		var a contracts.Account
		if err := m.Decode(&a); err != nil {
			return err
		}
		if a.Name == "" {
			return errs.Poisonf("invalid_input", "account %s has no name", a.AccountID)
		}
		m.Emit(internalTopic, a.Name, []byte(a.AccountID))
		return nil
	case internalTopic:
		n, _, err := c.byName.Get(m, m.Key())
		if err != nil {
			return err
		}
		n++
		if err := c.byName.Put(m, m.Key(), n); err != nil {
			return err
		}
		c.timers.Set(m, m.Key(), m.EventTime().Add(time.Minute))
		md := m.Metadata(contracts.SourceSystemCustomerSync, 1)
		m.Emit(outTopic, m.Key(), []byte(md.EventID+"|"+md.CorrelationID))
		return nil
	}
	return nil
}

func (c counts) tick(_ context.Context, m *processor.Message, now time.Time) error {
	c.timers.Due(m, now, func(id string, _ time.Time) bool {
		c.timers.Cancel(m, id)
		m.Emit(outTopic, id, []byte("reminder"))
		return true
	})
	return nil
}

func account(id, name string) *contracts.Account {
	return &contracts.Account{Metadata: event.Metadata("ev-"+id, "corr-"+id, "", contracts.SourceSystemCRM, time.Now()), Op: contracts.ChangeOperationUpsert, AccountID: id, Name: name, Status: contracts.AccountStatusCustomer}
}

func TestKit(t *testing.T) {
	c := counts{byName: processor.NewStore("by-name", processor.JSON[int]()), timers: processor.NewTimers("reminders")}
	k := processortest.New(t, c.config(), processortest.Partitions(3))

	res := k.SendValue(contracts.TopicCRMAccountV1, "a1", account("a1", "Acme"), processortest.Correlation("corr-a1"))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := res.On(internalTopic); len(got) != 1 || got[0].Key != "Acme" {
		t.Fatalf("re-keyed = %+v", got)
	}
	out := res.On(outTopic)
	if len(out) != 1 {
		t.Fatalf("outputs = %+v", res.Outputs)
	}
	id, corr, _ := strings.Cut(string(out[0].Value), "|")
	if corr != "corr-a1" {
		t.Errorf("correlation = %q, want the input's", corr)
	}
	if out[0].Header("correlation-id") != "corr-a1" {
		t.Errorf("correlation header = %q", out[0].Header("correlation-id"))
	}
	// The same input handled again (a replay) derives the same ids.
	k2 := processortest.New(t, c.config(), processortest.Partitions(3))
	again := k2.SendValue(contracts.TopicCRMAccountV1, "a1", account("a1", "Acme"), processortest.Correlation("corr-a1"))
	if id2, _, _ := strings.Cut(string(again.On(outTopic)[0].Value), "|"); id2 != id {
		t.Errorf("replayed event id %s, first %s", id2, id)
	}

	k.SendValue(contracts.TopicCRMAccountV1, "a2", account("a2", "Acme"))
	if v, ok := k.State("by-name", "Acme"); !ok || string(v) != "2" {
		t.Errorf("state by-name/Acme = %q %v, want 2", v, ok)
	}

	// Bad bytes and invalid business data are dead-lettered with their
	// reason, and the next record is handled.
	bad := k.Send(contracts.TopicCRMAccountV1, "a3", []byte("not avro"))
	if dl := bad.DeadLetters("counter"); len(dl) != 1 || dl[0].Header(catalog.DLQHeaderErrorClass) != "poison" {
		t.Fatalf("bad bytes: %+v", bad.Outputs)
	}
	inv := k.SendValue(contracts.TopicCRMAccountV1, "a4", account("a4", ""))
	if dl := inv.DeadLetters("counter"); len(dl) != 1 || dl[0].Header(catalog.DLQHeaderErrorReason) != "invalid_input" {
		t.Fatalf("invalid account: %+v", inv.Outputs)
	}
	if res := k.SendValue(contracts.TopicCRMAccountV1, "a5", account("a5", "Acme")); res.Err != nil || len(res.On(outTopic)) != 1 {
		t.Fatalf("after bad input: %+v", res)
	}

	// Timers fire once, at their deadline.
	if res := k.Tick(k.Now().Add(30 * time.Second)); len(res.On(outTopic)) != 0 {
		t.Errorf("early tick fired %+v", res.Outputs)
	}
	if res := k.Tick(k.Now().Add(2 * time.Minute)); len(res.On(outTopic)) != 1 {
		t.Errorf("due tick fired %+v, want one reminder", res.Outputs)
	}
	if res := k.Tick(k.Now().Add(3 * time.Minute)); len(res.On(outTopic)) != 0 {
		t.Errorf("a cancelled timer fired again: %+v", res.Outputs)
	}
}

// Own state the codec cannot read is retriable (corrupt_state): the record
// is not dead-lettered and nothing is applied.
func TestCorruptOwnStateIsRetriable(t *testing.T) {
	c := counts{byName: processor.NewStore("by-name", processor.JSON[int]()), timers: processor.NewTimers("reminders")}
	k := processortest.New(t, c.config(), processortest.Partitions(4))
	k.Seed("by-name", "Acme", []byte("{not json"))
	res := k.SendValue(contracts.TopicCRMAccountV1, "a1", account("a1", "Acme"))
	if res.Err == nil || errs.ClassOf(res.Err) != errs.ClassRetriable || errs.ReasonOf(res.Err) != "corrupt_state" || !strings.Contains(res.Err.Error(), `by-name/"Acme"`) {
		t.Fatalf("err = %v (class %s), want retriable corrupt_state naming the store and key", res.Err, errs.ClassOf(res.Err))
	}
	if len(res.Outputs) != 1 || len(res.DeadLetters("counter")) != 0 {
		// The account's re-keying committed; its internal record failed.
		t.Errorf("outputs = %+v", res.Outputs)
	}
	if v, _ := k.State("by-name", "Acme"); string(v) != "{not json" {
		t.Errorf("state changed to %q", v)
	}
	if !errors.Is(res.Err, errs.ErrRetriable) {
		t.Error("not errs.ErrRetriable")
	}
}

func countsTarget() processortest.Target {
	c := counts{byName: processor.NewStore("by-name", processor.JSON[int]()), timers: processor.NewTimers("reminders")}
	return processortest.Target{
		Service: "counter", Config: c.config, Output: outTopic,
		Input: func(i int) (string, string, serde.Record) {
			id := fmt.Sprintf("a%d", i)
			return contracts.TopicCRMAccountV1, id, account(id, fmt.Sprintf("name-%d", i%5))
		},
		Identify: func(_ *serde.Serde, r *kgo.Record) (string, error) {
			_, corr, ok := strings.Cut(string(r.Value), "|")
			if !ok {
				return "", fmt.Errorf("output %q is not id|correlation", r.Value)
			}
			return corr, nil
		},
		Expect: func(i int) string { return fmt.Sprintf("conformance-%d", i) },
	}
}

func TestConformanceOnKfake(t *testing.T) {
	processortest.Conformance(t, processortest.FakeCluster(t), countsTarget())
}

func TestRawCodecAndCorruptState(t *testing.T) {
	raw := processor.NewStore("marks", processor.Raw())
	h := func(ctx context.Context, m *processor.Message) error {
		prev, _, _ := raw.Get(m, m.Key())
		if string(prev) == "bad" {
			return processor.CorruptState(raw.Name(), m.Key(), errors.New("mark is not a mark"))
		}
		return raw.Put(m, m.Key(), append(prev, m.Value()...))
	}
	k := processortest.New(t, processor.Config{Service: "marks", Topics: []string{"marks.v1"}, Stores: []string{raw.Name()}, Handler: h})
	k.Send("marks.v1", "a", []byte("x"))
	k.Send("marks.v1", "a", []byte("y"))
	if v, _ := k.State("marks", "a"); string(v) != "xy" {
		t.Errorf("raw state = %q", v)
	}
	k.Seed("marks", "b", []byte("bad"))
	if res := k.Send("marks.v1", "b", []byte("z")); errs.ReasonOf(res.Err) != "corrupt_state" || errs.ClassOf(res.Err) != errs.ClassRetriable {
		t.Errorf("err = %v", res.Err)
	}
}

func TestMoveTimers(t *testing.T) {
	timers := processor.NewTimers("due")
	var fired []string
	moveErr := error(nil)
	cfg := processor.Config{Service: "mover", Topics: []string{"mover.v1"}, Stores: []string{"old-index", timers.Name()},
		Handler: func(context.Context, *processor.Message) error { return nil },
		Tick:    time.Second,
		OnTick: func(_ context.Context, m *processor.Message, now time.Time) error {
			if _, err := processor.MoveTimers(m, "old-index", timers, 2, func(k string, v []byte) (string, time.Time, error) {
				at, err := time.Parse(time.RFC3339, k)
				return string(v), at, err
			}); err != nil {
				moveErr = err
				return err
			}
			timers.Due(m, now, func(id string, _ time.Time) bool {
				fired = append(fired, id)
				timers.Cancel(m, id)
				return true
			})
			return nil
		}}
	k := processortest.New(t, cfg)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"a", "b", "c"} {
		k.Seed("old-index", t0.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), []byte(id))
	}
	k.Tick(t0.Add(-time.Hour)) // moves two, none due
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	k.Tick(t0.Add(90 * time.Minute)) // moves the third; a and b due
	k.Tick(t0.Add(3 * time.Hour))
	if strings.Join(fired, ",") != "a,b,c" {
		t.Errorf("fired %v, want a,b,c once each", fired)
	}
	if _, ok := k.State("old-index", t0.Format(time.RFC3339)); ok {
		t.Error("a moved entry is still in the old index")
	}
	k.Seed("old-index", "not a time", []byte("x"))
	if res := k.Tick(t0.Add(4 * time.Hour)); res.Err == nil || errs.ReasonOf(moveErr) != "corrupt_state" {
		t.Errorf("unreadable legacy timer: err %v, move error %v", res.Err, moveErr)
	}
}

func TestTimersFire(t *testing.T) {
	timers := processor.NewTimers("due")
	var fired []string
	var ticks []string
	cfg := processor.Config{Service: "firer", Topics: []string{"firer.v1"}, Stores: []string{timers.Name()},
		Handler: func(_ context.Context, m *processor.Message) error {
			timers.Set(m, m.Key(), m.EventTime().Add(time.Minute))
			return nil
		},
		Tick: time.Second,
		OnTick: func(_ context.Context, m *processor.Message, now time.Time) error {
			return timers.Fire(m, now, func(id string, _ time.Time) error {
				fired = append(fired, id)
				ticks = append(ticks, m.TickID(id, now))
				if id == "again" && len(fired) == 1 {
					timers.Set(m, id, now.Add(time.Minute)) // re-set from inside: fires next time
					return nil
				}
				timers.Cancel(m, id)
				return nil
			})
		}}
	k := processortest.New(t, cfg)
	k.Send("firer.v1", "again", nil)
	k.Advance(time.Second)
	k.Send("firer.v1", "once", nil)
	k.Tick(k.Now().Add(2 * time.Minute))
	k.Tick(k.Now().Add(5 * time.Minute))
	if strings.Join(fired, ",") != "again,once,again" {
		t.Errorf("fired %v, want again,once,again", fired)
	}
	if ticks[0] == ticks[2] || ticks[0] != event.ID("tick", "0", "again", strconv.FormatInt(k.Now().Add(2*time.Minute).UnixMilli(), 10)) {
		t.Errorf("tick ids %v", ticks)
	}
}

// A processor that reads its own records (JSON it wrote itself) waits on
// one it cannot read instead of dead-lettering it.
func TestConformanceOwnInputOnKfake(t *testing.T) {
	const own = "counter.own.v1"
	h := func(_ context.Context, m *processor.Message) error {
		var n int
		if err := json.Unmarshal(m.Value(), &n); err != nil {
			return errs.Retriable(errs.ReasonCorruptState, fmt.Errorf("own record %s@%d: %w", m.Topic, m.Record.Offset, err))
		}
		m.Emit(outTopic, m.Key(), []byte(fmt.Sprintf("seen|conformance-%d", n)))
		return nil
	}
	processortest.Conformance(t, processortest.FakeCluster(t), processortest.Target{
		Service: "own", Output: outTopic, OwnInput: true,
		Config:  func() processor.Config { return processor.Config{Service: "own", Topics: []string{own}, Handler: h} },
		Options: []processor.Option{processor.WithRetryPolicy(retry.Policy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 200 * time.Millisecond})},
		Raw:     func(i int) (string, string, []byte) { return own, fmt.Sprintf("k%d", i), []byte(strconv.Itoa(i)) },
		Identify: func(_ *serde.Serde, r *kgo.Record) (string, error) {
			_, id, _ := strings.Cut(string(r.Value), "|")
			return id, nil
		},
		Expect: func(i int) string { return fmt.Sprintf("conformance-%d", i) },
	})
}

func TestFlowNumbersItsEvents(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	h := func(_ context.Context, m *processor.Message) error {
		f := m.Flow("cause-1", "saga-7", contracts.SourceSystemQuoteToOrder, at)
		for _, id := range []string{"a1", "a2"} {
			a := account(id, "Acme")
			if err := f.Emit("flow.out.v1", id, a, &a.Metadata); err != nil {
				return err
			}
		}
		return nil
	}
	k := processortest.New(t, processor.Config{Service: "flow", Topics: []string{"flow.in.v1"}, Handler: h})
	res := k.Send("flow.in.v1", "x", nil, processortest.Correlation("input-corr"))
	outs := res.On("flow.out.v1")
	if len(outs) != 2 {
		t.Fatalf("outputs %+v", res.Outputs)
	}
	for i, o := range outs {
		var a contracts.Account
		k.Decode(o, &a)
		want := event.Output("cause-1", i+1, "saga-7", contracts.SourceSystemQuoteToOrder, at)
		if a.Metadata.EventID != want.EventID || a.Metadata.CorrelationID != "saga-7" || *a.Metadata.CausationID != "cause-1" || !a.Metadata.OccurredAt.Equal(at) {
			t.Errorf("output %d metadata %+v, want %+v", i, a.Metadata, want)
		}
		if o.Header("correlation-id") == "" {
			t.Errorf("output %d has no correlation header", i)
		}
	}
}

// Load gives state by pointer (nil when unset); Schedule sets a timer or,
// for a zero deadline, cancels it.
func TestLoadAndSchedule(t *testing.T) {
	type item struct {
		N   int       `json:"n"`
		Due time.Time `json:"due"`
	}
	items := processor.NewStore("items", processor.JSON[item]())
	timers := processor.NewTimers("items-due")
	var loaded []*item
	var due []string
	cfg := processor.Config{Service: "sched", Topics: []string{"sched.v1"}, Stores: []string{items.Name(), timers.Name()},
		Handler: func(_ context.Context, m *processor.Message) error {
			it, err := items.Load(m, m.Key())
			if err != nil {
				return err
			}
			loaded = append(loaded, it)
			next := item{N: 1}
			if it != nil {
				next.N = it.N + 1
			}
			if string(m.Value()) == "due" {
				next.Due = m.EventTime().Add(time.Minute)
			}
			timers.Schedule(m, m.Key(), next.Due)
			return items.Put(m, m.Key(), next)
		},
		Tick: time.Second,
		OnTick: func(_ context.Context, m *processor.Message, now time.Time) error {
			return timers.Fire(m, now, func(id string, _ time.Time) error { due = append(due, id); timers.Cancel(m, id); return nil })
		}}
	k := processortest.New(t, cfg)
	k.Send("sched.v1", "a", []byte("due"))
	k.Send("sched.v1", "a", []byte("done"))
	k.Send("sched.v1", "b", []byte("due"))
	if len(loaded) != 3 || loaded[0] != nil || loaded[1] == nil || loaded[1].N != 1 || loaded[2] != nil {
		t.Fatalf("loaded %v", loaded)
	}
	k.Tick(k.Now().Add(time.Hour))
	if strings.Join(due, ",") != "b" {
		t.Errorf("due timers %v, want b (a's was cancelled by a zero deadline)", due)
	}
}
