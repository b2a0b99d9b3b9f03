package processor

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// byEventTime orders one partition number's records of a poll the way
// Kafka Streams picks a task's next record: of the input topics with
// records waiting, the one whose next record has the oldest timestamp goes
// first, and each topic's records keep their offset order (a timestamp
// that goes back within a topic does not reorder it). A record produced
// before another on a co-partitioned topic — a cross-reference, then the
// lookup that needs it — is so handled first when both are in one poll,
// whatever order the fetch response listed the topics in. Records of one
// topic only are returned as they are.
func byEventTime(recs []*kgo.Record) []*kgo.Record {
	if len(recs) < 2 {
		return recs
	}
	single := true
	for _, r := range recs[1:] {
		if r.Topic != recs[0].Topic {
			single = false
			break
		}
	}
	if single {
		return recs
	}
	// Each topic's records in the order the poll gave them (offset order,
	// also when one partition's records span two fetches).
	var seqs [][]*kgo.Record
	index := map[string]int{}
	for _, r := range recs {
		i, ok := index[r.Topic]
		if !ok {
			i = len(seqs)
			index[r.Topic] = i
			seqs = append(seqs, nil)
		}
		seqs[i] = append(seqs[i], r)
	}
	out := make([]*kgo.Record, 0, len(recs))
	for len(out) < len(recs) {
		best := -1
		for i, s := range seqs {
			if len(s) > 0 && (best < 0 || s[0].Timestamp.Before(seqs[best][0].Timestamp)) {
				best = i
			}
		}
		out = append(out, seqs[best][0])
		seqs[best] = seqs[best][1:]
	}
	return out
}

// polled is one poll grouped by partition number.
type polled struct {
	// parts are the partition numbers with records, in the order the
	// poll first lists them; recs holds each one's records in byEventTime
	// order.
	parts []int32
	recs  map[int32][]*kgo.Record
	// fetched names, per partition number, every topic the poll holds a
	// fetch of that partition for (with records or without: a fetch can
	// carry a partition whose records were all control records).
	fetched map[int32][]string
	n       int
}

// byPartition groups a poll's records by partition number. Records skip
// takes (nil: none) are left out. Both the lanes and the sequential path
// order a poll with it.
func byPartition(fetches kgo.Fetches, skip func(*kgo.Record) bool) *polled {
	pl := &polled{recs: map[int32][]*kgo.Record{}, fetched: map[int32][]string{}}
	fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if ftp.Err != nil {
			return
		}
		part := ftp.Partition
		pl.fetched[part] = append(pl.fetched[part], ftp.Topic)
		for _, r := range ftp.Records {
			pl.n++
			if skip != nil && skip(r) {
				continue
			}
			if _, ok := pl.recs[part]; !ok {
				pl.parts = append(pl.parts, part)
			}
			pl.recs[part] = append(pl.recs[part], r)
		}
	})
	for _, part := range pl.parts {
		pl.recs[part] = byEventTime(pl.recs[part])
	}
	return pl
}

// holdback keeps a newly assigned partition number's records back while an
// input topic that had records waiting at assignment (see backlogged) has
// not been fetched yet, for at most the processor's assignment idle time
// (WithAssignmentIdle): the consumer starts fetching a new partition's
// topics as their offsets load, so the first polls after a rebalance or a
// restart can hold one topic's backlog without the other's, and without
// waiting a lookup could run before the cross-reference that happened
// before it. Like Kafka Streams' task idling (max.task.idle.ms), but only
// after assignment: afterwards a poll's records are handled as they come.
type holdback struct {
	p    *Processor
	held map[int32][]*kgo.Record
}

// admit takes a poll and returns the partition numbers whose records are
// to be handled now, each with its records (held ones first, merged by
// event time): those no longer waiting for a topic, and those that waited
// their longest. flush admits every held partition (the transaction is
// about to end: a polled record is committed with it, so it must be
// handled in it).
func (h *holdback) admit(pl *polled, flush bool) (parts []int32, recs map[int32][]*kgo.Record) {
	now := time.Now()
	recs = pl.recs
	for part, topics := range pl.fetched {
		if st := h.p.parts[part]; st != nil && len(st.waitFor) > 0 {
			st.waitFor = slices.DeleteFunc(st.waitFor, func(t string) bool { return slices.Contains(topics, t) })
		}
	}
	ready := func(part int32) bool {
		st := h.p.parts[part]
		if st == nil || len(st.waitFor) == 0 || flush || now.Sub(st.waitSince) >= h.p.assignIdle {
			if st != nil && len(st.waitFor) > 0 {
				h.p.log.Debug("handling a new partition's records without waiting longer for its other topics",
					"partition", part, "waiting_for", st.waitFor, "waited", now.Sub(st.waitSince))
				st.waitFor = nil
			}
			return true
		}
		return false
	}
	for _, part := range pl.parts {
		if !ready(part) {
			h.held[part] = append(h.held[part], recs[part]...)
			continue
		}
		if held, ok := h.held[part]; ok {
			delete(h.held, part)
			recs[part] = byEventTime(append(held, recs[part]...))
		}
		parts = append(parts, part)
	}
	for part, held := range h.held {
		if ready(part) {
			delete(h.held, part)
			recs[part] = held
			parts = append(parts, part)
		}
	}
	return parts, recs
}

// holding reports whether records are held back.
func (h *holdback) holding() bool { return len(h.held) > 0 }
