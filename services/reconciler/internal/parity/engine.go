package parity

import (
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
)

// Stores of the parity processor (declare both in its Config.Stores).
const (
	// StoreEntities holds each entity's Entity under its key
	// (flow|entity id) and the partition's Stats under StatsKey.
	StoreEntities = "parity-entities"
	// StoreTimers is the timer index: one timer per entity key, at the end
	// of its waiting window, else at the end of its retention.
	StoreTimers = "parity-timers"
)

// StatsKey holds the partition's Stats in StoreEntities; no entity key
// (flow|id with a known flow) can take it.
const StatsKey = "#stats"

var (
	entities = processor.NewStore[Entity](StoreEntities, processor.JSON[Entity]())
	stats    = processor.NewStore[Stats](StoreEntities, processor.JSON[Stats]())
	timers   = processor.NewTimers(StoreTimers)
)

// Side is one path's latest answer for an entity.
type Side struct {
	Result contracts.PathResult `json:"result"`
	// At is the answer's event time; EventID the id of its record.
	At      time.Time `json:"at"`
	EventID string    `json:"event_id"`
	// Open: not compared yet (it arrived after the last verdict on it).
	Open bool `json:"open"`
}

// Entity is what the parity check keeps of one entity.
type Entity struct {
	Flow          string    `json:"flow"`
	EntityID      string    `json:"entity_id"`
	Legacy        *Side     `json:"legacy,omitempty"`
	New           *Side     `json:"new,omitempty"`
	CorrelationID string    `json:"correlation_id"`
	Verdict       string    `json:"verdict,omitempty"` // the latest verdict published
	LastAt        time.Time `json:"last_at"`           // event time of the latest answer
}

// waiting reports whether an answer waits for the other path's.
func (e *Entity) waiting() bool {
	return e.Legacy != nil && e.Legacy.Open || e.New != nil && e.New.Open
}

// oldestOpen is the open answer that has waited longest.
func (e *Entity) oldestOpen() *Side {
	var o *Side
	for _, s := range []*Side{e.Legacy, e.New} {
		if s != nil && s.Open && (o == nil || s.At.Before(o.At)) {
			o = s
		}
	}
	return o
}

// Stats are a partition's numbers, kept in its state so they are exact
// across restarts and rebalances (each replica exports its partitions).
type Stats struct {
	// Watermark is the latest event time the partition applied.
	Watermark time.Time `json:"watermark"`
	// Latest counts the kept entities by flow and latest verdict.
	Latest map[string]map[string]int64 `json:"latest"`
	// Published counts the verdicts published, by flow and verdict.
	Published map[string]map[string]int64 `json:"published"`
	// Waiting counts the entities whose answer waits for the other path's.
	Waiting map[string]int64 `json:"waiting"`
}

func add(m map[string]map[string]int64, flow, verdict string, n int64) {
	if verdict == "" {
		return
	}
	if m[flow] == nil {
		m[flow] = map[string]int64{}
	}
	m[flow][verdict] += n
}

// ReadStats reads the partition's stats (empty when none yet).
func ReadStats(m *processor.Message) (*Stats, error) {
	s, _, err := stats.Get(m, StatsKey)
	if err != nil {
		return nil, err
	}
	if s.Latest == nil {
		s.Latest = map[string]map[string]int64{}
	}
	if s.Published == nil {
		s.Published = map[string]map[string]int64{}
	}
	if s.Waiting == nil {
		s.Waiting = map[string]int64{}
	}
	return &s, nil
}

// Engine decides the verdicts.
type Engine struct {
	// Window is how long one path's answer waits for the other's before
	// the other is reported missing.
	Window time.Duration
	// Retention is how long an entity without a waiting answer is kept
	// after its latest answer (a later revision is compared with it).
	Retention time.Duration
}

// Apply takes one path's answer under SHADOW (the caller checked the
// record) at the message's event time. When the other path has answered
// the same command, or has an answer waiting (neither names a different
// command), the two are compared and the verdict returned; otherwise the
// answer waits for the other path's, up to Window.
func (e *Engine) Apply(m *processor.Message, key string, r *contracts.PathResult) ([]*contracts.ParityResult, error) {
	st, err := ReadStats(m)
	if err != nil {
		return nil, err
	}
	en, _, err := entities.Get(m, key)
	if err != nil {
		return nil, err
	}
	en.Flow, en.EntityID = r.Flow, r.EntityID
	at := m.EventTime()
	if at.After(st.Watermark) {
		st.Watermark = at
	}
	wasWaiting := en.waiting()
	mine := &Side{Result: *r, At: at, EventID: m.EventID(), Open: true}
	other := en.New
	if r.Path == contracts.ErpPathLegacy {
		en.Legacy = mine
	} else {
		en.New = mine
		other = en.Legacy
	}
	// The verdict continues the flow of the command the paths answered.
	en.CorrelationID = r.Metadata.CorrelationID
	if en.CorrelationID == "" {
		en.CorrelationID = m.CorrelationID()
	}
	if at.After(en.LastAt) {
		en.LastAt = at
	}
	var out []*contracts.ParityResult
	if other != nil {
		if rel := relation(other, mine); rel != differentCommand && (rel == sameCommand || other.Open) {
			diffs := Compare(&en.Legacy.Result, &en.New.Result)
			verdict := Verdict(diffs)
			first := other.At
			if mine.At.Before(first) {
				first = mine.At
			}
			pr := e.result(&en, verdict, diffs, m.OutputMetadata(contracts.SourceSystemReconciler, 1, en.CorrelationID), first, at)
			pr.LegacyCommandID, pr.NewCommandID = en.Legacy.Result.CommandID, en.New.Result.CommandID
			out = append(out, pr)
			mine.Open, other.Open = false, false
			e.published(st, &en, verdict)
		}
	}
	e.settle(m, st, key, &en, wasWaiting)
	if err := entities.Put(m, key, en); err != nil {
		return nil, err
	}
	return out, stats.Put(m, StatsKey, *st)
}

