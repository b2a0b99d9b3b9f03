//go:build integration

package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"

	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// erpChange is one record of the ERP stream: a value, or a tombstone of key
// on topic (Record.Fields nil).
type erpChange = gwtest.Record

// models are the read models the builders keep: the golden records (with
// their blocking-key index) and the ERP models.
var models = append(append([]readmodel.Model{readmodel.Golden}, readmodel.Models...), readmodel.ServiceModels...)

// erpStream is rounds of ERP changes as ERP publishes them: new price-book
// versions, credit positions, stock levels, customers and cross-references,
// golden records whose names and countries change (so they move between
// blocking keys), and now and then a deletion (tombstone). Values are built once, so every
// run that is fed them sees the same bytes. live is, per model, the fields
// the read model must hold at the end.
func erpStream(rounds int) (stream [][]erpChange, live map[readmodel.Model]map[string]bool) {
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	live = map[readmodel.Model]map[string]bool{}
	for _, m := range models {
		live[m] = map[string]bool{}
	}
	for r := range rounds {
		var round []erpChange
		add := func(c erpChange) {
			round = append(round, c)
			if c.Fields == nil {
				delete(live[readmodel.Model(c.Topic)], c.Key)
			} else {
				live[readmodel.Model(c.Topic)][c.Key] = true
			}
		}
		t := at.Add(time.Duration(r) * time.Minute)
		for i := range 30 { // 60 SKUs, each repriced every other round
			n := (r*30 + i) % 60
			sku := fmt.Sprintf("SKU-%02d", n)
			add(gwtest.PriceEntry(sku, "NA", "USD", "", int64(1000+10*r+n), int64(r+1), 0, 825, t))
		}
		for i := range 8 {
			c := fmt.Sprintf("C%02d", (r*8+i)%24)
			add(gwtest.CreditAccount(c, "USD", 100000, int64(1000*r), int64(500*i), (r+i)%7 == 0, t))
		}
		for i := range 12 {
			add(gwtest.InventoryLevel(fmt.Sprintf("SKU-%02d", (r*12+i)%60), fmt.Sprintf("S%d", i%3), int64(100+r), int64(i), t))
		}
		for i := range 3 {
			c := fmt.Sprintf("C%02d", (r*3+i)%24)
			add(gwtest.Customer(c, "CRM-"+c, (r+i)%5 == 0, t))
			add(gwtest.Xref("CRM-"+c, c, t))
		}
		for i := range 2 { // golden records renamed and moved between countries
			n := (r*2 + i) % 20
			add(gwtest.GoldenRecord(gwtest.Golden{ID: fmt.Sprintf("G%02d", n), Name: fmt.Sprintf("%s Holding %d", goldenNames[n%len(goldenNames)], r%3),
				Country: []string{"DE", "FR", "US"}[(r+n)%3], CRMIDs: []string{fmt.Sprintf("CRM-G%02d", n)}}, t))
		}
		if r%5 == 4 { // a golden record merged away
			add(erpChange{Topic: string(readmodel.Golden), Key: fmt.Sprintf("G%02d", (r*3)%20)})
		}
		for i := range 4 { // the installed base: assets changing owner, status and coverage
			n := (r*4 + i) % 40
			day := func(d int) string { return t.AddDate(0, 0, d).Format(time.DateOnly) }
			var sc gwtest.Cover
			if (r+n)%3 == 0 {
				sc = gwtest.Cover{Start: day(-r), End: day(300 + r), Types: []string{"REPAIR"}, ContractID: fmt.Sprintf("SC-%02d", n%10)}
			}
			add(gwtest.Asset(fmt.Sprintf("SN-%02d", n), "PUMP-100", fmt.Sprintf("C%02d", (r+n)%24), []string{"INSTALLED", "INSTALLED", "RETURNED"}[(r+n)%3],
				gwtest.Cover{Start: day(-10), End: day(355 - r), Types: []string{"REPAIR", "PARTS"}}, sc, t))
		}
		if r%6 == 5 { // an asset leaves the installed base
			add(erpChange{Topic: string(readmodel.Asset), Key: fmt.Sprintf("SN-%02d", (r*4)%40)})
		}
		for i := range 2 { // contracts amended, renewed, cancelled
			n := (r*2 + i) % 10
			typ, eff := "AMEND", ""
			if r%7 == 6 {
				typ, eff = "CANCEL", t.AddDate(0, 0, 30).Format(time.DateOnly)
			}
			add(gwtest.Deal(fmt.Sprintf("SC-%02d", n), "CRM-C00", typ, r, t.AddDate(0, 0, -r).Format(time.DateOnly), t.AddDate(1, 0, r).Format(time.DateOnly), eff, t))
		}
		if r < 10 { // products later discontinued
			add(gwtest.PriceEntry(fmt.Sprintf("OLD-%02d", r), "NA", "USD", "", int64(500+r), 1, 0, 825, t))
		}
		if r >= 15 && r < 25 && r%2 == 1 { // ERP drops half of them for good
			add(erpChange{Topic: string(readmodel.PriceBook), Key: fmt.Sprintf("OLD-%02d|NA|USD", r-15)})
		}
		if r%4 == 3 { // ERP retires a price (repriced later) and a stock location
			add(erpChange{Topic: string(readmodel.PriceBook), Key: fmt.Sprintf("SKU-%02d|NA|USD", (r*7)%60)})
			add(erpChange{Topic: string(readmodel.Inventory), Key: fmt.Sprintf("SKU-%02d|S%d", (r*12)%60, 0)})
		}
		stream = append(stream, round)
	}
	return stream, live
}

