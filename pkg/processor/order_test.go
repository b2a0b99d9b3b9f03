package processor

import (
	"fmt"
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

// TestPollOrder: the sequential path sees each partition's records merged
// by event time, partitions in the order the poll first listed them.
func TestPollOrder(t *testing.T) {
	a0, a1, b0 := rec("a", 0, 200), rec("a", 1, 300), rec("b", 0, 100)
	a0.Partition, a1.Partition, b0.Partition = 1, 1, 1
	c0 := rec("c", 0, 50) // partition 0
	fetches := kgo.Fetches{{Topics: []kgo.FetchTopic{
		{Topic: "a", Partitions: []kgo.FetchPartition{{Partition: 1, Records: []*kgo.Record{a0, a1}}}},
		{Topic: "c", Partitions: []kgo.FetchPartition{{Partition: 0, Records: []*kgo.Record{c0}}}},
		{Topic: "b", Partitions: []kgo.FetchPartition{{Partition: 1, Records: []*kgo.Record{b0}}}},
	}}}
	if got, want := order(pollOrder(fetches)), "b0 a0 a1 c0"; got != want {
		t.Errorf("pollOrder = %s, want %s", got, want)
	}
}
