//go:build integration

package customersync

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/customer-sync/internal/adapter"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
)

// crossBlock picks accounts of the stream in different countries (match
// blocks) from a settled run's outputs and returns steward decisions across
// blocks — a MERGE (handover and absorb) and a NOT_DUPLICATE — plus, for
// after the decisions, a change of the merged-away account (forwarded to
// the survivor's block). Golden ids are deterministic, so the decisions
// are valid for every run of the same stream.
func (e *env) crossBlock(in []srcEvent, recs []out) (phases [][]srcEvent, merged, survivor, child, parent string) {
	e.t.Helper()
	var ids []string
	var countries []string
	for _, x := range in {
		a, ok := x.value.(*contracts.Account)
		if !ok || a.BillingAddress == nil || slices.Contains(ids, a.AccountID) {
			continue
		}
		ids, countries = append(ids, a.AccountID), append(countries, a.BillingAddress.Country)
	}
	var pairs [][2]string
	for i := 0; i < len(ids) && len(pairs) < 2; i++ {
		for j := i + 1; j < len(ids); j++ {
			if countries[i] != countries[j] && !slices.ContainsFunc(pairs, func(p [2]string) bool { return p[0] == ids[i] || p[1] == ids[j] || p[1] == ids[i] }) {
				pairs = append(pairs, [2]string{ids[i], ids[j]})
				i = j
				break
			}
		}
	}
	if len(pairs) < 2 {
		e.t.Fatal("stream has no two cross-country pairs")
	}
	g := func(id string) string { return e.xref(recs, "CRM:"+id).GoldenID }
	dec := func(n int, action string, params map[string]string) srcEvent {
		md := meta(fmt.Sprintf("D%d", n), 5000+n)
		md.SourceSystem = contracts.SourceSystemOperator
		key := fmt.Sprintf("exc-scale-%d", n)
		return srcEvent{contracts.TopicOpsDecisionsV1, key, &contracts.Decision{Metadata: md, DecisionID: fmt.Sprintf("dec-%d", n),
			ExceptionID: key, OwnerService: golden.Owner.Service, Action: action, Parameters: params, Actor: "steward@example.com"}}
	}
	merged, survivor = g(pairs[0][0]), g(pairs[0][1])
	decisions := []srcEvent{
		dec(1, contracts.DecisionActionMerge, map[string]string{adapter.ParamSurvivor: survivor, adapter.ParamMerged: merged}),
		dec(2, contracts.DecisionActionNotDuplicate, map[string]string{adapter.ParamGolden: g(pairs[1][0]), adapter.ParamOther: g(pairs[1][1])}),
	}
	id := pairs[0][0]
	after := []srcEvent{{contracts.TopicCRMAccountV1, id, account(id, "Renamed After Merge GmbH", 6000, func(a *contracts.Account) {
		a.Industry = str("Chemicals")
	})}}
	// Hierarchy across blocks: the other pair's first account becomes a
	// subsidiary of the second; then it gets a contact.
	c, p := pairs[1][0], pairs[1][1]
	var country string
	for _, x := range in {
		if a, ok := x.value.(*contracts.Account); ok && a.AccountID == c && a.BillingAddress != nil {
			country = a.BillingAddress.Country
		}
	}
	hierarchy := []srcEvent{{contracts.TopicCRMAccountV1, c, account(c, "Subsidiary "+c+" GmbH", 6001, func(a *contracts.Account) {
		a.ParentAccountID, a.BillingAddress = str(p), addr("Street 1", "City", "10115", country)
	})}}
	contacts := []srcEvent{{contracts.TopicCRMContactV1, "K-" + c, contact("K-"+c, c, "Muster", 6002, func(x *contracts.Contact) {
		x.FirstName, x.Email = str("Eva"), str("eva@"+strings.ToLower(c)+".example")
	})}}
	return [][]srcEvent{decisions, after, hierarchy, contacts}, merged, survivor, g(c), g(p)
}

