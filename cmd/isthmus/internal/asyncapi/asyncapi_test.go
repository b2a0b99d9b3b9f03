package asyncapi

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hamba/avro/v2"
	"gopkg.in/yaml.v3"

	"github.com/isthmus/isthmus/pkg/catalog"
)

var schemasDir = filepath.Join("..", "..", "..", "..", "schemas")

func load(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(schemasDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type doc struct {
	AsyncAPI   string                    `yaml:"asyncapi"`
	Channels   map[string]map[string]any `yaml:"channels"`
	Operations map[string]struct {
		Action  string `yaml:"action"`
		Channel struct {
			Ref string `yaml:"$ref"`
		} `yaml:"channel"`
	} `yaml:"operations"`
	Components struct {
		Messages map[string]struct {
			Name    string         `yaml:"name"`
			Payload map[string]any `yaml:"payload"`
		} `yaml:"messages"`
	} `yaml:"components"`
}

func TestGenerateCoversEveryTopic(t *testing.T) {
	c := load(t)
	out, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Generate(c)
	if !bytes.Equal(out, again) {
		t.Fatal("Generate is not deterministic")
	}
	var d doc
	if err := yaml.Unmarshal(out, &d); err != nil {
		t.Fatalf("output is not YAML: %v", err)
	}
	if d.AsyncAPI != "3.0.0" {
		t.Errorf("asyncapi = %q", d.AsyncAPI)
	}
	for _, tp := range c.Topics() {
		if d.Channels[tp.Name]["address"] != tp.Name {
			t.Errorf("%s: channel missing or wrong address", tp.Name)
		}
		if op := d.Operations["send-"+tp.Name]; op.Action != "send" || op.Channel.Ref != "#/channels/"+tp.Name {
			t.Errorf("%s: send operation %+v", tp.Name, op)
		}
		msg, ok := d.Components.Messages[tp.Name]
		if !ok {
			t.Errorf("%s: no message", tp.Name)
			continue
		}
		if !tp.IsAvro() {
			if msg.Payload["format"] != "binary" {
				t.Errorf("%s: DLQ payload %v", tp.Name, msg.Payload)
			}
			continue
		}
		// The payload is the catalog's Avro schema, field for field.
		js, err := json.Marshal(msg.Payload["schema"])
		if err != nil {
			t.Fatalf("%s: %v", tp.Name, err)
		}
		s, err := avro.ParseWithCache(string(js), "", &avro.SchemaCache{})
		if err != nil {
			t.Fatalf("%s: payload schema does not parse: %v", tp.Name, err)
		}
		if s.Fingerprint() != tp.Schema.Fingerprint() {
			t.Errorf("%s: payload schema differs from the catalog", tp.Name)
		}
	}
}

// TestCommittedDocumentIsFresh mirrors make check-generated-asyncapi.
func TestCommittedDocumentIsFresh(t *testing.T) {
	want, err := Generate(load(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(schemasDir, "..", "docs", "asyncapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("docs/asyncapi.yaml is stale; run make generate-asyncapi (-want +got):\n%s", diff)
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "a.yaml")
	var stdout, stderr bytes.Buffer
	if err := Run(ctx, []string{"--schemas", schemasDir, "--out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("Run: %v (%s)", err, stderr.String())
	}
	fromFile, _ := os.ReadFile(out)
	stdout.Reset()
	// The embedded catalog gives the same document as the source tree.
	if err := Run(ctx, nil, &stdout, &stderr); err != nil {
		t.Fatalf("Run (embedded): %v", err)
	}
	if !bytes.Equal(fromFile, stdout.Bytes()) {
		t.Error("embedded catalog and schemas/ give different documents; run make generate-contracts")
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing dir", []string{"--schemas", filepath.Join(t.TempDir(), "nope")}, "topics.yaml"},
		{"extra argument", []string{"extra"}, `unexpected argument "extra"`},
		{"unknown flag", []string{"--bogus"}, "bogus"},
		{"unwritable out", []string{"--out", filepath.Join(t.TempDir(), "no", "such", "dir", "a.yaml")}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var so, se bytes.Buffer
			err := Run(ctx, tc.args, &so, &se)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run(%q) = %v, want error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
