package catalog

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"
)

// designTopics are the topics DESIGN.md §2 fixes.
var designTopics = []string{
	"audit.field-change.v1", "billing.commands.v1", "billing.events.v1", "billing.revenue-schedule.v1",
	"crm.account-updates.v1", "crm.account.v1", "crm.contact.v1", "crm.deal.v1", "crm.lead-updates.v1", "crm.lead.v1", "crm.quote.v1",
	"dlq.billing-bridge.v1", "dlq.customer-sync.v1", "dlq.erp-simulator.v1", "dlq.field-service.v1", "dlq.gateway.v1", "dlq.quote-to-order.v1", "dlq.reconciler.v1",
	"erp.credit.v1", "erp.customer-commands.v1", "erp.customer.v1", "erp.inventory.v1", "erp.invoice.v1",
	"erp.journal-commands.v1", "erp.journal.v1", "erp.order-commands.v1", "erp.order-status.v1", "erp.price-book.v1",
	"mdm.contact.v1", "mdm.customer.v1", "mdm.xref.v1", "ops.decisions.v1", "ops.exceptions.v1", "orders.lifecycle.v1",
	"recon.breaks.v1", "recon.reports.v1",
	// §8: service case to field operations.
	"erp.asset.v1", "erp.service-order-commands.v1", "erp.service-order-status.v1", "erp.warranty-claim-commands.v1",
	"erp.return-commands.v1", "erp.return-status.v1", "crm.case.v1", "crm.case-updates.v1",
	// §8: modernization (legacy ERP adapter, routing modes, parity).
	"erp.path-results.v1", "ops.flow-mode.v1", "recon.parity.v1", "dlq.legacy-bridge.v1", "dlq.reconciler-parity.v1",
}

