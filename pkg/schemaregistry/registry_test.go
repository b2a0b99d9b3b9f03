package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/sr"
)

const (
	v1 = `{"type":"record","name":"Account","namespace":"crm","fields":[{"name":"id","type":"string"}]}`
	// v2 adds an optional field: compatible under every mode.
	v2 = `{"type":"record","name":"Account","namespace":"crm","fields":[{"name":"id","type":"string"},{"name":"tier","type":["null","string"],"default":null}]}`
	// bad adds a required field: not BACKWARD compatible.
	bad = `{"type":"record","name":"Account","namespace":"crm","fields":[{"name":"id","type":"string"},{"name":"region","type":"string"}]}`
)

func newServer(t *testing.T, opts ...Option) (*Registry, *sr.Client, *httptest.Server) {
	t.Helper()
	reg, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return reg, cl, srv
}

func code(t *testing.T, err error) (int, int) {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want *sr.ResponseError, got %T %v", err, err)
	}
	return re.StatusCode, re.ErrorCode
}

func TestRegisterLookupAndVersions(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newServer(t)

	id1, err := cl.RegisterSchema(ctx, "crm.account.v1-value", sr.Schema{Schema: v1}, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	// Same schema, different whitespace, key order and namespace spelling:
	// same id, no new version.
	for _, same := range []string{
		strings.ReplaceAll(v1, ",", " , "),
		`{"fields":[{"type":"string","name":"id"}],"name":"crm.Account","type":"record"}`,
	} {
		again, err := cl.RegisterSchema(ctx, "crm.account.v1-value", sr.Schema{Schema: same}, -1, -1)
		if err != nil || again != id1 {
			t.Fatalf("re-register %s: id %d err %v, want %d", same, again, err, id1)
		}
	}
	// A doc is observable (it is in the schema text): a new id.
	withDoc := strings.Replace(v1, `"type":"string"}`, `"type":"string","doc":"the id"}`, 1)
	if docID, err := cl.RegisterSchema(ctx, "doc-value", sr.Schema{Schema: withDoc}, -1, -1); err != nil || docID == id1 {
		t.Fatalf("doc change: id %d err %v", docID, err)
	}
	id2, err := cl.RegisterSchema(ctx, "crm.account.v1-value", sr.Schema{Schema: v2}, -1, -1)
	if err != nil || id2 == id1 {
		t.Fatalf("v2: id %d err %v", id2, err)
	}
	// The same schema under another subject keeps its global id.
	other, err := cl.RegisterSchema(ctx, "staging.crm.account.v1-value", sr.Schema{Schema: v1}, -1, -1)
	if err != nil || other != id1 {
		t.Fatalf("other subject: id %d err %v, want %d", other, err, id1)
	}

	vs, err := cl.SubjectVersions(ctx, "crm.account.v1-value")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2}, vs); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	latest, err := cl.SchemaByVersion(ctx, "crm.account.v1-value", -1)
	if err != nil || latest.Version != 2 || latest.ID != id2 || latest.Schema.Schema != v2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	ss, err := cl.LookupSchema(ctx, "crm.account.v1-value", sr.Schema{Schema: v1})
	if err != nil || ss.ID != id1 || ss.Version != 1 {
		t.Fatalf("lookup: %+v %v", ss, err)
	}
	got, err := cl.SchemaByID(ctx, id2)
	if err != nil || got.Schema != v2 {
		t.Fatalf("by id: %+v %v", got, err)
	}
	subjects, err := cl.SubjectsByID(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"crm.account.v1-value", "staging.crm.account.v1-value"}, subjects); diff != "" {
		t.Errorf("subjects by id (-want +got):\n%s", diff)
	}
	all, err := cl.Subjects(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("subjects: %v %v", all, err)
	}
	text, err := cl.SchemaTextByVersion(ctx, "crm.account.v1-value", 1)
	if err != nil || text != v1 {
		t.Fatalf("schema text: %q %v", text, err)
	}
	svs, err := cl.SchemaVersionsByID(ctx, id2)
	if err != nil || len(svs) != 1 || svs[0].Version != 2 {
		t.Fatalf("versions by id: %+v %v", svs, err)
	}
}

