package event_test

import (
	"fmt"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
)

// The second event a handler emits for an input: its id derives from the
// input's, so a replay emits the same id; occurred_at is UTC milliseconds.
func ExampleOutput() {
	input := event.PositionID("crm.quote.v1", 3, 1200)
	at := time.Date(2026, 12, 7, 10, 0, 0, 123_456_789, time.FixedZone("CET", 3600))
	md := event.Output(input, 2, "corr-Q-100", contracts.SourceSystemQuoteToOrder, at)
	fmt.Println(md.EventID == event.ID(input, "out", "2"), *md.CausationID == input, md.OccurredAt)
	// Output:
	// true true 2026-12-07 09:00:00.123 +0000 UTC
}
