package erpsimulator

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// installedBase is the simulated CRM's asset sync: it reads the installed
// base (erp.asset.v1) and the ERP customers (erp.customer.v1, for the CRM
// account of an ERP customer) from the start, read committed, without a
// group, and hands them to the generator, whose service cases name real
// assets. A record it cannot decode is skipped (readAll).
func installedBase(ctx context.Context, kcfg kafka.Config, sd *serde.Serde, gen *traffic.Generator, log *slog.Logger) error {
	assets, customers := kcfg.Topic(contracts.TopicERPAssetV1), kcfg.Topic(contracts.TopicERPCustomerV1)
	cl, err := kcfg.NewClient(
		kgo.ConsumeTopics(assets, customers),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	return readAll(ctx, cl, log, "the installed base", func(r *kgo.Record) error {
		switch r.Topic {
		case assets:
			if r.Value == nil {
				gen.LearnAsset(&contracts.Asset{Serial: string(r.Key)}) // removed
				return nil
			}
			var a contracts.Asset
			if err := sd.Decode(ctx, r.Value, &a); err != nil {
				return err
			}
			gen.LearnAsset(&a)
		case customers:
			var c contracts.Customer
			if r.Value == nil {
				return nil
			}
			if err := sd.Decode(ctx, r.Value, &c); err != nil {
				return err
			}
			gen.LearnCustomer(&c)
		}
		return nil
	})
}
