//go:build integration

package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// erpChange is one record of the ERP stream: a value, or a tombstone of key
// on topic (Record.Fields nil).
type erpChange = gwtest.Record

// erpStream is rounds of ERP changes as ERP publishes them: new price-book
// versions, credit positions, stock levels, customers and cross-references,
// and now and then a deletion (tombstone). Values are built once, so every
// run that is fed them sees the same bytes. live is, per model, the fields
// the read model must hold at the end.
func erpStream(rounds int) (stream [][]erpChange, live map[readmodel.Model]map[string]bool) {
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	live = map[readmodel.Model]map[string]bool{}
	for _, m := range readmodel.Models {
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
		if r%4 == 3 { // ERP retires a price and a stock location
			add(erpChange{Topic: string(readmodel.PriceBook), Key: fmt.Sprintf("SKU-%02d|NA|USD", (r*7)%60)})
			add(erpChange{Topic: string(readmodel.Inventory), Key: fmt.Sprintf("SKU-%02d|S%d", (r*12)%60, 0)})
		}
		stream = append(stream, round)
	}
	return stream, live
}

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

// readModels returns every model's hash.
func readModels(t *testing.T, e *gwtest.Env) map[readmodel.Model]map[string]string {
	store := readmodel.NewStore(e.Redis, e.Prefix)
	out := map[readmodel.Model]map[string]string{}
	for _, m := range readmodel.Models {
		h, err := e.Redis.HGetAll(context.Background(), store.Data(m)).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[m] = h
	}
	return out
}

// TestIntegrationReadModelReplicaReplaced runs two gateways (two read-model
// builders on one Redis) while ERP keeps publishing, stops one mid-stream
// and starts a replacement; a single uninterrupted gateway builds the same
// stream under another prefix. The read models must end equal, holding
// exactly the live keys (every update applied, the last version of each key,
// every tombstone honoured).
//
// The builder is group-less by design (each replica reads every partition
// and a batch below the stored offset is skipped in Redis), so "the same
// consumer group" here is the shared Redis prefix.
func TestIntegrationReadModelReplicaReplaced(t *testing.T) {
	const rounds = 30
	stream, live := erpStream(rounds)
	single, replaced := gwtest.Integration(t), gwtest.Integration(t)

	single.Start(single.Config())
	a := replaced.Start(replaced.Config())
	replaced.Start(replaced.Config())
	for r, round := range stream {
		feed(single, round)
		feed(replaced, round)
		time.Sleep(400 * time.Millisecond)
		if r == rounds/3 {
			if err := a.Stop(); err != nil {
				t.Fatalf("stop replica: %v", err)
			}
			t.Logf("replica %s stopped after %d rounds; starting a new one", a.Config.Common.Instance, r+1)
			replaced.Start(replaced.Config())
		}
	}

	complete := func(got map[readmodel.Model]map[string]string) bool {
		for _, m := range readmodel.Models {
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
			for _, m := range readmodel.Models {
				t.Logf("%s: %d fields single, %d replicas, %d live keys", m, len(want[m]), len(got[m]), len(live[m]))
			}
			t.Fatalf("read models differ after 30s (-single +replicas):\n%s", cmp.Diff(want, got))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Stable: nothing applied late moves either model.
	time.Sleep(2 * time.Second)
	if d := cmp.Diff(readModels(t, single), readModels(t, replaced)); d != "" {
		t.Fatalf("read models diverged after settling (-single +replicas):\n%s", d)
	}
	n := 0
	for _, m := range readmodel.Models {
		n += len(got[m])
	}
	t.Logf("%d rounds, %d live entries over %d models, equal to a single builder's", rounds, n, len(readmodel.Models))
}
