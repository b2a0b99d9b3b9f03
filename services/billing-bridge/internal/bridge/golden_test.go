package bridge

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenScenario pins every output of a full contract life (NEW, amendment
// 3 before 2, an issued invoice, an ERP rejection, a cancellation) in
// testdata/scenario.golden.json, so any change of rule shows up as a diff.
// Regenerate with: go test ./internal/bridge -run Golden -update
func TestGoldenScenario(t *testing.T) {
	b, s := New(), NewState("ACME-42")
	nw := newDeal("ACME-42", contract.Quarterly, "2025-01-15", "2026-01-15",
		contract.Line{SKU: "seat", Quantity: 25, UnitPrice: 3000}, contract.Line{SKU: "sso", Quantity: 1, UnitPrice: 15000})
	nw.ContractID = "ACME-42"
	steps := []struct {
		Name string
		in   input
	}{
		{"new", input{Deal: &nw}},
		{"provisioned", input{Bill: &BillingEvent{ContractID: "ACME-42", Kind: Provisioned, SubscriptionID: "SUB-9"}}},
		{"invoice issued", input{Bill: &BillingEvent{ContractID: "ACME-42", Kind: InvoiceIssued, DocumentID: "ACME-42/2025-01-15/INV", InvoiceNumber: "INV-1001", Amount: 90000, Currency: "EUR"}}},
		{"amendment 3 held", input{Deal: ptr(amendDeal("ACME-42", 3, contract.ChangePriceChange, "2025-08-01",
			contract.Line{SKU: "seat", Quantity: 30, UnitPrice: 2800}, contract.Line{SKU: "sso", Quantity: 1, UnitPrice: 15000}))}},
		{"gap past SLA", input{Tick: ptr(t0.Add(60 * time.Hour))}},
		{"amendment 2 releases 3", input{Deal: ptr(amendDeal("ACME-42", 2, contract.ChangeUpsell, "2025-05-20",
			contract.Line{SKU: "seat", Quantity: 30, UnitPrice: 3000}, contract.Line{SKU: "sso", Quantity: 1, UnitPrice: 15000}))}},
		{"periods to May open", input{Tick: ptr(time.Date(2025, 5, 21, 0, 0, 0, 0, time.UTC))}},
		{"journal rejected", input{Jrnl: &JournalEvent{ContractID: "ACME-42", JournalID: "JE/ACME-42/2/2025-04-15/INVOICE",
			Kind: JournalRejectedEvent, Reason: "cost centre missing"}}},
		{"cancel", input{Deal: &contract.Deal{ContractID: "ACME-42", Seq: 4, Kind: contract.KindCancel, Effective: day("2025-11-03"), OccurredAt: t0.Add(72 * time.Hour)}}},
	}
	type record struct {
		Step    string  `json:"step"`
		Outputs Outputs `json:"outputs"`
	}
	var got []record
	for _, st := range steps {
		out, err := step(b, s, st.in)
		if err != nil {
			t.Fatalf("%s: %v", st.Name, err)
		}
		got = append(got, record{st.Name, out})
	}
	state, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.MarshalIndent(struct {
		Steps []record        `json:"steps"`
		State json.RawMessage `json:"final_state"`
	}{got, state}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, '\n')
	path := filepath.Join("..", "..", "testdata", "scenario.golden.json")
	if *update {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(raw, want) {
		t.Errorf("outputs differ from %s; inspect with -update and git diff", path)
	}
}

func ptr[T any](v T) *T { return &v }
