package customersync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/config"
)

func parse(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	var c Config
	err := config.ParseMaps(Name, &c, env)
	return &c, err
}

func TestSettings(t *testing.T) {
	own := filepath.Join(t.TempDir(), "ownership.yaml")
	if err := os.WriteFile(own, []byte("version: 2\nconflict_exceptions: true\nfields:\n  name: {owner: erp}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := parse(t, map[string]string{
		"ISTHMUS_CUSTOMER_SYNC_MERGE_THRESHOLD": "0.95", "ISTHMUS_CUSTOMER_SYNC_REVIEW_THRESHOLD": "0.8",
		"ISTHMUS_CUSTOMER_SYNC_OWNERSHIP_FILE": own, "ISTHMUS_CUSTOMER_SYNC_CONFLICT_EXCEPTIONS": "false",
	})
	if err == nil {
		t.Fatal("an ownership file without the fields ERP and CRM exchange was accepted")
	}
	if !strings.Contains(err.Error(), "not in ownership config v2") {
		t.Errorf("err = %v", err)
	}
	c, err := parse(t, map[string]string{"ISTHMUS_CUSTOMER_SYNC_MERGE_THRESHOLD": "0.95", "ISTHMUS_CUSTOMER_SYNC_CONFLICT_EXCEPTIONS": "false"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Domain()
	if err != nil {
		t.Fatal(err)
	}
	if d.Match.AutoMerge != 0.95 || d.Match.Review != 0.75 || d.Ownership.ConflictExceptions || d.Ownership.Version != 1 {
		t.Errorf("domain config = %+v / %+v", d.Match, d.Ownership)
	}
}

func TestBadSettings(t *testing.T) {
	for _, env := range []map[string]string{
		{"ISTHMUS_CUSTOMER_SYNC_REVIEW_THRESHOLD": "0.95"}, // above the merge threshold
		{"ISTHMUS_CUSTOMER_SYNC_MERGE_THRESHOLD": "high"},
		{"ISTHMUS_CUSTOMER_SYNC_CONFLICT_EXCEPTIONS": "maybe"},
		{"ISTHMUS_CUSTOMER_SYNC_OWNERSHIP_FILE": "/nonexistent/ownership.yaml"},
	} {
		if _, err := parse(t, env); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}
