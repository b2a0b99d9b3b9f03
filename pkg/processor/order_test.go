package processor

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func rec(topic string, offset int64, ms int64) *kgo.Record {
	return &kgo.Record{Topic: topic, Offset: offset, Timestamp: time.UnixMilli(ms)}
}

func order(recs []*kgo.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, fmt.Sprintf("%s%d", r.Topic, r.Offset))
	}
	return strings.Join(s, " ")
}

// TestByEventTime: a poll listing one topic's records before another's is
// handled oldest head first, each topic in offset order.
func TestByEventTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []*kgo.Record
		want string
	}{
		{"one topic keeps its order even when time goes back",
			[]*kgo.Record{rec("a", 0, 30), rec("a", 1, 10), rec("a", 2, 20)}, "a0 a1 a2"},
		{"a lookup listed before the older cross-reference it needs",
			[]*kgo.Record{rec("lookup", 0, 200), rec("lookup", 1, 210), rec("xref", 0, 100)}, "xref0 lookup0 lookup1"},
		{"interleaved by head timestamp",
			[]*kgo.Record{rec("a", 0, 10), rec("a", 1, 30), rec("b", 0, 20), rec("b", 1, 40)}, "a0 b0 a1 b1"},
		{"a timestamp going back holds its topic's later records behind it",
			[]*kgo.Record{rec("a", 0, 50), rec("a", 1, 5), rec("b", 0, 20)}, "b0 a0 a1"},
		{"ties go to the topic the poll listed first",
			[]*kgo.Record{rec("b", 0, 10), rec("a", 0, 10)}, "b0 a0"},
		{"one partition's records of a topic split over two fetches",
			[]*kgo.Record{rec("a", 0, 10), rec("b", 0, 15), rec("a", 1, 20)}, "a0 b0 a1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := order(byEventTime(tc.in)); got != tc.want {
				t.Errorf("byEventTime = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestByPartition: a poll's records grouped by partition number, each
// partition's merged by event time, partitions in the order the poll first
// listed them; every topic fetched for a partition is noted, with records
// or without.
func TestByPartition(t *testing.T) {
	a0, a1, b0 := rec("a", 0, 200), rec("a", 1, 300), rec("b", 0, 100)
	a0.Partition, a1.Partition, b0.Partition = 1, 1, 1
	c0 := rec("c", 0, 50) // partition 0
	fetches := kgo.Fetches{{Topics: []kgo.FetchTopic{
		{Topic: "a", Partitions: []kgo.FetchPartition{{Partition: 1, Records: []*kgo.Record{a0, a1}}}},
		{Topic: "c", Partitions: []kgo.FetchPartition{{Partition: 0, Records: []*kgo.Record{c0}}}},
		{Topic: "b", Partitions: []kgo.FetchPartition{{Partition: 1, Records: []*kgo.Record{b0}}}},
		{Topic: "d", Partitions: []kgo.FetchPartition{{Partition: 0}}}, // fetched, no records
	}}}
	pl := byPartition(fetches, nil)
	var got []string
	for _, part := range pl.parts {
		got = append(got, fmt.Sprintf("%d: %s", part, order(pl.recs[part])))
	}
	if got, want := strings.Join(got, "; "), "1: b0 a0 a1; 0: c0"; got != want {
		t.Errorf("byPartition = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(pl.fetched), "map[0:[c d] 1:[a b]]"; got != want {
		t.Errorf("fetched = %s, want %s", got, want)
	}
	if pl.n != 4 {
		t.Errorf("n = %d, want 4", pl.n)
	}
}

// TestHoldback: a new partition whose topics a and b both had records
// waiting at assignment keeps a's records back until b has been fetched
// (with records or without), until it has waited the assignment idle time,
// or until the transaction ends.
func TestHoldback(t *testing.T) {
	p := &Processor{assignIdle: time.Minute, log: slog.New(slog.DiscardHandler), parts: map[int32]*partition{}}
	for part := range int32(4) {
		p.parts[part] = &partition{number: part, restored: true, waitFor: []string{"a", "b"}, waitSince: time.Now()}
	}
	p.parts[3].waitSince = time.Now().Add(-time.Minute) // waited its longest
	at := func(topic string, part int32, offset, ms int64) *kgo.Record {
		r := rec(topic, offset, ms)
		r.Partition = part
		return r
	}
	poll := func(parts map[string]map[int32][]*kgo.Record) *polled {
		var f kgo.Fetch
		for _, topic := range []string{"a", "b"} {
			ft := kgo.FetchTopic{Topic: topic}
			for part := range int32(4) {
				if recs, ok := parts[topic][part]; ok {
					ft.Partitions = append(ft.Partitions, kgo.FetchPartition{Partition: part, Records: recs})
				}
			}
			if len(ft.Partitions) > 0 {
				f.Topics = append(f.Topics, ft)
			}
		}
		return byPartition(kgo.Fetches{f}, nil)
	}
	admitted := func(parts []int32, recs map[int32][]*kgo.Record) string {
		slices.Sort(parts)
		var s []string
		for _, part := range parts {
			s = append(s, fmt.Sprintf("%d: %s", part, order(recs[part])))
		}
		return strings.Join(s, "; ")
	}
	h := &holdback{p: p, held: map[int32][]*kgo.Record{}}

	// Only a's fetches came: partitions 0 to 2 wait; 3 has waited enough.
	got := admitted(h.admit(poll(map[string]map[int32][]*kgo.Record{"a": {
		0: {at("a", 0, 0, 200)}, 1: {at("a", 1, 0, 200)}, 2: {at("a", 2, 0, 200)}, 3: {at("a", 3, 0, 200)}}}), false))
	if want := "3: a0"; got != want {
		t.Fatalf("first poll admitted %q, want %q", got, want)
	}
	// b's fetch of partition 0 brings an older record: merged before the
	// held one. Partition 1's fetch of b came back empty (its backlog was
	// a transaction marker): nothing more to wait for.
	got = admitted(h.admit(poll(map[string]map[int32][]*kgo.Record{
		"a": {0: {at("a", 0, 1, 300)}},
		"b": {0: {at("b", 0, 0, 100)}, 1: {}}}), false))
	if want := "0: b0 a0 a1; 1: a0"; got != want {
		t.Fatalf("second poll admitted %q, want %q", got, want)
	}
	if !h.holding() {
		t.Fatal("partition 2 is no longer held before b was fetched")
	}
	// The transaction ends: the held records are handled in it.
	got = admitted(h.admit(&polled{recs: map[int32][]*kgo.Record{}}, true))
	if want := "2: a0"; got != want || h.holding() {
		t.Fatalf("flush admitted %q (holding %v), want %q", got, h.holding(), want)
	}
	// Nothing is held once a partition stopped waiting.
	got = admitted(h.admit(poll(map[string]map[int32][]*kgo.Record{"a": {2: {at("a", 2, 1, 400)}}}), false))
	if want := "2: a1"; got != want {
		t.Fatalf("after the flush admitted %q, want %q", got, want)
	}
}
