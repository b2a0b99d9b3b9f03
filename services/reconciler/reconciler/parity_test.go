package reconciler

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/services/reconciler/internal/parity"
)

// The parity processor runs here as in production (its whole chain, its
// stores and tick) without a broker.

const unitWindow = 10 * time.Minute

func parityConfig() processor.Config {
	cfg := &Config{ParityWindow: unitWindow, Tick: time.Second, Retention: 24 * time.Hour}
	cfg.Instance = "unit"
	return ParityConfig(cfg, slog.New(slog.DiscardHandler))
}

// orderResult is a path's decision on order id under mode: two lines, the
// second rejected for export control.
func orderResult(path, mode, id, command string) *contracts.PathResult {
	export := contracts.RejectionReasonExportControl
	msg := "ECCN 5A002 needs a licence"
	s := &contracts.OrderStatus{OrderID: id, CommandID: unitStr(command), ERPOrderID: unitStr(path + "-" + id), Status: contracts.ErpOrderStatePartiallyRejected,
		Lines: []contracts.OrderLineStatus{
			{LineNumber: 1, SKU: "SKU-1", Status: contracts.LineStatusAccepted, QuantityConfirmed: 5},
			{LineNumber: 2, SKU: "SKU-2", Status: contracts.LineStatusRejected, RejectionReason: &export, ERPMessage: &msg},
		},
		Total: &contracts.Money{AmountMinor: 50_000, Currency: "EUR"}}
	r := flowmode.OrderResult(path, mode, path == contracts.ErpPathLegacy, s, unitMD("pr-"+path+"-"+id+"-"+command, unitT0))
	return &r
}

// customerResult is a path's answer for golden id g.
func customerResult(path, id string) *contracts.PathResult {
	tax := "DE123"
	c := &contracts.Customer{ERPCustomerID: path + "-1", GoldenID: &id, Name: "Acme GmbH", TaxID: &tax, CommandID: unitStr("cc-" + id),
		BillingAddress: &contracts.Address{Line1: "Hauptstr. 1", City: "Berlin", Country: "DE"}, CreditStatus: "OK"}
	r := flowmode.CustomerResult(path, contracts.RoutingModeShadow, path == contracts.ErpPathLegacy, c, true, unitMD("pr-"+path+"-"+id, unitT0))
	return &r
}

func sendResult(t *testing.T, k *processortest.Kit, r *contracts.PathResult) []contracts.ParityResult {
	t.Helper()
	res := k.SendValue(contracts.TopicERPPathResultsV1, flowmode.ResultKey(r.Flow, r.EntityID), r)
	if res.Err != nil || len(res.DeadLetters(ParityName)) != 0 {
		t.Fatalf("%s %s %s: err %v, outputs %+v", r.Flow, r.EntityID, r.Path, res.Err, res.Outputs)
	}
	return verdicts(t, k, res)
}

func verdicts(t *testing.T, k *processortest.Kit, res processortest.Result) []contracts.ParityResult {
	t.Helper()
	var out []contracts.ParityResult
	for _, o := range res.On(contracts.TopicReconParityV1) {
		var p contracts.ParityResult
		k.Decode(o, &p)
		if o.Key != flowmode.ResultKey(p.Flow, p.EntityID) {
			t.Errorf("verdict for %s keyed %q", p.EntityID, o.Key)
		}
		out = append(out, p)
	}
	return out
}

func diffFields(p contracts.ParityResult) []string {
	out := []string{}
	for _, d := range p.Differences {
		out = append(out, d.Field)
	}
	return out
}