func TestIncompatibleRegistrationIs409WithConfluentBody(t *testing.T) {
	ctx := context.Background()
	_, cl, srv := newServer(t)
	if _, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v1}, -1, -1); err != nil {
		t.Fatal(err)
	}
	_, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: bad}, -1, -1)
	status, ec := code(t, err)
	if status != http.StatusConflict || ec != 409 {
		t.Fatalf("want 409/409, got %d/%d: %v", status, ec, err)
	}
	for _, s := range []string{"incompatible", "s-value", "version 1", "region"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}

	// The raw body is exactly Confluent's shape.
	resp, err := http.Post(srv.URL+"/subjects/s-value/versions", ContentType, strings.NewReader(`{"schema":`+quote(bad)+`}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 409 || body["error_code"] != float64(409) || len(body) != 2 || body["message"] == "" {
		t.Fatalf("status %d body %v", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("content type %q", ct)
	}

	// Under NONE the same change is accepted.
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "s-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if _, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: bad}, -1, -1); err != nil {
		t.Fatalf("NONE must accept: %v", err)
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestConfigAndCompatibilityEndpoint(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newServer(t)
	g := cl.Compatibility(ctx)
	if g[0].Err != nil || g[0].Level != sr.CompatBackward {
		t.Fatalf("global default: %+v", g[0])
	}
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}, "s-value"); r[0].Err != nil || r[0].Level != sr.CompatFullTransitive {
		t.Fatalf("set: %+v", r[0])
	}
	got := cl.Compatibility(ctx, "s-value")
	if got[0].Err != nil || got[0].Level != sr.CompatFullTransitive {
		t.Fatalf("get subject: %+v", got[0])
	}
	unset := cl.Compatibility(ctx, "other-value")
	if _, ec := code(t, unset[0].Err); ec != 40408 {
		t.Fatalf("unset subject: %v", unset[0].Err)
	}
	if _, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v1}, -1, -1); err != nil {
		t.Fatal(err)
	}
	res, err := cl.CheckCompatibility(ctx, "s-value", -1, sr.Schema{Schema: bad})
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("check bad: %+v %v", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, "s-value", -1, sr.Schema{Schema: v2})
	if err != nil || !res.Is {
		t.Fatalf("check v2: %+v %v", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, "s-value", -2, sr.Schema{Schema: v2})
	if err != nil || !res.Is {
		t.Fatalf("check all: %+v %v", res, err)
	}
	m := cl.Mode(ctx)
	if m[0].Err != nil || m[0].Mode != sr.ModeReadWrite {
		t.Fatalf("mode: %+v", m[0])
	}
	bogus := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatibilityLevel(99)})
	if bogus[0].Err == nil {
		t.Fatal("want error for an invalid level")
	}
}

func TestErrorCodes(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newServer(t)
	if _, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v1}, -1, -1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		call   func() error
		status int
		code   int
	}{
		{"unknown subject", func() error { _, err := cl.SubjectVersions(ctx, "nope"); return err }, 404, 40401},
		{"unknown version", func() error { _, err := cl.SchemaByVersion(ctx, "s-value", 7); return err }, 404, 40402},
		{"unknown id", func() error { _, err := cl.SchemaByID(ctx, 999); return err }, 404, 40403},
		{"lookup unregistered schema", func() error { _, err := cl.LookupSchema(ctx, "s-value", sr.Schema{Schema: v2}); return err }, 404, 40403},
		{"lookup in unknown subject", func() error { _, err := cl.LookupSchema(ctx, "nope", sr.Schema{Schema: v1}); return err }, 404, 40401},
		{"malformed schema", func() error {
			_, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: `{"type":"record","name":"X"}`}, -1, -1)
			return err
		}, 422, 42201},
		{"not JSON", func() error {
			_, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: `{nope`}, -1, -1)
			return err
		}, 422, 42201},
		{"protobuf refused", func() error {
			_, err := cl.RegisterSchema(ctx, "p-value", sr.Schema{Schema: `syntax = "proto3";`, Type: sr.TypeProtobuf}, -1, -1)
			return err
		}, 422, 42201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ec := code(t, tt.call())
			if status != tt.status || ec != tt.code {
				t.Fatalf("got %d/%d, want %d/%d", status, ec, tt.status, tt.code)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newServer(t)
	for _, s := range []string{v1, v2} {
		if _, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: s}, -1, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.DeleteSchema(ctx, "s-value", 2, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	vs, err := cl.SubjectVersions(ctx, "s-value")
	if err != nil || !cmp.Equal(vs, []int{1}) {
		t.Fatalf("after version delete: %v %v", vs, err)
	}
	if _, err := cl.DeleteSubject(ctx, "s-value", sr.HardDelete); err == nil {
		t.Fatal("hard delete before soft delete must fail")
	}
	del, err := cl.DeleteSubject(ctx, "s-value", sr.SoftDelete)
	if err != nil || !cmp.Equal(del, []int{1}) {
		t.Fatalf("soft delete: %v %v", del, err)
	}
	if _, err := cl.DeleteSubject(ctx, "s-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if _, ec := code(t, func() error { _, err := cl.SubjectVersions(ctx, "s-value"); return err }()); ec != 40401 {
		t.Fatalf("want 40401 after delete, got %d", ec)
	}
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	_, _, srv := newServer(t, BasicAuth("dev", "secret"), BearerToken("tok"))
	for _, tc := range []struct {
		name string
		opt  sr.ClientOpt
		ok   bool
	}{
		{"no credentials", sr.UserAgent("x"), false},
		{"wrong password", sr.BasicAuth("dev", "nope"), false},
		{"basic", sr.BasicAuth("dev", "secret"), true},
		{"bearer", sr.BearerToken("tok"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, _ := sr.NewClient(sr.URLs(srv.URL), tc.opt)
			_, err := cl.Subjects(ctx)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				if status, _ := code(t, err); status != http.StatusUnauthorized {
					t.Fatalf("status %d", status)
				}
			}
		})
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "registry.json")
	_, cl, _ := newServer(t, DataFile(file))
	id, err := cl.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v1}, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "s-value")

	_, cl2, _ := newServer(t, DataFile(file))
	got, err := cl2.SchemaByID(ctx, id)
	if err != nil || got.Schema != v1 {
		t.Fatalf("after reload: %+v %v", got, err)
	}
	if c := cl2.Compatibility(ctx, "s-value"); c[0].Level != sr.CompatFull {
		t.Fatalf("compat after reload: %+v", c[0])
	}
	id2, err := cl2.RegisterSchema(ctx, "s-value", sr.Schema{Schema: v2}, -1, -1)
	if err != nil || id2 <= id {
		t.Fatalf("new id after reload: %d %v", id2, err)
	}
}

func TestUnknownPath(t *testing.T) {
	_, _, srv := newServer(t)
	resp, err := http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"error_code":404`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
