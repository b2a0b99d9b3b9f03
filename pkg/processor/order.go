package processor

import "github.com/twmb/franz-go/pkg/kgo"

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

// pollOrder is a poll's records grouped by partition number (in the order
// the partitions first appear), each partition's in byEventTime order.
func pollOrder(fetches kgo.Fetches) []*kgo.Record {
	var parts []int32
	by := map[int32][]*kgo.Record{}
	n := 0
	iter := fetches.RecordIter()
	for !iter.Done() {
		r := iter.Next()
		if _, ok := by[r.Partition]; !ok {
			parts = append(parts, r.Partition)
		}
		by[r.Partition] = append(by[r.Partition], r)
		n++
	}
	out := make([]*kgo.Record, 0, n)
	for _, part := range parts {
		out = append(out, byEventTime(by[part])...)
	}
	return out
}