func loadTree(t *testing.T) *Catalog {
	t.Helper()
	c, err := Load(filepath.Join("..", "..", "schemas"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestLoadSourceTree(t *testing.T) {
	c := loadTree(t)
	if diff := cmp.Diff(slices.Sorted(slices.Values(designTopics)), c.Names()); diff != "" {
		t.Errorf("topics (-want +got):\n%s", diff)
	}
	compacted := map[string]bool{
		"mdm.contact.v1": true, "mdm.customer.v1": true, "mdm.xref.v1": true, "erp.price-book.v1": true,
		"erp.credit.v1": true, "erp.inventory.v1": true, "erp.customer.v1": true, "erp.asset.v1": true,
		"ops.flow-mode.v1": true,
	}
	full := map[string]bool{
		"mdm.contact.v1": true, "mdm.customer.v1": true, "mdm.xref.v1": true, "orders.lifecycle.v1": true,
		"billing.revenue-schedule.v1": true, "recon.breaks.v1": true, "recon.parity.v1": true,
	}
	for _, tp := range c.Topics() {
		wantPolicy := CleanupDelete
		if compacted[tp.Name] {
			wantPolicy = CleanupCompact
		}
		if tp.CleanupPolicy != wantPolicy {
			t.Errorf("%s: cleanup %s, want %s", tp.Name, tp.CleanupPolicy, wantPolicy)
		}
		if tp.IsDLQ() {
			if tp.IsAvro() || tp.Schema != nil {
				t.Errorf("%s: DLQ must be raw", tp.Name)
			}
			continue
		}
		wantMode := "BACKWARD_TRANSITIVE"
		if full[tp.Name] {
			wantMode = "FULL_TRANSITIVE"
		}
		if string(tp.Compatibility) != wantMode {
			t.Errorf("%s: compatibility %s, want %s", tp.Name, tp.Compatibility, wantMode)
		}
		if tp.Public != full[tp.Name] {
			t.Errorf("%s: public %v, want %v", tp.Name, tp.Public, full[tp.Name])
		}
		// The standalone JSON parses on its own, in a fresh cache, and is
		// the same schema.
		s, err := avro.ParseWithCache(tp.SchemaJSON, "", &avro.SchemaCache{})
		if err != nil {
			t.Errorf("%s: standalone schema: %v", tp.Name, err)
			continue
		}
		if s.Fingerprint() != tp.Schema.Fingerprint() {
			t.Errorf("%s: standalone schema differs from parsed schema", tp.Name)
		}
		if !strings.Contains(tp.SchemaJSON, `"pii":true`) != (len(tp.PII) == 0) {
			t.Errorf("%s: pii property kept in SchemaJSON = %v, pii fields %v", tp.Name, !strings.Contains(tp.SchemaJSON, `"pii":true`), tp.PII)
		}
		if tp.Subject() != tp.Name+"-value" {
			t.Errorf("%s: subject %s", tp.Name, tp.Subject())
		}
	}
}

func TestPIIFields(t *testing.T) {
	got := loadTree(t).PIIFields()
	want := []string{"contact_name", "email", "first_name", "full_name", "last_name", "mobile_phone", "new_value", "old_value", "phone"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PIIFields (-want +got):\n%s", diff)
	}
}

func TestBrokerConfigs(t *testing.T) {
	c := loadTree(t)
	got := c.MustTopic("mdm.xref.v1").BrokerConfigs()
	want := map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mdm.xref.v1 (-want +got):\n%s", diff)
	}
	got = c.MustTopic("crm.quote.v1").BrokerConfigs()
	want = map[string]string{"cleanup.policy": "delete", "retention.ms": "2592000000"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("crm.quote.v1 (-want +got):\n%s", diff)
	}
	if _, err := c.Lookup("crm.nope.v1"); err == nil || !strings.Contains(err.Error(), `"crm.nope.v1"`) {
		t.Errorf("Lookup unknown: %v", err)
	}
}

// TestEmbeddedIsFresh: the copy compiled into binaries equals schemas/.
func TestEmbeddedIsFresh(t *testing.T) {
	src := os.DirFS(filepath.Join("..", "..", "schemas"))
	files := map[string]string{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	emb := map[string]string{}
	err = fs.WalkDir(EmbeddedFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(EmbeddedFS(), p)
		emb[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(files, emb); diff != "" {
		t.Errorf("embedded schemas are stale, run make generate-contracts (-source +embedded):\n%s", diff)
	}
	if _, err := Embedded(); err != nil {
		t.Fatalf("Embedded: %v", err)
	}
}

const metadataType = `{"type":"record","name":"EventMetadata","namespace":"isthmus.common.v1","doc":"m","fields":[
 {"name":"event_id","type":"string","doc":"d"}]}`

const moneyType = `{"type":"record","name":"Money","namespace":"isthmus.common.v1","doc":"m","fields":[
 {"name":"amount_minor","type":"long","doc":"d"},{"name":"currency","type":"string","doc":"d"}]}`

func fsWith(yamlText string, files map[string]string) fstest.MapFS {
	m := fstest.MapFS{
		"topics.yaml":               {Data: []byte(yamlText)},
		"common/EventMetadata.avsc": {Data: []byte(metadataType)},
		"common/Money.avsc":         {Data: []byte(moneyType)},
	}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

const goodTopic = `types_dir: common
topics:
  - name: t.thing.v1
    description: things
    owner: me
    key: thing id
    value: t.avsc
    record: isthmus.t.v1.Thing
    partitions: 3
    cleanup_policy: delete
    retention: 24h
    compatibility: BACKWARD
    pii: [contact.email]
`

const goodSchema = `{"type":"record","name":"Thing","namespace":"isthmus.t.v1","doc":"a thing","fields":[
 {"name":"metadata","type":"isthmus.common.v1.EventMetadata","doc":"m"},
 {"name":"price","type":"isthmus.common.v1.Money","doc":"p"},
 {"name":"cost","type":["null","isthmus.common.v1.Money"],"default":null,"doc":"c"},
 {"name":"contact","type":{"type":"record","name":"Who","doc":"w","fields":[{"name":"email","type":"string","pii":true,"doc":"e"}]},"doc":"c"}]}`

func TestLoadFSGood(t *testing.T) {
	c, err := LoadFS(fsWith(goodTopic, map[string]string{"t.avsc": goodSchema}))
	if err != nil {
		t.Fatalf("LoadFS: %v", err)
	}
	tp := c.MustTopic("t.thing.v1")
	// Money is inlined once, then referenced by name.
	if n := strings.Count(tp.SchemaJSON, `"name":"Money"`); n != 1 {
		t.Errorf("Money defined %d times in %s", n, tp.SchemaJSON)
	}
	if diff := cmp.Diff([]string{"email"}, c.PIIFields()); diff != "" {
		t.Errorf("PIIFields: %s", diff)
	}
}

func TestLoadFSErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		schema  string
		wantErr string
	}{
		{"zero partitions", strings.Replace(goodTopic, "partitions: 3", "partitions: 0", 1), goodSchema, "partitions must be > 0"},
		{"bad policy", strings.Replace(goodTopic, "cleanup_policy: delete", "cleanup_policy: shred", 1), goodSchema, `cleanup_policy "shred"`},
		{"bad mode", strings.Replace(goodTopic, "compatibility: BACKWARD", "compatibility: SIDEWAYS", 1), goodSchema, "compatibility"},
		{"bad retention", strings.Replace(goodTopic, "retention: 24h", "retention: 7d", 1), goodSchema, `retention "7d"`},
		{"unknown yaml field", strings.Replace(goodTopic, "owner: me", "owner: me\n    ownr: x", 1), goodSchema, "field ownr not found"},
		{"bad name", strings.Replace(goodTopic, "t.thing.v1", "Thing", 1), goodSchema, `invalid name "Thing"`},
		{"pii not listed", strings.Replace(goodTopic, "pii: [contact.email]", "pii: []", 1), goodSchema, "not listed: contact.email"},
		{"pii not marked", strings.Replace(goodTopic, "pii: [contact.email]", "pii: [contact.email, price.currency]", 1), goodSchema, "not marked \"pii\": true in the schema: price.currency"},
		{"record mismatch", strings.Replace(goodTopic, "isthmus.t.v1.Thing", "isthmus.t.v1.Other", 1), goodSchema, "catalog says record isthmus.t.v1.Other"},
		{"missing schema file", strings.Replace(goodTopic, "t.avsc", "gone.avsc", 1), goodSchema, "gone.avsc"},
		{"malformed schema", goodTopic, `{"type":"record",`, "invalid JSON"},
		{"unknown type", goodTopic, strings.Replace(goodSchema, "isthmus.common.v1.Money", "isthmus.common.v1.Monie", 1), "unknown type"},
		{"no metadata", goodTopic, strings.Replace(goodSchema, `"name":"metadata"`, `"name":"meta"`, 1), "no field metadata"},
		{"missing doc", goodTopic, strings.Replace(goodSchema, `"doc":"p"`, `"doc":""`, 1), "field price of isthmus.t.v1.Thing: missing doc"},
		{"float", goodTopic, strings.Replace(goodSchema, `{"name":"cost","type":["null","isthmus.common.v1.Money"]`, `{"name":"cost","type":["null","double"]`, 1), "double is not allowed"},
		{"enum without default", goodTopic, strings.Replace(goodSchema, `"doc":"p"}`, `"doc":"p"},{"name":"e","type":{"type":"enum","name":"E","doc":"e","symbols":["A"]},"doc":"e"}`, 1), "enum isthmus.t.v1.E: needs a default"},
		{"raw with schema", strings.Replace(goodTopic, "    value: t.avsc", "    value_format: raw\n    value: t.avsc", 1), goodSchema, "a raw topic has no value schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFS(fsWith(tc.yaml, map[string]string{"t.avsc": tc.schema}))
			if err == nil {
				t.Fatalf("LoadFS succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadMissingDir(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "topics.yaml") {
		t.Errorf("Load of a missing dir: %v", err)
	}
}
