package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/tracing"
)

func TestMasksPIIAtAnyDepthAndAddsCorrelation(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo, "email", "phone", "tax_id")
	ctx := tracing.WithCorrelation(context.Background(), "corr-1")
	log.With("email", "a@b.c").InfoContext(ctx, "upsert",
		slog.Group("contact", "Phone", "+4912345", "name", "ok"),
		"record", map[string]any{"tax_id": "DE123", "nested": map[string]any{"email": "x@y.z"}, "city": "Berlin"},
	)
	out := buf.String()
	for _, secret := range []string{"a@b.c", "+4912345", "DE123", "x@y.z"} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks %q: %s", secret, out)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["correlation_id"] != "corr-1" {
		t.Errorf("correlation_id = %v", m["correlation_id"])
	}
	if !strings.Contains(out, "Berlin") || !strings.Contains(out, `"name":"ok"`) {
		t.Errorf("non-PII lost: %s", out)
	}
}