// runPhases feeds the stream, then the decisions, then the changes after
// them, each once the previous phase has settled (the decisions name
// golden ids the stream creates), and returns every output.
func (e *env) runPhases(c *collector, in []srcEvent, pace time.Duration, during func()) []out {
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		e.produceStream(in, pace)
	}()
	if during != nil {
		during()
	}
	<-produced
	return e.settle(c, 5*time.Second, 4*time.Minute)
}

// TestScaleOut runs customer-sync as two processor instances of one group
// (different Config.Instance) and replaces one of them mid-stream (stopped,
// then a new instance with a new id). The match stage is partitioned by
// match block, so both instances match. Read with read_committed consumers,
// the outputs — golden records, xrefs, ERP commands and the rest — must be
// exactly once and equal to a single-instance run of the same input,
// including steward decisions across blocks (a merge hands a golden record
// over to the survivor's block) and a later change of the merged-away
// account (forwarded to the survivor).
func TestScaleOut(t *testing.T) {
	in := stream(240)

	ref := newEnv(t)
	rc := ref.collect()
	ref.start("0")
	recs := ref.runPhases(rc, in, 0, nil)
	phases, merged, survivor, child, parent := ref.crossBlock(in, recs)
	for _, ph := range phases {
		recs = ref.runPhases(rc, ph, 0, nil)
	}
	after := phases[1]
	want, wantIDs := ref.outputsByKey(recs)
	if g := ref.lastGolden(recs, merged); g.Status != "MERGED" || g.MergedInto == nil || *g.MergedInto != survivor {
		t.Fatalf("reference: %s not merged into %s: %+v", merged, survivor, g)
	}
	if x := ref.xref(recs, "CRM:"+after[0].key); x.GoldenID != survivor {
		t.Fatalf("reference: xref of the merged-away account = %s, want %s", x.GoldenID, survivor)
	}
	if g := ref.lastGolden(recs, survivor); g.Name != "Renamed After Merge GmbH" && (g.Industry == nil || *g.Industry != "Chemicals") {
		t.Errorf("reference: the merged-away account's change did not reach the survivor: %+v", g)
	}
	if g := ref.lastGolden(recs, child); g.ParentGoldenID == nil || *g.ParentGoldenID != parent || blockOf(child) == blockOf(parent) {
		t.Errorf("reference: parent of %s (%s) = %v, want %s (%s)", child, blockOf(child), g.ParentGoldenID, parent, blockOf(parent))
	}
	contacts := 0
	for _, o := range recs {
		if o.Topic == contracts.TopicMDMContactV1 {
			contacts++
		}
	}
	if contacts != 1 {
		t.Errorf("reference: %d golden contact records, want 1", contacts)
	}

	e := newEnv(t)
	c := e.collect()
	e.start("a")
	stopB := e.start("b")
	recs = e.runPhases(c, in, 20*time.Millisecond, func() {
		time.Sleep(2 * time.Second)
		stopB()
		t.Logf("instance b stopped after %d outputs; instance c starts", len(c.snapshot()))
		e.start("c")
	})
	for _, ph := range phases {
		recs = e.runPhases(c, ph, 0, nil)
	}
	got, gotIDs := e.outputsByKey(recs)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("two instances with a replacement differ from one instance (-want +got)\n%s", d)
	}
	if d := cmp.Diff(wantIDs, gotIDs); d != "" {
		t.Errorf("event ids differ (-want +got)\n%s", d)
	}
	parts := map[int32]int{}
	for _, o := range recs {
		if o.Topic == TopicMatch {
			parts[o.Partition]++
		}
	}
	if len(parts) < 2 {
		t.Errorf("match records on partitions %v: matching is not spread", parts)
	}
	t.Logf("%d output events identical to the single-instance run; match records per partition %v; blocks: golden %s (%s) merged into %s",
		len(gotIDs), parts, merged, blockOf(merged), survivor)
}

func blockOf(id string) string { b, _ := golden.BlockOfID(id); return b }
