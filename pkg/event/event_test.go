package event

import (
	"strconv"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/internal/construct"
)

func TestPositionIDIsIDOfThePosition(t *testing.T) {
	for _, c := range []struct {
		topic     string
		partition int32
		offset    int64
	}{{"crm.quote.v1", 0, 0}, {"t", 5, 123456789}, {"x.forward.v1", 11, -1}} {
		want := ID(c.topic, strconv.Itoa(int(c.partition)), strconv.FormatInt(c.offset, 10))
		if got := PositionID(c.topic, c.partition, c.offset); got != want {
			t.Errorf("PositionID(%q, %d, %d) = %s, want %s", c.topic, c.partition, c.offset, got, want)
		}
	}
}

func TestID(t *testing.T) {
	a, b := ID("a", "bc"), ID("ab", "c")
	if a == b {
		t.Errorf("ID does not separate its parts: %s", a)
	}
	if ID("a", "bc") != a {
		t.Error("ID is not deterministic")
	}
	// UUID shape, version nibble 5, RFC 4122 variant.
	if len(a) != 36 || a[8] != '-' || a[13] != '-' || a[18] != '-' || a[23] != '-' || a[14] != '5' || !(a[19] >= '8' && a[19] <= 'b') {
		t.Errorf("ID = %s, not a version-5 style UUID", a)
	}
}

func TestMetadataNormalisesTheTime(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	at := time.Date(2026, 12, 7, 1, 2, 3, 456_789_000, loc)
	md := Metadata("id", "corr", "", "CRM", at)
	if want := time.Date(2026, 12, 7, 0, 2, 3, 456_000_000, time.UTC); !md.OccurredAt.Equal(want) || md.OccurredAt.Location() != time.UTC || md.OccurredAt.Nanosecond() != 456_000_000 {
		t.Errorf("OccurredAt = %v, want %v in UTC at millisecond precision", md.OccurredAt, want)
	}
	if md.CausationID != nil {
		t.Errorf("CausationID = %q, want null for a flow's first event", *md.CausationID)
	}
	out := Output("cause", 2, "corr", "QUOTE_TO_ORDER", at)
	if out.EventID != ID("cause", "out", "2") || out.CausationID == nil || *out.CausationID != "cause" || out.CorrelationID != "corr" || out.SourceSystem != "QUOTE_TO_ORDER" {
		t.Errorf("Output = %+v", out)
	}
	if !Time(time.Time{}).IsZero() {
		t.Error("Time changed the zero time")
	}
}

// Event metadata is built here and nowhere else (tests aside): one place
// decides the ids and how occurred_at is normalised.
func TestOnlyThisPackageBuildsEventMetadata(t *testing.T) {
	root, err := construct.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	sites, err := construct.Literals(root, "github.com/isthmus/isthmus/pkg/contracts", "EventMetadata", "pkg/event")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		t.Errorf("%s builds a contracts.EventMetadata: use pkg/event (Metadata, Output) or the processor.Message helpers", s)
	}
}
