package quotetoorder

import (
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/quote-to-order/internal/saga"
)

func TestUnknownOrderException(t *testing.T) {
	erp := "ERP-9"
	p := &parked{SinceMS: 1_700_000_000_000, Statuses: []parkedStatus{
		{Status: contracts.OrderStatus{OrderID: "Q-GHOST", Status: contracts.ErpOrderStateAccepted}, Topic: "x.erp.order-status.v1", Partition: 2, Offset: 17, EventID: "ev-1", EventTimeMS: 1_700_000_000_000},
		{Status: contracts.OrderStatus{OrderID: "Q-GHOST", Status: contracts.ErpOrderStateShipped, ERPOrderID: &erp}, Topic: "x.quote-to-order.forward.v1", Origin: "x.erp.order-status.v1", Partition: 2, Offset: 3, EventID: "ev-2", EventTimeMS: 1_700_000_001_000},
	}}
	now := time.UnixMilli(1_700_000_400_000)
	ex := unknownOrderException("Q-GHOST", p, now, 5*time.Minute)
	if ex.Status != contracts.ExceptionStatusOpen || ex.OwnerService != Name || ex.Queue != contracts.ExceptionQueueSalesOps {
		t.Fatalf("exception %+v", ex)
	}
	// Decisions on it must route back to the order's partition.
	if q, ok := saga.QuoteOfException(ex.ExceptionID); !ok || q != "Q-GHOST" {
		t.Fatalf("exception id %q routes to %q, %v", ex.ExceptionID, q, ok)
	}
	for k, want := range map[string]string{
		"order_id": "Q-GHOST", "status": "SHIPPED", "statuses": "ACCEPTED,SHIPPED", "parked": "2", "grace": "5m0s",
		"source_offsets": "x.erp.order-status.v1/2@17,x.quote-to-order.forward.v1/2@3 (from x.erp.order-status.v1)",
		"erp_order_ids":  "ERP-9",
	} {
		if got := ex.Context[k]; got != want {
			t.Errorf("context[%s] = %q, want %q", k, got, want)
		}
	}
	if ex.EntityIds["order_id"] != "Q-GHOST" || ex.EntityIds["erp_order_id"] != "ERP-9" {
		t.Errorf("entity ids %v", ex.EntityIds)
	}
	if !strings.Contains(ex.Summary, "2 ERP status") || !ex.Metadata.OccurredAt.Equal(now) {
		t.Errorf("summary %q at %v", ex.Summary, ex.Metadata.OccurredAt)
	}
	// Deterministic: a replay raises the same exception and event.
	again := unknownOrderException("Q-GHOST", p, now, 5*time.Minute)
	if again.ExceptionID != ex.ExceptionID || again.Metadata.EventID != ex.Metadata.EventID {
		t.Errorf("not deterministic: %s/%s vs %s/%s", ex.ExceptionID, ex.Metadata.EventID, again.ExceptionID, again.Metadata.EventID)
	}
	// It must encode with the topic's schema (enums, uuid event id).
	if _, err := avro.Marshal(ex.Schema(), &ex); err != nil {
		t.Errorf("encode: %v", err)
	}
}
