package erpsimulator

import (
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

func TestLegacyConfig(t *testing.T) {
	c, err := parse(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Legacy; l.Dir != "" || l.Poll != time.Second || l.Batch != (erp.Latency{Min: 2 * time.Second, Max: 6 * time.Second}) || l.BadFilesBps != 0 ||
		l.ExportRestricted != nil || l.TaxMissing != nil {
		t.Fatalf("defaults %+v", l)
	}
	c, err = parse(map[string]string{"ISTHMUS_SIM_LEGACY_DIR": "/drop", "ISTHMUS_SIM_LEGACY_BATCH": "5s-30s", "ISTHMUS_SIM_LEGACY_POLL": "250ms",
		"ISTHMUS_SIM_LEGACY_BAD_FILES_BPS": "500", "ISTHMUS_SIM_LEGACY_EXPORT_RESTRICTED": "ir, cu", "ISTHMUS_SIM_LEGACY_TAX_MISSING": "none"})
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Legacy; l.Dir != "/drop" || l.Batch.Max != 30*time.Second || l.Poll != 250*time.Millisecond || l.BadFilesBps != 500 ||
		len(l.ExportRestricted) != 2 || !l.ExportRestricted["IR"] || l.TaxMissing == nil || len(l.TaxMissing) != 0 {
		t.Fatalf("legacy %+v", l)
	}
	for env, v := range map[string]string{"ISTHMUS_SIM_LEGACY_BATCH": "8s-2s", "ISTHMUS_SIM_LEGACY_POLL": "0s", "ISTHMUS_SIM_LEGACY_BAD_FILES_BPS": "10001"} {
		if _, err := parse(map[string]string{env: v}); err == nil || !strings.Contains(err.Error(), "invalid "+env) {
			t.Errorf("%s=%s: %v", env, v, err)
		}
	}
}
