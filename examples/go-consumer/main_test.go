package main

import (
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

func TestSummarizeDedupesAndKeepsTheLatest(t *testing.T) {
	md := func(id string) map[string]any { return map[string]any{"event_id": id} }
	recs := []Record{
		{Key: "O-1", Offset: 0, Value: map[string]any{"metadata": md("e1"), "state": "RECEIVED"}},
		{Key: "O-1", Offset: 1, Value: map[string]any{"metadata": md("e1"), "state": "RECEIVED"}}, // redelivered
		{Key: "O-2", Offset: 2, Value: map[string]any{"metadata": md("e2"), "state": "RECEIVED"}},
		{Key: "O-1", Offset: 3, Value: map[string]any{"metadata": md("e3"), "state": "INVOICED"}},
		{Key: "O-2", Offset: 4}, // tombstone
	}
	s := summarize(recs, "state")
	if s.Records != 5 || s.Duplicates != 1 || s.Tombstones != 1 || s.Keys != 1 || s.GroupBy["INVOICED"] != 1 || len(s.GroupBy) != 1 {
		t.Fatalf("summary %+v", s)
	}
}

func TestPlainUnwrapsUnionsAndTimes(t *testing.T) {
	s := avro.MustParse(`{"type":"record","name":"R","namespace":"x","fields":[
	 {"name":"m","type":["null",{"type":"record","name":"M","fields":[{"name":"a","type":"long"}]}]},
	 {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
	 {"name":"d","type":{"type":"int","logicalType":"date"}},
	 {"name":"s","type":["null","string"]}]}`)
	at := time.UnixMilli(1_772_359_200_000).UTC()
	b, err := avro.Marshal(s, map[string]any{"m": map[string]any{"x.M": map[string]any{"a": int64(7)}}, "at": at, "d": at, "s": "v"})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := avro.Unmarshal(s, b, &v); err != nil {
		t.Fatal(err)
	}
	got := plain(s, v).(map[string]any)
	if got["m"].(map[string]any)["a"] != int64(7) || got["at"] != "2026-03-01T10:00:00Z" || got["d"] != "2026-03-01" || got["s"] != "v" {
		t.Fatalf("plain = %#v", got)
	}
}
