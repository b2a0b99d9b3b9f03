package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// Reference publishes the ERP's master data that changes on its own: the
// price book (compacted, every SKU × region × currency with volume tiers),
// inventory per SKU and site, and the evolution of customers' credit
// (receivables grow with invoices and shrink with payments; customers far
// over their limit go on hold). It learns customers and invoices from the
// simulator's own erp.customer.v1 and erp.invoice.v1: a customer another
// ERP path published there (the legacy adapter, while a flow is not NEW)
// is not the simulator's, and gets no credit position from it.
type Reference struct {
	// Service is the simulator's service name, which its answers' event
	// ids derive from (default "erp-simulator").
	Service        string
	Client         *kgo.Client
	Serde          *serde.Serde
	Kafka          kafka.Config
	Log            *slog.Logger
	Seed           uint64
	PriceBookEvery time.Duration
	InventoryEvery time.Duration
	CreditEvery    time.Duration

	rng       *rand.Rand
	inventory map[string]*contracts.InventoryLevel
	credit    map[string]*creditPos
	version   int64
}

type creditPos struct {
	limit, ar int64
	currency  string
	hold      bool
	dirty     bool
}

func (r *Reference) produce(ctx context.Context, topic, key string, v contracts.Value) error {
	b, err := r.Serde.Encode(ctx, r.Kafka.Topic(topic), v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", topic, err)
	}
	rec := &kgo.Record{Topic: r.Kafka.Topic(topic), Key: []byte(key), Value: b}
	r.Client.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			r.Log.Warn("reference data not produced", "topic", topic, "key", key, "err", err)
		}
	})
	return nil
}

func (r *Reference) meta(kind, key string, now time.Time) contracts.EventMetadata {
	id := event.ID("erp-simulator-reference", kind, key, fmt.Sprint(now.UnixNano()))
	return event.Metadata(id, id, "", contracts.SourceSystemERP, now)
}