const (
	unknownCommand = iota
	sameCommand
	differentCommand
)

// relation tells whether two answers answer the same command: unknown when
// either has no command id.
func relation(a, b *Side) int {
	ca, cb := a.Result.CommandID, b.Result.CommandID
	switch {
	case ca == nil || cb == nil || *ca == "" || *cb == "":
		return unknownCommand
	case *ca == *cb:
		return sameCommand
	}
	return differentCommand
}

func (e *Engine) result(en *Entity, verdict string, diffs []contracts.ParityDifference, md contracts.EventMetadata, first, decided time.Time) *contracts.ParityResult {
	if diffs == nil {
		diffs = []contracts.ParityDifference{}
	}
	return &contracts.ParityResult{Metadata: md, Flow: en.Flow, EntityID: en.EntityID, Verdict: verdict, Differences: diffs,
		FirstSeenAt: event.Time(first), DecidedAt: event.Time(decided)}
}

// published counts a verdict and moves the entity's latest verdict.
func (e *Engine) published(st *Stats, en *Entity, verdict string) {
	add(st.Published, en.Flow, verdict, 1)
	add(st.Latest, en.Flow, en.Verdict, -1)
	add(st.Latest, en.Flow, verdict, 1)
	en.Verdict = verdict
}

// settle counts the entity's waiting and sets its timer: the end of the
// window of its oldest open answer, else the end of its retention.
func (e *Engine) settle(m *processor.Message, st *Stats, key string, en *Entity, wasWaiting bool) {
	switch w := en.waiting(); {
	case w && !wasWaiting:
		st.Waiting[en.Flow]++
	case !w && wasWaiting:
		st.Waiting[en.Flow]--
	}
	if o := en.oldestOpen(); o != nil {
		timers.Set(m, key, o.At.Add(e.Window))
		return
	}
	timers.Set(m, key, en.LastAt.Add(e.Retention))
}

// Tick fires the partition's timers due at now: the oldest open answer of
// each entity whose window passed gets its MISSING_* verdict (the other
// path did not answer that command in time); an entity past its retention
// is forgotten. busy says the partition applied answers moments ago (it
// may be working through a backlog): then a window closes only once the
// partition's event time passed it too, so a lagging reconciler never
// reports missing an answer already waiting in its input; an idle
// partition fires by the clock. It returns the verdicts and the
// partition's stats.
func (e *Engine) Tick(m *processor.Message, now time.Time, busy bool) ([]*contracts.ParityResult, *Stats, error) {
	st, err := ReadStats(m)
	if err != nil {
		return nil, nil, err
	}
	until := now
	if busy && st.Watermark.Before(until) {
		until = st.Watermark
	}
	var out []*contracts.ParityResult
	changed := false
	err = timers.Fire(m, until, func(key string, _ time.Time) error {
		en, ok, err := entities.Get(m, key)
		if err != nil {
			return err
		}
		if !ok {
			timers.Cancel(m, key)
			return nil
		}
		o := en.oldestOpen()
		switch {
		case o != nil && !o.At.Add(e.Window).After(until):
			verdict := contracts.ParityVerdictMissingNew
			if o != en.Legacy {
				verdict = contracts.ParityVerdictMissingLegacy
			}
			md := event.Metadata(event.ID("recon-parity", key, verdict, o.EventID), en.CorrelationID, o.EventID, contracts.SourceSystemReconciler, now)
			pr := e.result(&en, verdict, nil, md, o.At, now)
			if o == en.Legacy {
				pr.LegacyCommandID = o.Result.CommandID
			} else {
				pr.NewCommandID = o.Result.CommandID
			}
			out = append(out, pr)
			o.Open = false
			e.published(st, &en, verdict)
			e.settle(m, st, key, &en, true)
			return entities.Put(m, key, en)
		case o == nil && !en.LastAt.Add(e.Retention).After(until):
			timers.Cancel(m, key)
			entities.Delete(m, key)
			add(st.Latest, en.Flow, en.Verdict, -1)
			changed = true
			return nil
		}
		e.settle(m, st, key, &en, en.waiting())
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if changed || len(out) > 0 {
		// Written only when it changed: a tick of a quiet partition
		// writes nothing.
		if err := stats.Put(m, StatsKey, *st); err != nil {
			return nil, nil, err
		}
	}
	return out, st, nil
}
