package serde

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
)

// TestEveryCatalogTopic registers each topic's catalog schema (what
// `isthmus schemas apply` registers) and checks that serde, in lookup-only
// mode, finds it for the generated type and round-trips a full record.
func TestEveryCatalogTopic(t *testing.T) {
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := newHarness(t)
	s := New(h.cl)
	for _, topic := range cat.Topics() {
		if !topic.IsAvro() {
			continue
		}
		t.Run(topic.Name, func(t *testing.T) {
			if _, err := h.cl.RegisterSchema(ctx, Subject(topic.Name), sr.Schema{Schema: topic.SchemaJSON}, -1, -1); err != nil {
				t.Fatal(err)
			}
			in, err := contracts.NewValue(topic.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := fillSample(in, 1); err != nil {
				t.Fatal(err)
			}
			data, err := s.Encode(ctx, topic.Name, in)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := contracts.NewValue(topic.Name)
			if err := s.Decode(ctx, data, out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(in, out); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}