// Run publishes the price book and inventory at once (flushing before it
// returns from the first round, so they exist before any traffic needs
// them), then keeps them and credit positions moving until ctx ends.
func (r *Reference) Run(ctx context.Context, ready chan<- struct{}) error {
	r.rng = rand.New(rand.NewPCG(r.Seed, 0x5eed))
	r.inventory = map[string]*contracts.InventoryLevel{}
	r.credit = map[string]*creditPos{}
	// The first round is retried until it is out (registry or brokers may
	// still be coming up): traffic waits for it.
	for {
		now := time.Now()
		err := r.priceBook(ctx, now)
		if err == nil {
			err = r.initInventory(ctx, now)
		}
		if err == nil {
			err = r.Client.Flush(ctx)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		r.Log.Warn("reference data not published yet, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	r.Log.Info("price book and inventory published", "price_lists", len(traffic.PriceLists()), "skus", len(traffic.Products), "sites", len(traffic.Sites()))
	if ready != nil {
		close(ready)
	}
	events := make(chan contracts.Value, 256)
	go r.follow(ctx, events)
	pb := time.NewTicker(r.PriceBookEvery)
	inv := time.NewTicker(r.InventoryEvery)
	cr := time.NewTicker(r.CreditEvery)
	defer pb.Stop()
	defer inv.Stop()
	defer cr.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case v := <-events:
			r.learn(v)
		case t := <-pb.C:
			if err := r.priceBook(ctx, t); err != nil {
				r.Log.Warn("price book", "err", err)
			}
		case t := <-inv.C:
			if err := r.driftInventory(ctx, t); err != nil {
				r.Log.Warn("inventory", "err", err)
			}
		case t := <-cr.C:
			if err := r.evolveCredit(ctx, t); err != nil {
				r.Log.Warn("credit", "err", err)
			}
		}
	}
}

func (r *Reference) priceBook(ctx context.Context, now time.Time) error {
	r.version++
	day := now.UTC().Truncate(24 * time.Hour)
	for _, pl := range traffic.PriceLists() {
		for _, p := range traffic.Products {
			list, ok := traffic.ListPrice(p.SKU, pl.Region, pl.Currency)
			if !ok {
				continue
			}
			e := &contracts.PriceBookEntry{
				Metadata:         r.meta("price", p.SKU+pl.Region+pl.Currency, now),
				PriceBookID:      "PB-" + pl.Region + "-" + pl.Currency,
				PriceBookVersion: now.Unix()*1000 + r.version,
				SKU:              p.SKU,
				Region:           pl.Region,
				Currency:         pl.Currency,
				ListPrice:        contracts.Money{AmountMinor: list, Currency: pl.Currency},
				VolumeTiers:      []contracts.VolumeTier{},
				TaxRateBps:       traffic.TaxRateBps[pl.Region],
				ValidFrom:        &day,
				Active:           true,
			}
			if !p.Subscription {
				for _, t := range traffic.Tiers {
					e.VolumeTiers = append(e.VolumeTiers, contracts.VolumeTier{MinQuantity: t.MinQuantity,
						UnitPrice: contracts.Money{AmountMinor: traffic.DiscountedPrice(list, t.DiscountBps), Currency: pl.Currency}})
				}
			}
			if err := r.produce(ctx, contracts.TopicERPPriceBookV1, p.SKU+"|"+pl.Region+"|"+pl.Currency, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Reference) initInventory(ctx context.Context, now time.Time) error {
	for _, p := range traffic.Products {
		if p.Subscription {
			continue
		}
		for _, site := range traffic.Sites() {
			lvl := &contracts.InventoryLevel{SKU: p.SKU, Site: site, OnHand: int64(500 + r.rng.IntN(5000)), OnOrder: int64(r.rng.IntN(500))}
			r.inventory[p.SKU+"|"+site] = lvl
			if err := r.publishInventory(ctx, lvl, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Reference) publishInventory(ctx context.Context, lvl *contracts.InventoryLevel, now time.Time) error {
	lvl.Metadata = r.meta("inventory", lvl.SKU+lvl.Site, now)
	lvl.AsOf = now.UTC().Truncate(time.Millisecond)
	return r.produce(ctx, contracts.TopicERPInventoryV1, lvl.SKU+"|"+lvl.Site, lvl)
}

// driftInventory moves a few stock levels: allocations, shipments out of
// allocation, and replenishments arriving.
func (r *Reference) driftInventory(ctx context.Context, now time.Time) error {
	keys := make([]string, 0, len(r.inventory))
	for k := range r.inventory {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	for i := 0; i < 1+len(keys)/8; i++ {
		lvl := r.inventory[keys[r.rng.IntN(len(keys))]]
		switch r.rng.IntN(3) {
		case 0: // allocate
			n := int64(r.rng.IntN(40))
			if lvl.OnHand-lvl.Allocated >= n {
				lvl.Allocated += n
			}
		case 1: // ship from allocation
			n := lvl.Allocated / 2
			lvl.Allocated -= n
			lvl.OnHand -= n
		default: // receive
			n := min(lvl.OnOrder, int64(r.rng.IntN(200)))
			lvl.OnHand += n
			lvl.OnOrder = lvl.OnOrder - n + int64(r.rng.IntN(100))
		}
		if err := r.publishInventory(ctx, lvl, now); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reference) learn(v contracts.Value) {
	switch e := v.(type) {
	case *contracts.Customer:
		if !r.own(e) {
			return
		}
		c := r.credit[e.ERPCustomerID]
		if c == nil {
			c = &creditPos{}
			r.credit[e.ERPCustomerID] = c
		}
		if e.CreditLimit != nil {
			c.limit, c.currency = e.CreditLimit.AmountMinor, e.CreditLimit.Currency
		}
		c.hold = e.CreditStatus == contracts.CreditStatusHold || e.CreditStatus == contracts.CreditStatusBlocked
	case *contracts.Invoice:
		c := r.credit[e.ERPCustomerID]
		if c == nil || c.currency != e.Total.Currency {
			return
		}
		c.ar += e.Total.AmountMinor
		c.dirty = true
	}
}

// own tells the simulator's own answer to a customer command by its event
// id (Sim.meta).
func (r *Reference) own(c *contracts.Customer) bool {
	service := r.Service
	if service == "" {
		service = "erp-simulator"
	}
	return c.GoldenID != nil && c.CommandID != nil && c.Metadata.EventID == answerID(service, "customer", *c.GoldenID, *c.CommandID)
}

// evolveCredit collects part of the receivables of some customers, puts
// customers beyond their limit on hold and releases those back under 80 %.
func (r *Reference) evolveCredit(ctx context.Context, now time.Time) error {
	for id, c := range r.credit {
		if c.ar > 0 && r.rng.IntN(3) == 0 {
			c.ar -= c.ar * int64(20+r.rng.IntN(80)) / 100
			c.dirty = true
		}
		switch {
		case !c.hold && c.limit > 0 && c.ar > c.limit:
			c.hold, c.dirty = true, true
		case c.hold && c.ar*10 < c.limit*8 && r.rng.IntN(4) == 0:
			c.hold, c.dirty = false, true
		}
		if !c.dirty {
			continue
		}
		c.dirty = false
		status := contracts.CreditStatusActive
		var reason *string
		if c.hold {
			status = contracts.CreditStatusHold
			s := "receivables above credit limit"
			reason = &s
		}
		v := &contracts.CreditAccount{
			Metadata: r.meta("credit", id, now), ERPCustomerID: id,
			CreditLimit: contracts.Money{AmountMinor: c.limit, Currency: c.currency},
			ArBalance:   contracts.Money{AmountMinor: c.ar, Currency: c.currency},
			OpenOrders:  contracts.Money{Currency: c.currency},
			Hold:        c.hold, HoldReason: reason, CreditStatus: status, AsOf: now.UTC().Truncate(time.Millisecond),
		}
		if err := r.produce(ctx, contracts.TopicERPCreditV1, id, v); err != nil {
			return err
		}
	}
	return nil
}

// follow reads erp.customer.v1 and erp.invoice.v1 (read_committed, from
// the start) and hands their values to the Run loop.
func (r *Reference) follow(ctx context.Context, out chan<- contracts.Value) {
	cl, err := r.Kafka.NewClient(
		kgo.ConsumeTopics(r.Kafka.Topic(contracts.TopicERPCustomerV1), r.Kafka.Topic(contracts.TopicERPInvoiceV1)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		r.Log.Error("credit follower", "err", err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(rec *kgo.Record) {
			var v contracts.Value
			switch r.Kafka.Logical(rec.Topic) {
			case contracts.TopicERPCustomerV1:
				v = &contracts.Customer{}
			default:
				v = &contracts.Invoice{}
			}
			if err := r.Serde.Decode(ctx, rec.Value, v); err != nil {
				r.Log.Warn("credit follower: undecodable record skipped", "topic", rec.Topic, "offset", rec.Offset, "err", err)
				return
			}
			select {
			case out <- v:
			case <-ctx.Done():
			}
		})
	}
}