var goldenNames = []string{"Acme", "Borealis", "Cobalt", "Delta", "Everest"}

// feed produces one round, values and tombstones in their order.
func feed(e *gwtest.Env, round []erpChange) {
	var batch []gwtest.Record
	for _, c := range round {
		if c.Fields != nil {
			batch = append(batch, c)
			continue
		}
		if len(batch) > 0 {
			e.Produce(batch...)
			batch = nil
		}
		e.ProduceRaw(c.Topic, c.Key, nil)
	}
	if len(batch) > 0 {
		e.Produce(batch...)
	}
}

// readModels returns every model's hash, and the golden model's blocking-key
// index (block set name without the prefix -> sorted members) as the model
// "blocks".
func readModels(t *testing.T, e *gwtest.Env) map[readmodel.Model]map[string]string {
	ctx := context.Background()
	store := readmodel.NewStore(e.Redis, e.Prefix)
	out := map[readmodel.Model]map[string]string{}
	for _, m := range models {
		h, err := e.Redis.HGetAll(ctx, store.Data(m)).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[m] = h
	}
	blocks := map[string]string{}
	keys, err := e.Redis.Keys(ctx, store.BlockPrefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ids, err := e.Redis.SMembers(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		blocks[strings.TrimPrefix(k, store.BlockPrefix())] = strings.Join(ids, ",")
	}
	out["blocks"] = blocks
	return out
}

// TestIntegrationReadModelReplicaReplaced runs two gateways (two read-model
// builders on one Redis) while ERP keeps publishing, stops one mid-stream
// (once it answers from its models) and starts a replacement; a single
// uninterrupted gateway builds the same stream under another prefix. The
// Redis read models must end equal, holding exactly the live keys (every
// update applied, the last version of each key, every tombstone honoured),
// and the survivor and the replacement must answer every price as the
// single gateway does (each serves from its own in-memory mirror).
//
// The builder is group-less by design (each replica reads every partition
// and a batch below the stored offset is skipped in Redis), so "the same
// consumer group" here is the shared Redis prefix.
func TestIntegrationReadModelReplicaReplaced(t *testing.T) {
	const rounds = 30
	stream, live := erpStream(rounds)
	single, replaced := gwtest.Integration(t), gwtest.Integration(t)

	g := single.Start(single.Config())
	a := replaced.Start(replaced.Config())
	b := replaced.Start(replaced.Config())
	ca := dial(t, a, replaced.Token("q2o", time.Hour, gwtest.AllScopes...))
	var c *gwtest.Gateway
	for r, round := range stream {
		feed(single, round)
		feed(replaced, round)
		time.Sleep(400 * time.Millisecond)
		// Replace a from a third of the stream on, once its builder has
		// caught up (it answers from its models).
		if c == nil && r >= rounds/3 && answers(ca) {
			if err := a.Stop(); err != nil {
				t.Fatalf("stop replica: %v", err)
			}
			t.Logf("replica %s stopped after %d rounds; starting a new one", a.Config.Common.Instance, r+1)
			c = replaced.Start(replaced.Config())
		}
	}
	if c == nil {
		t.Fatal("the first replica never answered from its read models while ERP published")
	}

	complete := func(got map[readmodel.Model]map[string]string) bool {
		for _, m := range models {
			if len(got[m]) != len(live[m]) {
				return false
			}
			for k := range live[m] {
				if _, ok := got[m][k]; !ok {
					return false
				}
			}
		}
		return true
	}
	var want, got map[readmodel.Model]map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		want, got = readModels(t, single), readModels(t, replaced)
		if complete(want) && complete(got) && cmp.Equal(want, got) {
			break
		}
		if time.Now().After(deadline) {
			for _, m := range models {
				t.Logf("%s: %d fields single, %d replicas, %d live keys", m, len(want[m]), len(got[m]), len(live[m]))
			}
			t.Fatalf("read models differ after 30s (-single +replicas):\n%s", cmp.Diff(want, got))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The blocking-key index is exactly what the stored records name (each
	// value's first line lists its keys): nothing stale from a record's
	// earlier name or country, nothing of a deleted record.
	index := map[string][]string{}
	for id, v := range got[readmodel.Golden] {
		first, _, _ := strings.Cut(v, "\n")
		for _, k := range strings.Fields(first) {
			index[k] = append(index[k], id)
		}
	}
	wantBlocks := map[string]string{}
	for k, ids := range index {
		slices.Sort(ids)
		wantBlocks[k] = strings.Join(ids, ",")
	}
	if d := cmp.Diff(wantBlocks, got["blocks"]); d != "" {
		t.Fatalf("blocking-key index differs from the stored golden records (-records +index):\n%s", d)
	}
	// Stable: nothing applied late moves either model.
	time.Sleep(2 * time.Second)
	if d := cmp.Diff(readModels(t, single), readModels(t, replaced)); d != "" {
		t.Fatalf("read models diverged after settling (-single +replicas):\n%s", d)
	}
	// Every live gateway answers the same prices from its own models (the
	// in-memory mirror each builder feeds): the single one, the replica that
	// stayed and the replacement.
	prices := func(gw *gwtest.Gateway, token string) map[string]string {
		cl := dial(t, gw, token)
		out := map[string]string{}
		for n := range 70 {
			sku := fmt.Sprintf("SKU-%02d", n)
			if n >= 60 {
				sku = fmt.Sprintf("OLD-%02d", n-60)
			}
			got, err := cl.pricing.PriceQuote(cl.ctx(), &pricingv1.PriceQuoteRequest{Customer: &pricingv1.PriceQuoteRequest_ErpCustomerId{ErpCustomerId: "C00"},
				CurrencyCode: "USD", Region: "NA", Lines: []*pricingv1.QuoteLine{line(sku, 1)}})
			if err != nil {
				out[sku] = status.Code(err).String()
			} else {
				out[sku] = fmt.Sprintf("price %d %s", got.GetLines()[0].GetListPrice().GetUnitsMinor(), got.GetLines()[0].GetListPrice().GetCurrencyCode())
			}
		}
		return out
	}
	want0 := prices(g, single.Token("q2o", time.Hour, gwtest.AllScopes...))
	priced := 0
	for sku, p := range want0 {
		if isLive := live[readmodel.PriceBook][sku+"|NA|USD"]; isLive != strings.HasPrefix(p, "price ") || !isLive && p != codes.NotFound.String() {
			t.Errorf("single gateway: %s answers %s, live in the price book: %v", sku, p, live[readmodel.PriceBook][sku+"|NA|USD"])
		}
		if strings.HasPrefix(p, "price ") {
			priced++
		}
	}
	for name, gw := range map[string]*gwtest.Gateway{"survivor": b, "replacement": c} {
		if d := cmp.Diff(want0, prices(gw, replaced.Token("q2o", time.Hour, gwtest.AllScopes...))); d != "" {
			t.Errorf("%s answers differ from the single gateway (-single +%s):\n%s", name, name, d)
		}
	}
	// The duplicate check answers alike too: the golden records and their
	// blocking-key index were rebuilt alike.
	duplicates := func(gw *gwtest.Gateway, token string) map[string]string {
		cl := dial(t, gw, token)
		cc := customerClient(cl)
		out := map[string]string{}
		for n := range 20 {
			for _, country := range []string{"DE", "FR", "US"} {
				name := fmt.Sprintf("%s Holding", goldenNames[n%len(goldenNames)])
				r, err := cc.CheckDuplicate(cl.ctx(), &customerv1.CheckDuplicateRequest{Account: &customerv1.Account{Name: name,
					Address: &customerv1.Address{Country: country}}})
				q := fmt.Sprintf("G%02d/%s", n, country)
				if err != nil {
					out[q] = status.Code(err).String()
					continue
				}
				var ids []string
				for _, c := range r.GetCandidates() {
					ids = append(ids, fmt.Sprintf("%s:%.3f", c.GetGoldenId(), c.GetScore()))
				}
				out[q] = r.GetVerdict().String() + " " + strings.Join(ids, " ")
			}
		}
		return out
	}
	wantDup := duplicates(g, single.Token("sales", time.Hour, gwtest.AllScopes...))
	found := 0
	for _, a := range wantDup {
		if strings.Contains(a, "G") {
			found++
		}
	}
	if found == 0 {
		t.Fatalf("the single gateway's duplicate check found no golden record: %v", wantDup)
	}
	for name, gw := range map[string]*gwtest.Gateway{"survivor": b, "replacement": c} {
		if d := cmp.Diff(wantDup, duplicates(gw, replaced.Token("sales", time.Hour, gwtest.AllScopes...))); d != "" {
			t.Errorf("%s duplicate checks differ from the single gateway (-single +%s):\n%s", name, name, d)
		}
	}
	n := 0
	for _, m := range models {
		n += len(got[m])
	}
	t.Logf("%d rounds, %d live entries over %d models and %d blocking keys, equal to a single builder's; %d of 70 SKUs priced (the others NOT_FOUND) and %d of 60 duplicate checks with candidates alike by all three gateways",
		rounds, n, len(models), len(got["blocks"]), priced, found)
}

// answers reports whether a gateway answers a price from its read models
// (not UNAVAILABLE while they build).
func answers(c *client) bool {
	_, err := c.pricing.PriceQuote(c.ctx(), &pricingv1.PriceQuoteRequest{Customer: &pricingv1.PriceQuoteRequest_ErpCustomerId{ErpCustomerId: "C00"},
		CurrencyCode: "USD", Region: "NA", Lines: []*pricingv1.QuoteLine{line("SKU-01", 1)}})
	return status.Code(err) != codes.Unavailable
}