// Both paths' answers in: MATCH when they agree on everything compared
// (ERP numbers, command ids and metadata differ and do not count);
// DIFFERENT naming each differing field otherwise, for every kind of
// field.
func TestParityComparesBothPaths(t *testing.T) {
	k := processortest.New(t, parityConfig())
	l, n := orderResult(contracts.ErpPathLegacy, contracts.RoutingModeShadow, "o-match", "c1"), orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-match", "c1")
	if v := sendResult(t, k, l); len(v) != 0 {
		t.Fatalf("verdict with one path in: %+v", v)
	}
	v := sendResult(t, k, n)
	if len(v) != 1 || v[0].Verdict != contracts.ParityVerdictMatch || len(v[0].Differences) != 0 || contracts.Deref(v[0].LegacyCommandID) != "c1" ||
		contracts.Deref(v[0].NewCommandID) != "c1" || v[0].Flow != flowmode.Orders || v[0].Metadata.SourceSystem != contracts.SourceSystemReconciler {
		t.Fatalf("verdict %+v, want one MATCH", v)
	}

	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		change func(r *contracts.PathResult)
		want   []contracts.ParityDifference
	}{
		{"status", func(r *contracts.PathResult) { r.Status = contracts.ErpOrderStateAccepted },
			[]contracts.ParityDifference{{Field: "status", Legacy: str("PARTIALLY_REJECTED"), New: str("ACCEPTED")}}},
		{"total", func(r *contracts.PathResult) { r.Total = &contracts.Money{AmountMinor: 49_999, Currency: "EUR"} },
			[]contracts.ParityDifference{{Field: "total", Legacy: str("50000 EUR"), New: str("49999 EUR")}}},
		{"no total", func(r *contracts.PathResult) { r.Total = nil },
			[]contracts.ParityDifference{{Field: "total", Legacy: str("50000 EUR")}}},
		{"line status", func(r *contracts.PathResult) { r.Lines[1].Status = contracts.LineStatusAccepted },
			[]contracts.ParityDifference{{Field: "line[2].status", Legacy: str("REJECTED"), New: str("ACCEPTED")}}},
		{"line quantity", func(r *contracts.PathResult) { r.Lines[0].QuantityConfirmed = 4 },
			[]contracts.ParityDifference{{Field: "line[1].quantity_confirmed", Legacy: str("5"), New: str("4")}}},
		{"rejection reason", func(r *contracts.PathResult) {
			tax := contracts.RejectionReasonTaxConfiguration
			r.Lines[1].RejectionReason = &tax
		},
			[]contracts.ParityDifference{{Field: "line[2].rejection_reason", Legacy: str("EXPORT_CONTROL"), New: str("TAX_CONFIGURATION")}}},
		{"line only on one path", func(r *contracts.PathResult) {
			r.Lines = append(r.Lines, contracts.OrderLineStatus{LineNumber: 3, SKU: "SKU-3", Status: contracts.LineStatusAccepted, QuantityConfirmed: 1})
		}, []contracts.ParityDifference{{Field: "line[3]", New: str("SKU-3 ACCEPTED x1")}}},
		{"ERP message and numbers are not compared", func(r *contracts.PathResult) {
			r.ERPID, r.CommandID = str("other"), nil
			r.Lines[1].ERPMessage = str("something else")
			r.Metadata.CorrelationID = "other"
		}, nil},
	}
	for i, tc := range tests {
		id := "o-" + string(rune('a'+i))
		l, n := orderResult(contracts.ErpPathLegacy, contracts.RoutingModeShadow, id, "c1"), orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, id, "c1")
		tc.change(n)
		sendResult(t, k, n) // the new path may answer first
		v := sendResult(t, k, l)
		want := contracts.ParityVerdictDifferent
		if tc.want == nil {
			want, tc.want = contracts.ParityVerdictMatch, []contracts.ParityDifference{}
		}
		if len(v) != 1 || v[0].Verdict != want {
			t.Errorf("%s: verdicts %+v, want one %s", tc.name, v, want)
			continue
		}
		if d := cmp.Diff(tc.want, v[0].Differences); d != "" {
			t.Errorf("%s: differences (-want +got):\n%s", tc.name, d)
		}
	}

	// Customers: every key of Fields, present on one path only too.
	lc, nc := customerResult(contracts.ErpPathLegacy, "G-1"), customerResult(contracts.ErpPathNew, "G-1")
	nc.Fields["name"] = "ACME GmbH"
	delete(nc.Fields, "tax_id")
	nc.Fields["territory"] = "EMEA"
	sendResult(t, k, lc)
	v = sendResult(t, k, nc)
	if len(v) != 1 || v[0].Verdict != contracts.ParityVerdictDifferent || v[0].Flow != flowmode.Customers {
		t.Fatalf("customer verdicts %+v", v)
	}
	if d := cmp.Diff([]string{"fields.name", "fields.tax_id", "fields.territory"}, diffFields(v[0])); d != "" {
		t.Errorf("customer differences (-want +got):\n%s", d)
	}
}

