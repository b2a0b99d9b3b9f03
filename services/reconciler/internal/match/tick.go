package match

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
)

// TickResult is what one partition's tick produced.
type TickResult struct {
	Breaks  []*contracts.ReconBreak
	Reports []*contracts.ReconReport
	Stats   *Stats
}

type due struct{ id, key, exp string }

// Tick fires every expectation of the partition whose deadline passed, in
// deadline order: the break event, the expectation's breached mark and the
// removal of its timer are written together, so the tick's transaction
// fires each break exactly once. Ledger settle timers re-check their
// contract period and open BILLING_JOURNAL_MISMATCH if it still disagrees.
// It also collects settled entities past their retention and closes the
// report window.
//
// busy says the partition is still working through a backlog (it applied
// observations moments ago): then a deadline fires only once the
// partition's event-time watermark passed it too, so a lagging or
// restarting matcher never reports an SLA break whose resolving event is
// already waiting in its input. An idle partition fires by the clock.
//
// First it moves up to MaxFiresPerTick timers an earlier release left in
// StoreDeadlines into the timer index, earliest first, so they fire like
// any other; once that store is empty this costs one empty scan. A tick
// costs what it moves and fires, not the number of timers pending. An
// entry of either index that cannot be read is our own state gone bad: a
// retriable corrupt_state error (processor.Store), nothing skipped.
func (e *Engine) Tick(st *processor.Message, partition int32, now time.Time, busy bool) (*TickResult, error) {
	nowMs := now.UnixMilli()
	stats, err := ReadStats(st)
	if err != nil {
		return nil, err
	}
	fireUntil := nowMs
	if busy && stats.Watermark < fireUntil {
		fireUntil = stats.Watermark
	}
	limit := e.MaxFiresPerTick
	if limit <= 0 {
		limit = 5000
	}
	if _, err := processor.MoveTimers(st, StoreDeadlines, timers, limit, parseLegacyDeadline); err != nil {
		return nil, err
	}
	var dues []due
	timers.Due(st, time.UnixMilli(fireUntil), func(id string, _ time.Time) bool {
		mk, ek, ok := strings.Cut(id, "\x00")
		if !ok {
			err = processor.CorruptState(StoreTimers, id, errors.New("timer id names no match key and expectation"))
			return false
		}
		dues = append(dues, due{id: id, key: mk, exp: ek})
		return len(dues) < limit
	})
	if err != nil {
		return nil, err
	}
	x := &op{e: e, st: st, stats: stats}
	touched := map[string]*Entity{}
	deleted := map[string]bool{}
	for _, d := range dues {
		timers.Cancel(st, d.id)
		en := touched[d.key]
		if en == nil {
			if deleted[d.key] {
				continue
			}
			if en, err = loadEntity(st, d.key); err != nil {
				return nil, err
			}
			en.counts(stats, -1)
			touched[d.key] = en
		}
		if d.exp == gcKey {
			en.GCAt = 0
			if en.settled() && en.Seen+e.retention() <= nowMs {
				delete(touched, d.key)
				deleted[d.key] = true
				st.Put(StoreEntities, d.key, nil)
				continue
			}
			en.GCAt = max(en.Seen+e.retention(), nowMs+e.retention()/4)
			setTimer(st, en.Key, gcKey, en.GCAt)
			continue
		}
		if lk, ok := strings.CutPrefix(d.exp, settlePrefix); ok {
			x.settleDue(en, lk, nowMs)
			continue
		}
		ex := en.Exp[d.exp]
		if ex == nil || ex.Breached {
			continue
		}
		ex.Breached = true
		stats.Breaches[ex.Kind]++
		stats.Win.opened(ex.Kind)
		x.out = append(x.out, e.slaBreak(en, d.exp, ex, contracts.BreakStatusOpen, nowMs, ex.Cause))
	}
	keys := make([]string, 0, len(touched))
	for k := range touched {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		en := touched[k]
		en.counts(stats, +1)
		if err := saveEntity(st, en); err != nil {
			return nil, err
		}
	}
	res := &TickResult{Breaks: x.out, Stats: stats}
	if r := e.closeWindow(stats, partition, nowMs); r != nil {
		res.Reports = append(res.Reports, r)
	}
	if len(dues) > 0 || res.Reports != nil || stats.Win.Start == 0 {
		if stats.Win.Start == 0 {
			stats.Win.Start = align(nowMs, e.reportEvery().Milliseconds())
		}
		if err := writeStats(st, stats); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func align(ms, every int64) int64 { return ms - ms%every }

// closeWindow emits the partition's report when its window ended and
// something happened in it or breaks are open.
func (e *Engine) closeWindow(s *Stats, partition int32, nowMs int64) *contracts.ReconReport {
	every := e.reportEvery().Milliseconds()
	if s.Win.Start == 0 || nowMs < s.Win.Start+every {
		return nil
	}
	w := s.Win
	s.Win = Window{Start: align(nowMs, every)}
	var open int64
	kinds := map[string]bool{}
	for k, n := range s.Breaks {
		open += n
		kinds[k] = true
	}
	for k := range w.ByKind {
		kinds[k] = true
	}
	if w.ExpOpened == 0 && w.ExpMet == 0 && w.BreaksOpened == 0 && w.BreaksClosed == 0 && open == 0 {
		return nil
	}
	start, end := time.UnixMilli(w.Start).UTC(), time.UnixMilli(w.Start+every).UTC()
	id := event.ID("recon-report", strconv.Itoa(int(partition)), strconv.FormatInt(w.Start, 10))
	r := &contracts.ReconReport{
		Metadata: event.Metadata(id, id, "", contracts.SourceSystemReconciler, end),
		ReportID: id, WindowStart: start, WindowEnd: end,
		ExpectationsOpened: w.ExpOpened, ExpectationsMet: w.ExpMet,
		BreaksOpened: w.BreaksOpened, BreaksClosed: w.BreaksClosed, OpenBreaks: open,
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		oc := w.ByKind[k]
		r.ByKind = append(r.ByKind, contracts.BreakKindSummary{Kind: k, Opened: oc[0], Closed: oc[1], Open: s.Breaks[k]})
	}
	return r
}
