package catalog

import "testing"

func TestDLQTopicNames(t *testing.T) {
	for _, svc := range []string{"quote-to-order", "gateway", "billing-bridge"} {
		topic := DLQTopic(svc)
		if want := "dlq." + svc + ".v1"; topic != want {
			t.Errorf("DLQTopic(%q) = %q, want %q", svc, topic, want)
		}
		if got, ok := DLQService(topic); !ok || got != svc {
			t.Errorf("DLQService(%q) = %q, %v; want %q", topic, got, ok, svc)
		}
	}
	if got, ok := DLQService("dlq.reconciler.v2"); !ok || got != "reconciler" {
		t.Errorf("DLQService of a v2 DLQ = %q, %v", got, ok)
	}
	for _, bad := range []string{"dlq.", "dlq.x.y", "crm.quote.v1", "dlq.Quote.v1", "xdlq.a.v1", "dlq.a.v1.retry"} {
		if got, ok := DLQService(bad); ok {
			t.Errorf("DLQService(%q) = %q, true; want not a DLQ topic", bad, got)
		}
	}
}