// One path's answer alone: MISSING_NEW (or MISSING_LEGACY) once the window
// passed, not before, once; while the partition is busy only when its
// event time passed the window too.
func TestParityMissingAfterWindow(t *testing.T) {
	k := processortest.New(t, parityConfig())
	sendResult(t, k, orderResult(contracts.ErpPathLegacy, contracts.RoutingModeShadow, "o-lone", "c1"))
	if v := verdicts(t, k, k.Tick(unitT0.Add(unitWindow-time.Second))); len(v) != 0 {
		t.Fatalf("verdict before the window passed: %+v", v)
	}
	// The partition is busy (it just applied a record): the clock alone
	// does not close the window; a later answer moves its event time.
	if v := verdicts(t, k, k.Tick(unitT0.Add(2*unitWindow))); len(v) != 0 {
		t.Fatalf("busy partition closed a window its event time has not passed: %+v", v)
	}
	k.Advance(unitWindow + time.Second)
	sendResult(t, k, orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-lone-new", "c9"))
	v := verdicts(t, k, k.Tick(unitT0.Add(unitWindow+time.Second)))
	if len(v) != 1 || v[0].Verdict != contracts.ParityVerdictMissingNew || v[0].EntityID != "o-lone" || contracts.Deref(v[0].LegacyCommandID) != "c1" ||
		v[0].NewCommandID != nil || !v[0].FirstSeenAt.Equal(unitT0) || v[0].Metadata.CorrelationID != "corr-pr-LEGACY-o-lone-c1" {
		t.Fatalf("verdicts %+v, want o-lone MISSING_NEW", v)
	}
	if again := verdicts(t, k, k.Tick(unitT0.Add(unitWindow+2*time.Second))); len(again) != 0 {
		t.Fatalf("fired twice: %+v", again)
	}
	k.Advance(unitWindow + time.Second)
	sendResult(t, k, orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-other", "c1"))
	v = verdicts(t, k, k.Tick(k.Now()))
	if len(v) != 1 || v[0].Verdict != contracts.ParityVerdictMissingLegacy || v[0].EntityID != "o-lone-new" {
		t.Fatalf("verdicts %+v, want o-lone-new MISSING_LEGACY", v)
	}
	// The late answer is compared when it comes.
	late := sendResult(t, k, orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-lone", "c1"))
	if len(late) != 1 || late[0].Verdict != contracts.ParityVerdictMatch {
		t.Fatalf("late answer: %+v, want MATCH", late)
	}
	st := paritystats(t, k)
	if st.Latest[flowmode.Orders][contracts.ParityVerdictMatch] != 1 || st.Latest[flowmode.Orders][contracts.ParityVerdictMissingNew] != 0 ||
		st.Latest[flowmode.Orders][contracts.ParityVerdictMissingLegacy] != 1 || st.Published[flowmode.Orders][contracts.ParityVerdictMissingNew] != 1 ||
		st.Waiting[flowmode.Orders] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func paritystats(t *testing.T, k *processortest.Kit) parity.Stats {
	t.Helper()
	raw, ok := k.State(parity.StoreEntities, parity.StatsKey)
	if !ok {
		t.Fatal("no parity stats")
	}
	var st parity.Stats
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A later result for an entity already decided (a new revision, a cancel)
// is compared again: with the other path's answer to the same command as
// soon as it is in (never with its answer to an earlier command), and
// emitted again. The same answer repeated is compared at once.
func TestParityRecomparesLaterResults(t *testing.T) {
	k := processortest.New(t, parityConfig())
	sendResult(t, k, orderResult(contracts.ErpPathLegacy, contracts.RoutingModeShadow, "o-1", "c1"))
	if v := sendResult(t, k, orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-1", "c1")); len(v) != 1 || v[0].Verdict != contracts.ParityVerdictMatch {
		t.Fatalf("first: %+v", v)
	}
	k.Advance(time.Minute)
	rev := orderResult(contracts.ErpPathLegacy, contracts.RoutingModeShadow, "o-1", "c2")
	rev.Status = contracts.ErpOrderStateCancelled
	if v := sendResult(t, k, rev); len(v) != 0 {
		t.Fatalf("compared with the new path's answer to an earlier command: %+v", v)
	}
	revNew := orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-1", "c2")
	v := sendResult(t, k, revNew)
	if len(v) != 1 || v[0].Verdict != contracts.ParityVerdictDifferent || contracts.Deref(v[0].NewCommandID) != "c2" {
		t.Fatalf("revision: %+v, want DIFFERENT on c2", v)
	}
	if d := cmp.Diff([]string{"status"}, diffFields(v[0])); d != "" {
		t.Errorf("revision differences (-want +got):\n%s", d)
	}
	// The new path answers c2 again, now like the legacy path.
	revNew.Status = contracts.ErpOrderStateCancelled
	if v := sendResult(t, k, revNew); len(v) != 1 || v[0].Verdict != contracts.ParityVerdictMatch {
		t.Fatalf("repeated answer: %+v, want MATCH", v)
	}
	st := paritystats(t, k)
	if st.Latest[flowmode.Orders][contracts.ParityVerdictMatch] != 1 || st.Latest[flowmode.Orders][contracts.ParityVerdictDifferent] != 0 ||
		st.Published[flowmode.Orders][contracts.ParityVerdictDifferent] != 1 || st.Published[flowmode.Orders][contracts.ParityVerdictMatch] != 2 {
		t.Errorf("stats %+v", st)
	}
	// Past its retention the entity is forgotten.
	k.Advance(25 * time.Hour)
	sendResult(t, k, orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-x", "c1")) // moves the event time
	k.Tick(unitT0.Add(26 * time.Hour))
	if _, ok := k.State(parity.StoreEntities, flowmode.ResultKey(flowmode.Orders, "o-1")); ok {
		t.Error("o-1 kept past its retention")
	}
	if st := paritystats(t, k); st.Latest[flowmode.Orders][contracts.ParityVerdictMatch] != 0 {
		t.Errorf("stats after retention %+v", st)
	}
}

// Results under LEGACY or NEW are not compared (one path answers then);
// bad input is dead-lettered with its reason and the partition flows on.
func TestParityIgnoresOtherModesAndDeadLettersBadInput(t *testing.T) {
	k := processortest.New(t, parityConfig())
	for _, mode := range []string{contracts.RoutingModeLegacy, contracts.RoutingModeNew} {
		r := orderResult(contracts.ErpPathLegacy, mode, "o-"+mode, "c1")
		if res := k.SendValue(contracts.TopicERPPathResultsV1, flowmode.ResultKey(r.Flow, r.EntityID), r); res.Err != nil || len(res.Outputs) != 0 || len(res.Writes) != 0 {
			t.Errorf("%s: %v %+v %+v", mode, res.Err, res.Outputs, res.Writes)
		}
	}
	good := orderResult(contracts.ErpPathLegacy, contracts.RoutingModeShadow, "o-1", "c1")
	unknownFlow := *good
	unknownFlow.Flow = "invoices"
	noID := *good
	noID.EntityID = ""
	badPath := *good
	badPath.Path = contracts.ErpPathUnknown
	tests := []struct {
		name, key string
		value     []byte
		reason    string
	}{
		{"bad bytes", "orders|o-1", []byte("not avro"), ""},
		{"unknown schema id", "orders|o-1", []byte{0, 0, 0, 0x7a, 0x69, 2, 4}, "unknown-schema-id"},
		{"unknown flow", "invoices|o-1", k.Encode(contracts.TopicERPPathResultsV1, &unknownFlow), "validation"},
		{"no entity id", "orders|", k.Encode(contracts.TopicERPPathResultsV1, &noID), "missing_id"},
		{"key mismatch", "o-1", k.Encode(contracts.TopicERPPathResultsV1, good), "key_mismatch"},
		{"unknown path", "orders|o-1", k.Encode(contracts.TopicERPPathResultsV1, &badPath), "validation"},
	}
	for _, tc := range tests {
		res := k.Send(contracts.TopicERPPathResultsV1, tc.key, tc.value)
		dl := res.DeadLetters(ParityName)
		if res.Err != nil || len(dl) != 1 || len(res.On(contracts.TopicReconParityV1)) != 0 {
			t.Fatalf("%s: err %v, outputs %+v", tc.name, res.Err, res.Outputs)
		}
		if got := dl[0].Header(catalog.DLQHeaderErrorReason); tc.reason != "" && got != tc.reason || string(dl[0].Value) != string(tc.value) {
			t.Errorf("%s: reason %q (want %q), value %q", tc.name, got, tc.reason, dl[0].Value)
		}
	}
	sendResult(t, k, good)
	if v := sendResult(t, k, orderResult(contracts.ErpPathNew, contracts.RoutingModeShadow, "o-1", "c1")); len(v) != 1 {
		t.Errorf("the partition did not flow on after bad input: %+v", v)
	}
	if res := k.Send(contracts.TopicERPPathResultsV1, "orders|o-1", nil); res.Err != nil || len(res.Outputs) != 0 {
		t.Errorf("tombstone: %v %+v", res.Err, res.Outputs)
	}
}
